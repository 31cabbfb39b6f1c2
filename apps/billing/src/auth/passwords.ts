// Password hashing with scrypt from node:crypto: a random salt per hash, parameters stored beside the hash so
// they can be raised later without breaking existing accounts, and a constant-time comparison. PasswordHasher
// bounds how many hashes run at once, since each holds 32 MiB and a core for ~0.1 s.
import { availableParallelism } from "node:os"
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"
import { RateLimited } from "@kassa/domain/errors"
import { Context, Effect, Layer, Semaphore } from "effect"

// N = 2^15, r = 8, p = 1: 32 MiB and ~0.1 s per hash on a 2-core box. OWASP suggests N = 2^17 where the
// hardware allows; hashes keep their parameters, so raising these later leaves old hashes verifiable.
const params = { N: 32_768, r: 8, p: 1 } as const
const keyLength = 32
const saltLength = 16

interface Params {
  readonly N: number
  readonly r: number
  readonly p: number
}

// runs on the libuv thread pool, so hashing does not block the event loop
const derive = (password: string, salt: Buffer, { N, r, p }: Params) =>
  Effect.callback<Buffer>((resume) => {
    // scrypt needs 128·N·r bytes; the default cap (32 MiB) is exactly that for these parameters
    scrypt(password.normalize("NFKC"), salt, keyLength, { N, r, p, maxmem: 256 * N * r }, (error, key) => {
      resume(error === null ? Effect.succeed(key) : Effect.die(error))
    })
  })

/** `scrypt$N$r$p$<salt base64>$<key base64>` */
export const hashPassword = (password: string): Effect.Effect<string> =>
  Effect.gen(function*() {
    const salt = randomBytes(saltLength)
    const key = yield* derive(password, salt, params)
    return ["scrypt", params.N, params.r, params.p, salt.toString("base64"), key.toString("base64")].join("$")
  })

/** False for a wrong password and for a hash this module did not produce. */
export const verifyPassword = (password: string, stored: string): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const [scheme, n, r, p, salt, key] = stored.split("$")
    const options = { N: Number(n), r: Number(r), p: Number(p) }
    if (
      scheme !== "scrypt" || salt === undefined || key === undefined ||
      !Object.values(options).every(Number.isSafeInteger)
    ) {
      return false
    }
    const expected = Buffer.from(key, "base64")
    const actual = yield* derive(password, Buffer.from(salt, "base64"), options)
    return actual.length === expected.length && timingSafeEqual(actual, expected)
  })

/** Hashes waiting for a permit, per permit, before more are refused with 429 rather than queued. */
const queuePerPermit = 16

/**
 * Register, login and the bootstrap admin hash through this: at most one hash per core runs at a time (a burst
 * queues instead of taking 32 MiB each at once), and past `queuePerPermit` waiting per core a request is refused
 * with 429 RateLimited (Retry-After 1) instead of waiting for the request deadline.
 */
export class PasswordHasher extends Context.Service<PasswordHasher, {
  hash(password: string): Effect.Effect<string, RateLimited>
  verify(password: string, stored: string): Effect.Effect<boolean, RateLimited>
  /** Hashes running or waiting for a permit. */
  readonly pending: Effect.Effect<number>
}>()("billing/PasswordHasher") {
  static readonly layerWith = (permits: number) =>
    Layer.effect(
      PasswordHasher,
      Effect.gen(function*() {
        const semaphore = yield* Semaphore.make(permits)
        let pending = 0
        const busy = new RateLimited({
          message: "too many sign-ins at once; try again in a second",
          retryAfterSeconds: 1
        })
        // a hash that started runs to its end (scrypt cannot be stopped), so the permit is held until then
        const bounded = <A>(work: Effect.Effect<A>): Effect.Effect<A, RateLimited> =>
          Effect.suspend(() => {
            if (pending >= permits * (queuePerPermit + 1)) return Effect.fail(busy)
            pending++
            return semaphore.withPermit(Effect.uninterruptible(work)).pipe(
              Effect.ensuring(Effect.sync(() => pending--))
            )
          })
        return PasswordHasher.of({
          hash: (password) => bounded(hashPassword(password)),
          verify: (password, stored) => bounded(verifyPassword(password, stored)),
          pending: Effect.sync(() => pending)
        })
      })
    )

  /** One permit per core. */
  static readonly layer = PasswordHasher.layerWith(availableParallelism())
}
