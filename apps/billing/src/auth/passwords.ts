// Password hashing with scrypt from node:crypto: a random salt per hash, parameters stored beside the hash so
// they can be raised later without breaking existing accounts, and a constant-time comparison.
import { randomBytes, scrypt, timingSafeEqual } from "node:crypto"
import { Effect } from "effect"

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
    if (scheme !== "scrypt" || salt === undefined || key === undefined || !Object.values(options).every(Number.isSafeInteger)) {
      return false
    }
    const expected = Buffer.from(key, "base64")
    const actual = yield* derive(password, Buffer.from(salt, "base64"), options)
    return actual.length === expected.length && timingSafeEqual(actual, expected)
  })
