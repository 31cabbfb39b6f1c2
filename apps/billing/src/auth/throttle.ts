// Failed-login limits per email and per client address: fixed windows counted in the Cache (Redis, or the
// in-process store when embedded). While the Cache is unreachable logins are not limited (fail open, logged):
// the limit protects passwords, and refusing every login during a cache outage would lock everyone out.
import { RateLimited } from "@kassa/domain/errors"
import { AuthConfig } from "@kassa/platform/config"
import { Cache } from "@kassa/platform/kv"
import { Context, Duration, Effect, Layer, Metric, Option } from "effect"
import { loginLockouts } from "../metrics.ts"

const prefix = "kassa:auth:login-failures:"
const emailKey = (email: string) => `${prefix}email:${email}`
const addressKey = (address: string) => `${prefix}addr:${address}`

export class LoginThrottle extends Context.Service<LoginThrottle, {
  /** Fails with RateLimited while the email or the address is over its limit. */
  check(email: string, address: string): Effect.Effect<void, RateLimited>
  recordFailure(email: string, address: string): Effect.Effect<void>
  /** A successful login clears the email's count (not the address's: it may be guessing many emails). */
  reset(email: string): Effect.Effect<void>
}>()("billing/LoginThrottle") {
  static readonly layer = Layer.effect(
    LoginThrottle,
    Effect.gen(function*() {
      const cache = yield* Cache
      const { loginMaxFailures, loginFailureWindow } = yield* AuthConfig
      const windowSeconds = Math.ceil(Duration.toSeconds(loginFailureWindow))

      const failOpen = <A>(what: string, fallback: A) => (effect: Effect.Effect<A, { readonly message: string }>) =>
        effect.pipe(Effect.catch((error) =>
          Effect.as(Effect.logWarning(`login throttle ${what} skipped: cache unavailable`, error.message), fallback)
        ))

      const overLimit = (key: string) =>
        cache.get(key).pipe(
          Effect.flatMap((count) =>
            Option.isSome(count) && Number(count.value) >= loginMaxFailures
              ? Effect.map(cache.ttl(key), (ttl) =>
                Option.some(Option.match(ttl, { onNone: () => windowSeconds, onSome: (ms) => Math.max(1, Math.ceil(ms / 1000)) })))
              : Effect.succeed(Option.none<number>())
          )
        )

      const check = (email: string, address: string) =>
        Effect.all([overLimit(emailKey(email)), overLimit(addressKey(address))], { concurrency: "unbounded" }).pipe(
          failOpen("check", [Option.none<number>(), Option.none<number>()] as const),
          Effect.flatMap(([byEmail, byAddress]) => {
            const waits = [...Option.toArray(byEmail), ...Option.toArray(byAddress)]
            return waits.length === 0 ? Effect.void : Effect.fail(
              new RateLimited({
                message: `too many failed logins; try again in ${Math.max(...waits)} seconds`,
                retryAfterSeconds: Math.max(...waits)
              })
            )
          })
        )

      // the failure that reaches the limit starts a lockout (counted once per window)
      const count = (key: string, scope: "email" | "address") =>
        Effect.tap(cache.incrWithTtl(key, loginFailureWindow), (n) =>
          n === loginMaxFailures ? Metric.update(loginLockouts(scope), 1) : Effect.void)

      const recordFailure = (email: string, address: string) =>
        Effect.all([count(emailKey(email), "email"), count(addressKey(address), "address")], {
          concurrency: "unbounded",
          discard: true
        }).pipe(failOpen<void>("count", undefined))

      const reset = (email: string) => cache.del(emailKey(email)).pipe(Effect.asVoid, failOpen<void>("reset", undefined))

      return LoginThrottle.of({ check, recordFailure, reset })
    })
  )
}
