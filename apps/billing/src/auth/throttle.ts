// Login and registration limits: fixed windows counted in the Cache (Redis, or the in-process store when embedded).
// While the Cache is unreachable nothing is limited (fail open, logged): the limits protect passwords and CPU, and
// refusing every login during a cache outage would lock everyone out. The password hasher still bounds the work.
//
// Logins (OWASP's guidance against guessing without handing attackers a lockout):
// - per (email, address) pair: LOGIN_MAX_FAILURES failures in the window, then 429 for that pair only;
// - per address: LOGIN_MAX_PER_ADDRESS attempts, successes included, then 429 (generous: a NAT is many people);
// - per email alone: past LOGIN_MAX_FAILURES_PER_EMAIL failures from any addresses a wrong password answers 429
//   instead of 401, but the password is still checked and a correct one logs in: the owner is never locked out.
import { RateLimited } from "@kassa/domain/errors"
import { AccountsConfig } from "../config.ts"
import { Cache, type CacheError } from "@kassa/platform/kv"
import { Context, Duration, Effect, Layer, Metric, Option } from "effect"
import { loginLockouts } from "../metrics.ts"

const prefix = "kassa:auth:"
const pairKey = (email: string, address: string) => `${prefix}login-failures:pair:${JSON.stringify([email, address])}`
const emailKey = (email: string) => `${prefix}login-failures:email:${email}`
const addressKey = (address: string) => `${prefix}login-attempts:addr:${address}`
const registerAddressKey = (address: string) => `${prefix}registrations:addr:${address}`
const registerGlobalKey = `${prefix}registrations:all`

const registrationWindow = Duration.hours(1)
const globalRegistrationWindow = Duration.minutes(1)

const limited = (what: string, seconds: number) =>
  new RateLimited({ message: `${what}; try again in ${seconds} seconds`, retryAfterSeconds: seconds })

export class LoginThrottle extends Context.Service<LoginThrottle, {
  /** Before the password is checked: 429 while the pair is over its failures or the address over its attempts. */
  admit(email: string, address: string): Effect.Effect<void, RateLimited>
  /** After a wrong password: counts it; 429 when the email is now past its own limit (else the caller says 401). */
  failed(email: string, address: string): Effect.Effect<void, RateLimited>
  /** After a correct password: the pair starts over (the address's attempts do not). */
  succeeded(email: string, address: string): Effect.Effect<void>
}>()("billing/LoginThrottle") {
  static readonly layer = Layer.effect(
    LoginThrottle,
    Effect.gen(function*() {
      const cache = yield* Cache
      const config = yield* AccountsConfig
      const window = config.loginFailureWindow
      const windowSeconds = Math.ceil(Duration.toSeconds(window))

      const failOpen = <A>(what: string, fallback: A) => (effect: Effect.Effect<A, CacheError>) =>
        effect.pipe(Effect.catch((error) =>
          Effect.as(Effect.logWarning(`login throttle ${what} skipped: cache unavailable`, error.message), fallback)
        ))

      const secondsLeft = (key: string) =>
        Effect.map(cache.ttl(key), Option.match({ onNone: () => windowSeconds, onSome: (ms) => Math.max(1, Math.ceil(ms / 1000)) }))

      const count = (key: string) => Effect.map(cache.get(key), Option.match({ onNone: () => 0, onSome: Number }))

      const admit = (email: string, address: string) =>
        Effect.gen(function*() {
          const pair = pairKey(email, address)
          if ((yield* count(pair)) >= config.loginMaxFailures) return Option.some(["too many failed logins", yield* secondsLeft(pair)] as const)
          const attempts = yield* cache.incrWithTtl(addressKey(address), window)
          if (attempts === config.loginMaxPerAddress + 1) yield* Metric.update(loginLockouts("address"), 1)
          if (attempts > config.loginMaxPerAddress) {
            return Option.some(["too many logins from this address", yield* secondsLeft(addressKey(address))] as const)
          }
          return Option.none()
        }).pipe(
          failOpen("check", Option.none()),
          Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: ([what, seconds]) => Effect.fail(limited(what, seconds)) }))
        )

      const failed = (email: string, address: string) =>
        Effect.gen(function*() {
          const [byEmail, byPair] = yield* Effect.all([
            cache.incrWithTtl(emailKey(email), window),
            cache.incrWithTtl(pairKey(email, address), window)
          ], { concurrency: "unbounded" })
          if (byPair === config.loginMaxFailures) yield* Metric.update(loginLockouts("pair"), 1)
          if (byEmail <= config.loginMaxFailuresPerEmail) return Option.none<number>()
          if (byEmail === config.loginMaxFailuresPerEmail + 1) {
            yield* Metric.update(loginLockouts("email"), 1)
            yield* Effect.logWarning("many failed logins for one email from several addresses: in back-off").pipe(
              Effect.annotateLogs({ email })
            )
          }
          return Option.some(yield* secondsLeft(emailKey(email)))
        }).pipe(
          failOpen("count", Option.none()),
          Effect.flatMap(Option.match({
            onNone: () => Effect.void,
            onSome: (seconds) => Effect.fail(limited("too many failed logins for this account", seconds))
          }))
        )

      const succeeded = (email: string, address: string) =>
        cache.del(pairKey(email, address)).pipe(Effect.asVoid, failOpen<void>("reset", undefined))

      return LoginThrottle.of({ admit, failed, succeeded })
    })
  )
}

/** Registrations per address (REGISTER_MAX_PER_ADDRESS an hour) and in all (REGISTER_MAX_PER_MINUTE). */
export class RegistrationThrottle extends Context.Service<RegistrationThrottle, {
  /** Counts the attempt; 429 while the address or everyone together is over the limit. */
  admit(address: string): Effect.Effect<void, RateLimited>
}>()("billing/RegistrationThrottle") {
  static readonly layer = Layer.effect(
    RegistrationThrottle,
    Effect.gen(function*() {
      const cache = yield* Cache
      const config = yield* AccountsConfig

      const over = (key: string, window: Duration.Duration, max: number) =>
        Effect.flatMap(cache.incrWithTtl(key, window), (n) =>
          n <= max
            ? Effect.succeed(Option.none<number>())
            : Effect.map(cache.ttl(key), (ttl) =>
              Option.some(Option.match(ttl, {
                onNone: () => Math.ceil(Duration.toSeconds(window)),
                onSome: (ms) => Math.max(1, Math.ceil(ms / 1000))
              }))))

      const admit = (address: string) =>
        Effect.all([
          over(registerAddressKey(address), registrationWindow, config.registerMaxPerAddress),
          over(registerGlobalKey, globalRegistrationWindow, config.registerMaxPerMinute)
        ], { concurrency: "unbounded" }).pipe(
          Effect.catch((error) =>
            Effect.as(
              Effect.logWarning("registration throttle skipped: cache unavailable", error.message),
              [Option.none<number>(), Option.none<number>()] as const
            )
          ),
          Effect.flatMap(([byAddress, overall]) =>
            Option.isSome(byAddress)
              ? Effect.fail(limited("too many registrations from this address", byAddress.value))
              : Option.isSome(overall)
              ? Effect.fail(limited("too many registrations right now", overall.value))
              : Effect.void
          )
        )

      return RegistrationThrottle.of({ admit })
    })
  )
}
