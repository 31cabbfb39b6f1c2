// The client-side limiter on outbound Stripe calls (one budget for every payments replica, through Redis): a burst up
// to the limit, then the rest wait their turn
// (measured on a TestClock, so the test asserts order of events, not timings).
import { assert, layer } from "@effect/vitest"
import { Provider } from "@kassa/payments/payments/provider"
import { Context, Effect, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"
import { eventually, PaymentsHarness, testConfig } from "./harness.ts"

layer(PaymentsHarness(), { excludeTestServices: true, timeout: 60_000 })("provider rate limit", (it) => {
  it.effect("PAYMENTS_PROVIDER_RATE_LIMIT=2: two calls at once, the others spread over the next second", () =>
    Effect.gen(function*() {
      yield* Effect.gen(function*() {
        // a second of its own: the budget is shared through Redis with the harness's own payments app
        yield* TestClock.setTime(Date.UTC(2031, 0, 1, 0, 0, Math.floor(Math.random() * 60), 500))
        const context = yield* Layer.build(
          Layer.fresh(Provider.layer).pipe(Layer.provide(testConfig({ PAYMENTS_PROVIDER_RATE_LIMIT: "2" })))
        )
        const provider = Context.get(context, Provider)
        const done = yield* Ref.make(0)
        yield* Effect.forkScoped(Effect.forEach(
          Array.from({ length: 5 }, (_, i) => i),
          (i) => Effect.andThen(provider.retrieve(`pi_missing_${i}`), Ref.update(done, (n) => n + 1)),
          { concurrency: "unbounded", discard: true }
        ))
        yield* TestClock.withLive(eventually(Ref.get(done), (n) => n === 2))
        yield* TestClock.withLive(Effect.sleep("200 millis"))
        assert.strictEqual(yield* Ref.get(done), 2, "the rest wait for tokens")
        // the waiting three: two in the next second, the last in the one after
        yield* TestClock.adjust("3 seconds")
        yield* TestClock.withLive(eventually(Ref.get(done), (n) => n === 5))
      }).pipe(Effect.provide(TestClock.layer()))
    }))
})
