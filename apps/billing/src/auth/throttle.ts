// Login and registration limits, on the platform's RateLimit (fixed windows in the shared cache). While the cache is
// unreachable nothing is limited (fail open, logged): the limits protect passwords and CPU, and refusing every login
// during a cache outage would lock everyone out. The password hasher still bounds the work.
//
// Logins (OWASP's guidance against guessing without handing attackers a lockout):
// - per (email, address) pair: LOGIN_MAX_FAILURES failures in the window, then 429 for that pair only;
// - per address: LOGIN_MAX_PER_ADDRESS attempts, successes included, then 429 (generous: a NAT is many people);
// - per email alone: past LOGIN_MAX_FAILURES_PER_EMAIL failures from any addresses a wrong password answers 429
//   instead of 401, but the password is still checked and a correct one logs in: the owner is never locked out.
import { RateLimited } from "@kassa/domain/errors"
import { AccountsConfig } from "../config.ts"
import { RateLimit } from "@kassa/platform/rate-limit"
import { Context, Duration, Effect, Layer, Metric } from "effect"
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
      const limits = yield* RateLimit
      const config = yield* AccountsConfig
      const window = config.loginFailureWindow

      const admit = (email: string, address: string) =>
        Effect.gen(function*() {
          const pair = yield* limits.check(pairKey(email, address), window, config.loginMaxFailures)
          if (pair.over) return yield* limited("too many failed logins", pair.retryAfterSeconds)
          const attempts = yield* limits.hit(addressKey(address), window, config.loginMaxPerAddress)
          if (attempts.count === config.loginMaxPerAddress + 1) yield* Metric.update(loginLockouts("address"), 1)
          if (attempts.over) return yield* limited("too many logins from this address", attempts.retryAfterSeconds)
        })

      const failed = (email: string, address: string) =>
        Effect.gen(function*() {
          const [byEmail, byPair] = yield* Effect.all([
            limits.hit(emailKey(email), window, config.loginMaxFailuresPerEmail),
            limits.hit(pairKey(email, address), window, config.loginMaxFailures)
          ], { concurrency: "unbounded" })
          if (byPair.count === config.loginMaxFailures) yield* Metric.update(loginLockouts("pair"), 1)
          if (!byEmail.over) return
          if (byEmail.count === config.loginMaxFailuresPerEmail + 1) {
            yield* Metric.update(loginLockouts("email"), 1)
            yield* Effect.logWarning("many failed logins for one email from several addresses: in back-off").pipe(
              Effect.annotateLogs({ email })
            )
          }
          return yield* limited("too many failed logins for this account", byEmail.retryAfterSeconds)
        })

      return LoginThrottle.of({ admit, failed, succeeded: (email, address) => limits.reset(pairKey(email, address)) })
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
      const limits = yield* RateLimit
      const config = yield* AccountsConfig

      const admit = (address: string) =>
        Effect.gen(function*() {
          const [byAddress, overall] = yield* Effect.all([
            limits.hit(registerAddressKey(address), registrationWindow, config.registerMaxPerAddress),
            limits.hit(registerGlobalKey, globalRegistrationWindow, config.registerMaxPerMinute)
          ], { concurrency: "unbounded" })
          if (byAddress.over) {
            return yield* limited("too many registrations from this address", byAddress.retryAfterSeconds)
          }
          if (overall.over) return yield* limited("too many registrations right now", overall.retryAfterSeconds)
        })

      return RegistrationThrottle.of({ admit })
    })
  )
}
