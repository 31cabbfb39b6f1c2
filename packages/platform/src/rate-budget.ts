// A rate budget shared by every process that uses the same cache (Redis, or the in-process cache under npm start):
// at most `perSecond` operations in any one clock second under one key, whatever the number of replicas (one INCR
// per operation). Past the second's budget a caller waits for the next second. The cache unreachable, the budget
// is not enforced (logged once a minute at most): the provider's own 429s, retried with backoff, are the backstop.
import { Clock, Context, Duration, Effect, Layer, Random } from "effect"
import { Cache } from "./kv.ts"

export class RateBudget extends Context.Service<RateBudget, {
  /** Waits until one operation under `key` fits in `perSecond` (0 or less: no limit). */
  take(key: string, perSecond: number): Effect.Effect<void>
}>()("kassa/RateBudget") {
  static readonly layer = Layer.effect(RateBudget, Effect.gen(function*() {
    const cache = yield* Cache
    let lastWarning = 0
    const warn = (message: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        if (now - lastWarning < 60_000) return Effect.void
        lastWarning = now
        return Effect.logWarning("rate budget not enforced: cache unavailable").pipe(Effect.annotateLogs({ error: message }))
      })

    const take = (key: string, perSecond: number): Effect.Effect<void> =>
      perSecond <= 0 ? Effect.void : Effect.gen(function*() {
        for (let tries = 0; tries < 600; tries++) {
          const now = yield* Clock.currentTimeMillis
          const second = Math.floor(now / 1000)
          const taken = yield* cache.incrWithTtl(`kassa:rate:${key}:${second}`, Duration.seconds(3)).pipe(
            Effect.catch((error) => Effect.as(warn(error.message), 0))
          )
          if (taken <= perSecond) return
          // the next second, with a little jitter so that waiters do not all come back at its first instant
          yield* Effect.sleep((second + 1) * 1000 - now + (yield* Random.nextIntBetween(0, 20)))
        }
      })

    return RateBudget.of({ take })
  }))
}
