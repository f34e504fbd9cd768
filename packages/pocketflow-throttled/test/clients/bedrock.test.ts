import { BedrockRuntimeClient, ConverseCommand, ThrottlingException } from "@aws-sdk/client-bedrock-runtime";
import { afterEach, describe, expect, it } from "vitest";
import { classifyError, isRateLimitError, retryAfterOf } from "../../src/detect.js";
import { type ProviderServer, type Reply, startH2cProvider, thrownBy } from "../fixtures/provider-server.js";

// @aws-sdk/client-bedrock-runtime (its default HTTP/2 handler) against a local endpoint answering as Bedrock does.
let server: ProviderServer | undefined;
let client: BedrockRuntimeClient | undefined;

afterEach(async () => {
  client?.destroy();
  client = undefined;
  await server?.close();
  server = undefined;
});

async function bedrockError(reply: Reply): Promise<unknown> {
  server = await startH2cProvider(reply);
  client = new BedrockRuntimeClient({
    region: "us-east-1",
    endpoint: server.url,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
    maxAttempts: 1,
  });
  const command = new ConverseCommand({ modelId: "anthropic.claude-3-haiku", messages: [{ role: "user", content: [{ text: "hi" }] }] });
  return thrownBy(() => (client as BedrockRuntimeClient).send(command));
}

function awsError(status: number, type: string, message: string, headers: Record<string, string> = {}): Reply {
  return { status, headers: { "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`, ...headers }, body: { message } };
}

describe("@aws-sdk/client-bedrock-runtime errors", () => {
  it("a ThrottlingException 'Too many tokens' is a rate limit", async () => {
    const err = await bedrockError(awsError(429, "ThrottlingException", "Too many tokens, please wait before trying again."));

    expect(err).toBeInstanceOf(ThrottlingException);
    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBeUndefined();
  });

  it("a ThrottlingException 'Rate exceeded' takes its hint from $response.headers", async () => {
    const err = await bedrockError(awsError(429, "ThrottlingException", "Rate exceeded", { "retry-after": "2" }));

    expect(classifyError(err)).toBe("rate-limit");
    expect(isRateLimitError(err)).toBe(true);
    expect(retryAfterOf(err)).toBe(2);
  });

  it("a ThrottlingException 'Too many tokens per day' is a quota refusal", async () => {
    const err = await bedrockError(awsError(429, "ThrottlingException", "Too many tokens per day, please wait before trying again."));

    expect(classifyError(err)).toBe("quota");
    expect(isRateLimitError(err)).toBe(true);
  });

  it("a ServiceUnavailableException is overloaded", async () => {
    const err = await bedrockError(awsError(503, "ServiceUnavailableException", "Service is temporarily unavailable."));

    expect(classifyError(err)).toBe("overloaded");
    expect(isRateLimitError(err)).toBe(false);
  });

  it("an InternalServerException is transient", async () => {
    const err = await bedrockError(awsError(500, "InternalServerException", "Internal server error"));

    expect(classifyError(err)).toBe("transient");
    expect(isRateLimitError(err)).toBe(false);
  });
});
