// Where the sandbox keeps its account.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect } from "effect"
import { StripeSandboxConfig } from "../src/config.ts"

describe("StripeSandboxConfig", () => {
  const dataDir = (env: Record<string, string>) =>
    Effect.gen(function*() {
      return (yield* StripeSandboxConfig).dataDir
    }).pipe(
      Effect.provide(ConfigProvider.layer(ConfigProvider.fromUnknown(env)))
    )

  it.effect("the sandbox keeps its account beside PGlite's data unless told where, and nowhere when PGlite does not", () =>
    Effect.gen(function*() {
      assert.strictEqual(yield* dataDir({}), ".kassa/stripe-sandbox")
      assert.strictEqual(yield* dataDir({ PGLITE_DATA_DIR: "/var/lib/kassa/pglite" }), "/var/lib/kassa/stripe-sandbox")
      assert.strictEqual(yield* dataDir({ PGLITE_DATA_DIR: "memory" }), "memory")
      assert.strictEqual(yield* dataDir({ PGLITE_DATA_DIR: "memory", STRIPE_SANDBOX_DATA_DIR: "/tmp/s" }), "/tmp/s")
      assert.strictEqual(yield* dataDir({ STRIPE_SANDBOX_DATA_DIR: "memory" }), "memory")
    }))
})
