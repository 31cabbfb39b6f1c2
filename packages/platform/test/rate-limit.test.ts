// A rate limit's per-second budget is one budget for every process on the same cache: two instances (two payments replicas) on the
// real Redis share `perSecond` between them. Time is a TestClock, so the test looks at order, not at timings.
import { assert, layer } from "@effect/vitest"
import { RateLimit } from "@kassa/platform/rate-limit"
import { testRedis } from "@kassa/platform/testing"
import { Clock, Context, Effect, Layer, Ref } from "effect"
import { TestClock } from "effect/testing"

layer(testRedis(), { excludeTestServices: true, timeout: 30_000 })("rate limit", (it) => {
  it.effect("two replicas at 3 a second: three calls pass at once between them, the others the next second", () =>
    Effect.gen(function*() {
      const replicas = yield* Effect.forEach(
        [1, 2],
        () => Effect.map(Layer.build(Layer.fresh(RateLimit.layer)), (context) => Context.get(context, RateLimit))
      )
      const key = `test-${Math.random().toString(36).slice(2)}`
      const now = yield* Clock.currentTimeMillis
      yield* Effect.gen(function*() {
        // the start of a second, so all six land in the same one
        yield* TestClock.setTime(Math.ceil(now / 1000) * 1000)
        const passed = yield* Ref.make(0)
        yield* Effect.forkScoped(Effect.forEach(
          [0, 1, 2, 3, 4, 5],
          (i) => Effect.andThen(replicas[i % 2]!.take(key, 3), Ref.update(passed, (n) => n + 1)),
          { concurrency: "unbounded", discard: true }
        ))
        const settle = TestClock.withLive(Effect.sleep("300 millis"))
        yield* settle
        assert.strictEqual(yield* Ref.get(passed), 3, "one budget between both replicas")
        yield* TestClock.adjust("1100 millis")
        yield* settle
        assert.strictEqual(yield* Ref.get(passed), 6)
      }).pipe(Effect.provide(TestClock.layer()))
    }))
})
