// The deployment's test clock, like Stripe's test clocks: with KASSA_TEST_CLOCK=on, time can be moved forward for the
// whole deployment (every app, also as separate processes), so a black-box test can subscribe, move a month, run a
// scheduler cycle and see the renewal. The offset lives in the shared cache (Redis, or the in-process cache under
// npm start) and every app reads it: every `Clock` read is the real time plus the offset (sleeps stay real). Never
// on in production: it is off unless asked for, and loud when on.
import { Clock, Context, Duration, Effect, Layer, Option, Stream } from "effect"
import { TestClockConfig } from "./config.ts"
import { Cache, type CacheError } from "./kv.ts"

const offsetKey = "kassa:test-clock:offset"
const changedChannel = "kassa:test-clock:changed"
// the cache keeps nothing forever: a test deployment's clock lasts a year unless moved again
const offsetTtl = Duration.days(365)

/** A clock that reads `base` plus an offset the deployment shares; sleeps are `base`'s. */
class OffsetClock implements Clock.Clock {
  offsetMillis = 0
  private readonly base: Clock.Clock
  constructor(base: Clock.Clock) {
    this.base = base
  }
  currentTimeMillisUnsafe(): number {
    return this.base.currentTimeMillisUnsafe() + this.offsetMillis
  }
  readonly currentTimeMillis: Effect.Effect<number> = Effect.sync(() => this.currentTimeMillisUnsafe())
  currentTimeNanosUnsafe(): bigint {
    return this.base.currentTimeNanosUnsafe() + BigInt(this.offsetMillis) * 1_000_000n
  }
  readonly currentTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.currentTimeNanosUnsafe())
  monotonicTimeNanosUnsafe(): bigint {
    return this.base.monotonicTimeNanosUnsafe()
  }
  readonly monotonicTimeNanos: Effect.Effect<bigint> = Effect.sync(() => this.monotonicTimeNanosUnsafe())
  sleep(duration: Duration.Duration): Effect.Effect<void> {
    return this.base.sleep(duration)
  }
}

/** Reads and moves the deployment's test clock. */
export class DeploymentClock extends Context.Service<DeploymentClock, {
  readonly enabled: boolean
  /** How far ahead of the real time the deployment's clock is. */
  readonly offset: Effect.Effect<Duration.Duration>
  /** Moves the clock forward by `by` (never back: leases, windows and periods assume time only moves on). */
  advance(by: Duration.Duration): Effect.Effect<Duration.Duration, CacheError>
}>()("kassa/DeploymentClock") {
  /**
   * With KASSA_TEST_CLOCK=on: the offset clock as every fiber's `Clock`, kept in step with the shared offset (a
   * message on each move, and a read every second as a backstop); off: the real clock, and `advance` refused.
   */
  static readonly layer = Layer.unwrap(Effect.gen(function*() {
    const enabled = yield* TestClockConfig
    if (!enabled) {
      return Layer.succeed(
        DeploymentClock,
        DeploymentClock.of({
          enabled: false,
          offset: Effect.succeed(Duration.zero),
          advance: () => Effect.succeed(Duration.zero)
        })
      )
    }
    return Layer.effectContext(Effect.gen(function*() {
      const cache = yield* Cache
      const clock = new OffsetClock(yield* Clock.Clock)
      yield* Effect.logWarning(
        "KASSA_TEST_CLOCK=on: this deployment's time can be moved forward through /admin/v1/test-clock. Never in production."
      )
      const read = cache.get(offsetKey).pipe(
        Effect.map(Option.match({ onNone: () => 0, onSome: Number })),
        Effect.tap((offset) => Effect.sync(() => void (clock.offsetMillis = Math.max(clock.offsetMillis, offset)))),
        Effect.ignore
      )
      yield* read
      yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep("1 second"), read)))
      yield* Effect.forkScoped(
        cache.subscribe(changedChannel).pipe(Stream.runForEach(() => read), Effect.ignore, Effect.forever)
      )
      const service = DeploymentClock.of({
        enabled: true,
        offset: Effect.sync(() => Duration.millis(clock.offsetMillis)),
        advance: (by) =>
          Effect.gen(function*() {
            yield* read
            const offset = clock.offsetMillis + Math.max(0, Duration.toMillis(by))
            yield* cache.set(offsetKey, String(offset), offsetTtl)
            clock.offsetMillis = offset
            yield* cache.publish(changedChannel, String(offset)).pipe(Effect.ignore)
            return Duration.millis(offset)
          })
      })
      return Context.make(DeploymentClock, service).pipe(Context.add(Clock.Clock, clock))
    }))
  }))
}
