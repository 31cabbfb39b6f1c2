// Billing's scheduler settings: defaults, parsing, the values refused at start.
import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Duration, Effect } from "effect"
import { BillingConfig } from "../src/config.ts"

const billingConfig = (env: Record<string, string>) =>
  Effect.provide(
    Effect.gen(function*() {
      return yield* BillingConfig
    }),
    ConfigProvider.layer(ConfigProvider.fromUnknown(env))
  )

describe("BillingConfig", () => {
  it.effect("defaults: a cycle a minute, dunning at +1, +3, +5 days", () =>
    Effect.gen(function*() {
      const config = yield* billingConfig({})
      assert.strictEqual(Duration.toMillis(config.schedulerInterval), 60_000)
      assert.deepStrictEqual(config.dunningRetries.map(Duration.toHours), [24, 72, 120])
    }))

  it.effect("dunning delays are read from a list", () =>
    Effect.gen(function*() {
      const config = yield* billingConfig({ BILLING_DUNNING_RETRIES: "2 hours,1 day" })
      assert.deepStrictEqual(config.dunningRetries.map(Duration.toHours), [2, 24])
    }))

  it.effect("a zero interval and delays that do not increase are refused, naming the variable", () =>
    Effect.gen(function*() {
      for (
        const [name, value] of [
          ["BILLING_SCHEDULER_INTERVAL", "0 millis"],
          ["BILLING_DUNNING_RETRIES", "3 days,1 day"]
        ] as const
      ) {
        const error = yield* Effect.flip(billingConfig({ [name]: value }))
        assert.include(String(error), name)
      }
    }))
})
