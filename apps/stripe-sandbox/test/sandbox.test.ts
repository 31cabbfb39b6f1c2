// What only the sandbox does: signed webhook delivery (retries, holding, reordering, duplicates), fault
// injection, Stripe's request checks, and the control API. The SDK is the real `stripe` package throughout.
import { assert, describe, it, layer } from "@effect/vitest"
import { Context, Effect, Layer, Ref } from "effect"
import { randomUUID } from "node:crypto"
import * as Http from "node:http"
import Stripe from "stripe"
import { decodeParams, fingerprint } from "../src/form.ts"
import { StripeSandbox } from "../src/sandbox.ts"
import type { DeliveryAttempt } from "../src/webhooks.ts"

// the sandbox takes any test-mode key
const sandboxApiKey = "sk_test_kassa_sandbox"

interface Received {
  readonly body: string
  readonly signature: string
}

/** A webhook endpoint that records what it receives and answers with the next queued status (then 200). */
class Receiver extends Context.Service<Receiver, {
  readonly url: string
  readonly received: Ref.Ref<ReadonlyArray<Received>>
  readonly failNext: (statuses: ReadonlyArray<number>) => Effect.Effect<void>
}>()("test/Receiver") {
  static readonly layer = Layer.effect(
    Receiver,
    Effect.gen(function*() {
      const received = yield* Ref.make<ReadonlyArray<Received>>([])
      const statuses: Array<number> = []
      const record = Effect.runSyncWith(yield* Effect.context<never>())
      const server = yield* Effect.acquireRelease(
        Effect.callback<Http.Server>((resume) => {
          const s = Http.createServer((req, res) => {
            const chunks: Array<Buffer> = []
            req.on("data", (c: Buffer) => chunks.push(c))
            req.on("end", () => {
              const body = Buffer.concat(chunks).toString("utf8")
              record(
                Ref.update(received, (all) => [...all, { body, signature: String(req.headers["stripe-signature"]) }])
              )
              res.writeHead(statuses.shift() ?? 200).end()
            })
          })
          s.listen(0, "127.0.0.1", () => {
            resume(Effect.succeed(s))
          })
        }),
        (s) =>
          Effect.callback<void>((resume) => {
            s.closeAllConnections()
            s.close(() => resume(Effect.void))
          })
      )
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      return Receiver.of({
        url: `http://127.0.0.1:${port}/webhooks/stripe`,
        received,
        failNext: (next) => Effect.sync(() => void statuses.push(...next))
      })
    })
  )
}

const secret = "whsec_sandbox_test"

const TestLayer = Layer.mergeAll(StripeSandbox.layer({ webhookRetryBase: "20 millis" }), Receiver.layer)

const sdkFor = (url: URL) =>
  new Stripe(sandboxApiKey, { host: url.hostname, port: Number(url.port), protocol: "http", maxNetworkRetries: 0 })

const sdk = Effect.map(StripeSandbox, ({ url }) => sdkFor(url))

const charge = (s: Stripe, card = "pm_card_visa", options?: Stripe.RequestOptions) =>
  s.paymentIntents.create({ amount: 1000, currency: "eur", payment_method: card, confirm: true }, options)

/** Waits (really) until `predicate` holds for what the receiver got. */
const receivedUntil = (predicate: (all: ReadonlyArray<Received>) => boolean) =>
  Effect.gen(function*() {
    const receiver = yield* Receiver
    for (let i = 0; i < 200; i++) {
      const all = yield* Ref.get(receiver.received)
      if (predicate(all)) return all
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error("webhooks did not arrive"))
  })

const eventsOf = (all: ReadonlyArray<Received>) =>
  all.map((r) => Stripe.webhooks.constructEvent(r.body, r.signature, secret))

const withEndpoint = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const sandbox = yield* StripeSandbox
    const receiver = yield* Receiver
    yield* Ref.set(receiver.received, [])
    const endpoint = yield* sandbox.webhooks.addEndpoint(receiver.url, secret)
    return yield* effect.pipe(Effect.ensuring(sandbox.webhooks.removeEndpoint(endpoint.id)))
  })

layer(TestLayer, { excludeTestServices: true, timeout: 30_000 })("sandbox", (it) => {
  it.effect("webhooks are signed so the SDK verifies them, one event per outcome", () =>
    withEndpoint(Effect.gen(function*() {
      const s = yield* sdk
      const paid = yield* Effect.promise(() => charge(s))
      yield* Effect.promise(() => charge(s, "pm_card_chargeDeclined")).pipe(Effect.catchDefect(() => Effect.void))
      const open = yield* Effect.promise(() =>
        s.paymentIntents.create({ amount: 500, currency: "eur", payment_method: "pm_card_visa" })
      )
      yield* Effect.promise(() => s.paymentIntents.cancel(open.id))
      yield* Effect.promise(() => s.refunds.create({ payment_intent: paid.id, amount: 400 }))
      const events = eventsOf(yield* receivedUntil((all) => all.length >= 4))
      assert.sameMembers(events.map((e) => e.type), [
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "charge.refunded"
      ])
      const refunded = events.find((e) => e.type === "charge.refunded")?.data.object as Stripe.Charge
      assert.deepStrictEqual([refunded.amount_refunded, refunded.payment_intent], [400, paid.id])
      const genuine = yield* Ref.get((yield* Receiver).received)
      assert.throws(() => Stripe.webhooks.constructEvent(`${genuine[0]?.body} `, genuine[0]?.signature ?? "", secret))
    })))

  it.effect("a delivery is retried with backoff until the endpoint answers 2xx", () =>
    withEndpoint(Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const receiver = yield* Receiver
      yield* receiver.failNext([500, 503])
      const paid = yield* Effect.promise(async () => charge(sdkFor(sandbox.url)))
      const events = eventsOf(yield* receivedUntil((r) => r.length >= 3))
      assert.deepStrictEqual(events.map((e) => (e.data.object as Stripe.PaymentIntent).id), [paid.id, paid.id, paid.id])
      // the sandbox records an attempt once it has read the answer, a moment after the endpoint saw it
      let attempts: ReadonlyArray<DeliveryAttempt> = []
      for (let i = 0; i < 200 && attempts.length < 3; i++) {
        attempts = (yield* sandbox.webhooks.attempts).filter((a) => a.eventId === events[0]?.id)
        if (attempts.length < 3) yield* Effect.sleep("10 millis")
      }
      assert.deepStrictEqual(attempts.map((a) => [a.attempt, a.status]), [[1, 500], [2, 503], [3, 200]])
    })))

  it.effect("held events are released in reverse order and duplicated when asked", () =>
    withEndpoint(Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const s = sdkFor(sandbox.url)
      yield* sandbox.webhooks.hold
      const first = yield* Effect.promise(() => charge(s))
      const second = yield* Effect.promise(() => charge(s))
      assert.strictEqual((yield* Ref.get((yield* Receiver).received)).length, 0)
      assert.strictEqual(yield* sandbox.webhooks.flush({ order: "reverse", copies: 2 }), 4)
      const ids = eventsOf(yield* receivedUntil((r) => r.length >= 4)).map((e) =>
        (e.data.object as Stripe.PaymentIntent).id
      )
      assert.deepStrictEqual(ids, [second.id, second.id, first.id, first.id])
    })))

  it.effect("chaos mode duplicates deliveries", () =>
    withEndpoint(Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      yield* sandbox.webhooks.chaos({ duplicateProbability: 1, maxDelay: "10 millis" })
      const paid = yield* Effect.promise(() => charge(sdkFor(sandbox.url)))
      const events = eventsOf(yield* receivedUntil((r) => r.length >= 2))
      yield* sandbox.webhooks.chaos(undefined)
      assert.deepStrictEqual(events.map((e) => e.id)[0], events.map((e) => e.id)[1])
      assert.strictEqual((events[0]?.data.object as Stripe.PaymentIntent).id, paid.id)
    })))

  it.effect("fault 500 and 429 answer without acting; the same key then goes through once", () =>
    Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const s = yield* sdk
      const before = (yield* sandbox.ledger.snapshot).paymentIntents.length
      const key = `fault-${randomUUID()}`
      const failed = yield* Effect.tryPromise(() =>
        charge(s, "pm_card_visa", { idempotencyKey: key, headers: { "Stripe-Sandbox-Fault": "error_500" } })
      ).pipe(Effect.flip)
      assert.strictEqual((failed.cause as Stripe.errors.StripeError).statusCode, 500)
      yield* sandbox.faults.inject({ action: "error_429", method: "POST", path: "/v1/payment_intents" })
      const limited = yield* Effect.tryPromise(() => charge(s, "pm_card_visa", { idempotencyKey: key })).pipe(
        Effect.flip
      )
      assert.instanceOf(limited.cause, Stripe.errors.StripeRateLimitError)
      assert.strictEqual((yield* sandbox.ledger.snapshot).paymentIntents.length, before)
      const ok = yield* Effect.promise(() => charge(s, "pm_card_visa", { idempotencyKey: key }))
      assert.strictEqual(ok.status, "succeeded")
      assert.strictEqual((yield* sandbox.ledger.snapshot).paymentIntents.length, before + 1)
    }))

  it.effect("drop after commit: the caller sees a connection error, the charge exists once, a retry replays it", () =>
    Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const s = yield* sdk
      const key = `drop-${randomUUID()}`
      yield* sandbox.faults.inject({ action: "drop_after_commit", method: "POST", path: "/v1/payment_intents" })
      const dropped = yield* Effect.tryPromise(() => charge(s, "pm_card_visa", { idempotencyKey: key })).pipe(
        Effect.flip
      )
      assert.instanceOf(dropped.cause, Stripe.errors.StripeConnectionError)
      const committed = (yield* sandbox.ledger.snapshot).paymentIntents.filter((pi) => pi.status === "succeeded")
      const replayed = yield* Effect.promise(() => charge(s, "pm_card_visa", { idempotencyKey: key }))
      const after = (yield* sandbox.ledger.snapshot).paymentIntents.filter((pi) => pi.status === "succeeded")
      assert.strictEqual(after.length, committed.length)
      assert.include(committed.map((pi) => pi.id), replayed.id)
    }))

  it.effect("drop before commit: nothing happens", () =>
    Effect.gen(function*() {
      const sandbox = yield* StripeSandbox
      const s = yield* sdk
      const before = (yield* sandbox.ledger.snapshot).customers.length
      const dropped = yield* Effect.tryPromise(() =>
        s.customers.create(
          {},
          { idempotencyKey: `c-${randomUUID()}`, headers: { "Stripe-Sandbox-Fault": "drop_before_commit" } }
        )
      ).pipe(Effect.flip)
      assert.instanceOf(dropped.cause, Stripe.errors.StripeConnectionError)
      assert.strictEqual((yield* sandbox.ledger.snapshot).customers.length, before)
    }))

  it.effect("a request whose key is still in flight gets a 409", () =>
    Effect.gen(function*() {
      const s = yield* sdk
      const key = `slow-${randomUUID()}`
      const slow = charge(s, "pm_card_visa", { idempotencyKey: key, headers: { "Stripe-Sandbox-Fault": "delay=300" } })
      const [first, second] = yield* Effect.all([
        Effect.promise(() => slow),
        Effect.promise(() =>
          charge(s, "pm_card_visa", { idempotencyKey: key }).then(() => undefined, (e: Stripe.errors.StripeError) => e)
        )
      ], { concurrency: 2 })
      assert.strictEqual(first.status, "succeeded")
      assert.deepStrictEqual([second?.statusCode, second?.code], [409, "idempotency_key_in_use"])
    }))

  it.effect("Stripe's request checks: API key, unknown parameters, unknown URLs", () =>
    Effect.gen(function*() {
      const { url } = yield* StripeSandbox
      const post = (path: string, body: string, key?: string) =>
        Effect.promise(async () => {
          const response = await fetch(new URL(path, url), {
            method: "POST",
            headers: {
              "content-type": "application/x-www-form-urlencoded",
              ...(key === undefined ? {} : { authorization: `Bearer ${key}` })
            },
            body
          })
          return {
            status: response.status,
            body: await response.json() as { error: { type: string; code?: string; param?: string } }
          }
        })
      assert.strictEqual((yield* post("/v1/customers", "")).status, 401)
      assert.strictEqual((yield* post("/v1/customers", "", "sk_live_nope")).status, 401)
      const unknown = yield* post("/v1/customers", "colour=blue", sandboxApiKey)
      assert.deepStrictEqual(
        [unknown.status, unknown.body.error.code, unknown.body.error.param],
        [400, "parameter_unknown", "colour"]
      )
      const missing = yield* post("/v1/payment_intents", "currency=eur", sandboxApiKey)
      assert.deepStrictEqual(
        [missing.status, missing.body.error.code, missing.body.error.param],
        [400, "parameter_missing", "amount"]
      )
      const nowhere = yield* post("/v1/nowhere", "", sandboxApiKey)
      assert.deepStrictEqual([nowhere.status, nowhere.body.error.type], [404, "invalid_request_error"])
    }))

  it.effect("the control API injects faults and reports counts over HTTP", () =>
    Effect.gen(function*() {
      const { url } = yield* StripeSandbox
      const s = sdkFor(url)
      const control = (method: string, path: string, body?: unknown) =>
        Effect.promise(async () => {
          const response = await fetch(new URL(path, url), {
            method,
            headers: { "content-type": "application/json" },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          })
          return { status: response.status, body: await response.json() as Record<string, unknown> }
        })
      assert.strictEqual(
        (yield* control("POST", "/_sandbox/faults", { action: "error_500", path: "/v1/customers" })).status,
        200
      )
      const failed = yield* Effect.tryPromise(() => s.customers.create({})).pipe(Effect.flip)
      assert.strictEqual((failed.cause as Stripe.errors.StripeError).statusCode, 500)
      assert.strictEqual((yield* control("POST", "/_sandbox/faults", { action: "explode" })).status, 400)
      const state = yield* control("GET", "/_sandbox/state")
      assert.isAtLeast(Number(state.body["paymentIntents"]), 1)
    }))
})

describe("form encoding", () => {
  it("decodes Stripe's bracket notation", () => {
    assert.deepStrictEqual(
      decodeParams(
        "amount=100&metadata[invoice]=inv_1&metadata[user]=u&expand[]=a&expand[]=b&payment_method_types[0]=card&created[gte]=5"
      ),
      {
        amount: "100",
        metadata: { invoice: "inv_1", user: "u" },
        expand: ["a", "b"],
        payment_method_types: ["card"],
        created: { gte: "5" }
      }
    )
  })

  it("fingerprints ignore key order", () => {
    assert.strictEqual(fingerprint(decodeParams("a=1&b[x]=2&b[y]=3")), fingerprint(decodeParams("b[y]=3&a=1&b[x]=2")))
    assert.notStrictEqual(fingerprint(decodeParams("a=1")), fingerprint(decodeParams("a=2")))
  })
})
