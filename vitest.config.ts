import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["packages/*/test/**/*.test.ts", "cookbook/*/test/**/*.test.ts", "bench/test/**/*.test.ts"],
    // The JSON report lets .ci/run print one "N passed, N failed" line over every package.
    reporters: ["default", ["json", { outputFile: ".vitest-results.json" }]],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    coverage: {
      provider: "v8",
      include: ["packages/*/src/**/*.ts"],
      reporter: ["text-summary", "text"],
    },
  },
});
