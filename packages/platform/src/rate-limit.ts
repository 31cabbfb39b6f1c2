// The one rate-limit mechanism: fixed windows counted in the shared Cache (Redis, or the in-process cache under npm
// start), so every replica on that cache shares one count per key. Two ways to use it: `hit` counts and says whether
// the key is over its limit (the caller refuses, e.g. with a 429 and Retry-After), `take` waits for room in a
// per-second budget (for calls we make, e.g. to a provider with its own rate limit).
// While the cache is unreachable nothing is limited (fail open; warned at most once a minute): a limit protects
// capacity, and refusing every call during a cache outage would be the bigger harm.
import { Clock, Context, Duration, Effect, Layer, Option, Random } from "effect"
import { Cache, type CacheError } from "./kv.ts"

export interface Count {
  /** Hits in the key's current window (0 while the cache is unreachable). */
  readonly count: number
  /** Past the limit: `count > limit` for `hit`, `count >= limit` for `check`. */
  readonly over: boolean
  /** Whole seconds until the window ends (at least 1): the Retry-After of a refusal. */
  readonly retryAfterSeconds: number
}

const open = (window: Duration.Duration): Count => ({ count: 0, over: false, retryAfterSeconds: seconds(window) })
const seconds = (window: Duration.Duration) => Math.max(1, Math.ceil(Duration.toSeconds(window)))

export class RateLimit extends Context.Service<RateLimit, {
  /** Counts one hit under `key`; its window starts with its first hit and lasts `window`. */
  hit(key: string, window: Duration.Input, limit: number): Effect.Effect<Count>
  /** The key's count without adding to it. */
  check(key: string, window: Duration.Input, limit: number): Effect.Effect<Count>
  /** Starts the key's count over. */
  reset(key: string): Effect.Effect<void>
  /**
   * Waits until one operation under `key` fits in `perSecond` (0 or less: no limit): at most that many in any one
   * clock second, whatever the number of replicas; past it a caller waits for the next second.
   */
  take(key: string, perSecond: number): Effect.Effect<void>
}>()("kassa/RateLimit") {
  static readonly layer = Layer.effect(
    RateLimit,
    Effect.gen(function*() {
      const cache = yield* Cache
      let lastWarning = Number.NEGATIVE_INFINITY
      const failOpen = <A>(fallback: A) => (effect: Effect.Effect<A, CacheError>): Effect.Effect<A> =>
        Effect.catch(effect, (error) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => {
            if (now - lastWarning < 60_000) return Effect.succeed(fallback)
            lastWarning = now
            return Effect.as(
              Effect.logWarning("rate limit not enforced: cache unavailable").pipe(
                Effect.annotateLogs({ error: error.message })
              ),
              fallback
            )
          }))

      const counted = (
        key: string,
        window: Duration.Duration,
        count: number,
        over: boolean
      ): Effect.Effect<Count, CacheError> =>
        over
          ? Effect.map(cache.ttl(key), (ttl) => ({
            count,
            over,
            retryAfterSeconds: Option.match(ttl, {
              onNone: () => seconds(window),
              onSome: (ms) => Math.max(1, Math.ceil(ms / 1000))
            })
          }))
          : Effect.succeed({ count, over, retryAfterSeconds: seconds(window) })

      const hit = (key: string, window: Duration.Input, limit: number) => {
        const duration = Duration.fromInputUnsafe(window)
        return Effect.flatMap(cache.incrWithTtl(key, duration), (n) => counted(key, duration, n, n > limit)).pipe(
          failOpen(open(duration))
        )
      }

      const check = (key: string, window: Duration.Input, limit: number) => {
        const duration = Duration.fromInputUnsafe(window)
        return Effect.flatMap(cache.get(key), (value) => {
          const n = Option.match(value, { onNone: () => 0, onSome: Number })
          return counted(key, duration, n, n >= limit)
        }).pipe(failOpen(open(duration)))
      }

      const take = (key: string, perSecond: number): Effect.Effect<void> =>
        perSecond <= 0 ? Effect.void : Effect.gen(function*() {
          for (let tries = 0; tries < 600; tries++) {
            const now = yield* Clock.currentTimeMillis
            const second = Math.floor(now / 1000)
            // a key per clock second (kept a little longer than the second, for clocks a little apart)
            const taken = yield* failOpen(0)(cache.incrWithTtl(`kassa:rate:${key}:${second}`, Duration.seconds(3)))
            if (taken <= perSecond) return
            // the next second, with a little jitter so that waiters do not all come back at its first instant
            yield* Effect.sleep((second + 1) * 1000 - now + (yield* Random.nextIntBetween(0, 20)))
          }
        })

      return RateLimit.of({
        hit,
        check,
        reset: (key) => failOpen<void>(undefined)(Effect.asVoid(cache.del(key))),
        take
      })
    })
  )
}
