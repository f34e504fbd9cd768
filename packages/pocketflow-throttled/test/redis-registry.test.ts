/** LimiterRegistry with Redis limiters: built directly, options checked, and closed when the registry drops them. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Redis } from "ioredis";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { RedisLimiter } from "../src/limiters/redis/index.js";
import { LimiterRegistry } from "../src/registry.js";
import { connectOrFail, deleteKeys, REDIS_URL, uniqueKey } from "./fixtures/redis-helpers.js";

const CHILD = fileURLToPath(new URL("./fixtures/redis-registry-child.ts", import.meta.url));
const PACKAGE = fileURLToPath(new URL("..", import.meta.url));

let admin: Redis;
let prefix = "";

beforeAll(async () => {
  admin = await connectOrFail();
});

afterEach(async () => {
  LimiterRegistry.reset();
  if (prefix) await deleteKeys(admin, prefix);
});

afterAll(async () => {
  await admin?.quit();
});

/** Runs the child; resolves with its exit code and output, or "still running" if it has not exited after `ms`. */
function runChild(how: string, ms: number): Promise<{ exited: boolean; code: number | null; out: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, REDIS_URL, prefix, how], {
    cwd: PACKAGE,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (out += chunk.toString()));
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      resolve({ exited: false, code: null, out });
    }, ms);
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ exited: true, code, out });
    });
  });
}

describe("LimiterRegistry: Redis limiters it drops are closed", () => {
  it.each(["remove", "replace", "reset"])("lets the process exit by itself after %s drops its RedisLimiters", async (how) => {
    prefix = uniqueKey(`registry-exit-${how}`);

    const result = await runChild(how, 15_000);

    expect(result.out).toContain("dropped");
    expect(result.exited).toBe(true);
    expect(result.code).toBe(0);
  }, 20_000);

  it("closes a RedisLimiter it built once when remove drops it", async () => {
    prefix = uniqueKey("registry-close");
    const built = LimiterRegistry.register("built", { redis: REDIS_URL, key: prefix });
    const close = vi.spyOn(built as RedisLimiter, "close");

    LimiterRegistry.remove("built");
    LimiterRegistry.remove("built");

    expect(close).toHaveBeenCalledTimes(1);
  });

  it("leaves a ready-made limiter passed to register open: its owner closes it", async () => {
    prefix = uniqueKey("registry-owned");
    const mine = new RedisLimiter({ redis: REDIS_URL, key: prefix });
    const close = vi.spyOn(mine, "close");
    LimiterRegistry.register("mine", mine);

    LimiterRegistry.remove("mine");
    LimiterRegistry.register("mine", mine);
    LimiterRegistry.reset();
    const stillUsable = await mine.run(() => "ran");
    await mine.close();

    expect(close).toHaveBeenCalledTimes(1); // only the owner's call
    expect(stillUsable).toBe("ran");
  });

  it("does not close a built limiter still registered under another name", async () => {
    prefix = uniqueKey("registry-alias");
    const built = LimiterRegistry.register("one", { redis: REDIS_URL, key: prefix });
    LimiterRegistry.register("two", built);
    const close = vi.spyOn(built as RedisLimiter, "close");

    LimiterRegistry.remove("one");
    const whileAliased = close.mock.calls.length;
    LimiterRegistry.remove("two");

    expect(whileAliased).toBe(0);
    expect(close).toHaveBeenCalledTimes(1);
  });
});

describe("LimiterRegistry: Redis options", () => {
  it("builds a RedisLimiter from { redis } options", () => {
    prefix = uniqueKey("registry-build");

    const limiter = LimiterRegistry.register("direct", { redis: REDIS_URL, key: prefix });

    expect(limiter).toBeInstanceOf(RedisLimiter);
  });

  it("throws a TypeError naming an unknown option given with redis, with a hint for maxPerMinute", () => {
    const register = () => LimiterRegistry.register("typo", { redis: REDIS_URL, maxPerMinute: 60 } as never);

    expect(register).toThrow(TypeError);
    expect(register).toThrow(/RedisLimiter "pocketflow:limiter:typo" has no option "maxPerMinute" \(use maxPerWindow with windowSeconds: 60\)/);
    expect(LimiterRegistry.exists("typo")).toBe(false);
  });
});
