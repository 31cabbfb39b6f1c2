// Login and registration limits, through clients derived from BillingApi (client addresses from X-Forwarded-For):
// nobody can lock an account out, guessing is bounded per (email, address) pair and per address, registrations
// per address and in all, and password hashing runs at most one per core with a bounded queue.
import { assert, describe, it, layer } from "@effect/vitest"
import { PasswordHasher } from "@kassa/billing/auth/passwords"
import { Effect, Exit } from "effect"
import { billingClient, BillingUnderTest, signUp, uniqueAddress, uniqueEmail } from "./support.ts"

const password = "correct horse battery staple"

const login = (email: string, secret: string, address = uniqueAddress()) =>
  Effect.flatMap(
    billingClient({ address }),
    (client) =>
      client.auth.token({ payload: { email, password: secret }, responseMode: "response-only" }).pipe(
        Effect.flatMap((response) =>
          Effect.map(response.json, (body) => ({
            status: response.status,
            retryAfter: response.headers["retry-after"],
            body: body as { readonly _tag?: string; readonly retryAfterSeconds?: number }
          }))
        )
      )
  )

const register = (address: string, email = uniqueEmail("limited")) =>
  Effect.flatMap(
    billingClient({ address }),
    (client) =>
      client.auth.register({ payload: { email, password }, responseMode: "response-only" }).pipe(
        Effect.map((response) => ({ status: response.status, retryAfter: response.headers["retry-after"] }))
      )
  )

// registrations in all: its own layer, first in the file, so the global counter starts at zero
layer(BillingUnderTest({ REGISTER_MAX_PER_MINUTE: "4", REGISTER_MAX_PER_ADDRESS: "100" }), {
  excludeTestServices: true,
  timeout: 60_000
})(
  "registrations in all",
  (it) => {
    it.effect("past REGISTER_MAX_PER_MINUTE every address gets 429 with Retry-After", () =>
      Effect.gen(function*() {
        const answers = []
        for (let i = 0; i < 6; i++) answers.push(yield* register(uniqueAddress()))
        assert.deepStrictEqual(answers.map((a) => a.status), [201, 201, 201, 201, 429, 429])
        const wait = Number(answers[5]?.retryAfter)
        assert.isTrue(wait >= 1 && wait <= 60, String(wait))
      }))
  }
)

layer(
  BillingUnderTest({
    LOGIN_MAX_FAILURES: "3",
    LOGIN_MAX_PER_ADDRESS: "8",
    LOGIN_MAX_FAILURES_PER_EMAIL: "6",
    REGISTER_MAX_PER_ADDRESS: "3"
  }),
  { excludeTestServices: true, timeout: 60_000 }
)("login and registration limits", (it) => {
  it.effect("nobody can lock an account out: failures from many addresses, then the owner's password from a new one logs in", () =>
    Effect.gen(function*() {
      const { email } = yield* signUp()
      for (let i = 1; i <= 5; i++) assert.strictEqual((yield* login(email, "wrong password")).status, 401)
      assert.strictEqual((yield* login(email, password)).status, 200)
      // past the email's own limit a wrong password answers 429 with Retry-After, a correct one still logs in
      for (let i = 1; i <= 3; i++) yield* login(email, "wrong password")
      const backedOff = yield* login(email, "wrong password")
      assert.deepStrictEqual([backedOff.status, backedOff.body._tag], [429, "RateLimited"])
      assert.strictEqual(Number(backedOff.retryAfter), backedOff.body.retryAfterSeconds)
      assert.strictEqual((yield* login(email, password)).status, 200)
    }))

  it.effect("LOGIN_MAX_FAILURES wrong passwords from one address stop that pair only (429), not the owner elsewhere", () =>
    Effect.gen(function*() {
      const { email } = yield* signUp()
      const attacker = uniqueAddress()
      for (let i = 1; i <= 3; i++) assert.strictEqual((yield* login(email, "wrong password", attacker)).status, 401)
      const refused = yield* login(email, password, attacker)
      assert.deepStrictEqual([refused.status, refused.body._tag], [429, "RateLimited"])
      const wait = Number(refused.retryAfter)
      assert.isTrue(wait >= 1 && wait <= 60, String(wait))
      assert.strictEqual((yield* login(email, password)).status, 200)
      // the attacker's address can still log in to another account
      const other = yield* signUp()
      assert.strictEqual((yield* login(other.email, password, attacker)).status, 200)
    }))

  it.effect("LOGIN_MAX_PER_ADDRESS attempts from one address, successes included, then 429; other addresses are unaffected", () =>
    Effect.gen(function*() {
      const { email } = yield* signUp()
      const address = uniqueAddress()
      const statuses = []
      for (let i = 0; i < 8; i++) {
        statuses.push(
          (yield* login(i % 2 === 0 ? email : uniqueEmail(), i % 2 === 0 ? password : "x".repeat(9), address)).status
        )
      }
      assert.deepStrictEqual(statuses, [200, 401, 200, 401, 200, 401, 200, 401])
      assert.strictEqual((yield* login(email, password, address)).status, 429)
      assert.strictEqual((yield* login(email, password)).status, 200)
    }))

  it.effect("REGISTER_MAX_PER_ADDRESS registrations an hour per address (taken emails count), then 429", () =>
    Effect.gen(function*() {
      const address = uniqueAddress()
      const email = uniqueEmail("taken")
      const answers = [
        yield* register(address, email),
        yield* register(address, email), // taken: 409, and it counts
        yield* register(address),
        yield* register(address)
      ]
      assert.deepStrictEqual(answers.map((a) => a.status), [201, 409, 201, 429])
      const wait = Number(answers[3]?.retryAfter)
      assert.isTrue(wait > 60 && wait <= 3600, String(wait))
      assert.strictEqual((yield* register(uniqueAddress())).status, 201)
    }))

  it.effect("a burst of 30 registrations from one address: 3 accounts, the rest 429, no 5xx", () =>
    Effect.gen(function*() {
      const address = uniqueAddress()
      const answers = yield* Effect.all(Array.from({ length: 30 }, () => register(address)), {
        concurrency: "unbounded"
      })
      const statuses = answers.map((a) => a.status).sort()
      assert.deepStrictEqual(statuses, [...Array(3).fill(201), ...Array(27).fill(429)])
    }))
})

describe("PasswordHasher", () => {
  it.effect(
    "runs one hash per permit and refuses with 429 past 16 waiting per permit, instead of queueing without end",
    () =>
      Effect.gen(function*() {
        const hasher = yield* PasswordHasher
        const exits = yield* Effect.all(
          Array.from({ length: 40 }, () => Effect.exit(hasher.hash(password))),
          { concurrency: "unbounded" }
        )
        const refused = exits.filter((exit) => Exit.isFailure(exit))
        assert.strictEqual(exits.length - refused.length, 17)
        assert.strictEqual(refused.length, 23)
        assert.strictEqual(yield* hasher.pending, 0)
        const hashed = exits.find(Exit.isSuccess)
        assert.isTrue(hashed !== undefined && (yield* hasher.verify(password, hashed.value)))
      }).pipe(Effect.provide(PasswordHasher.layerWith(1))),
    { timeout: 30_000 }
  )
})
