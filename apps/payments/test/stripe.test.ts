// StripeClient against the real SDK and a tiny Stripe-compatible HTTP server started by the test.
// (The full sandbox app is apps/stripe-sandbox; this server only covers the client wrapper.)
import { assert, describe, it, layer } from "@effect/vitest"
import { Cause, Context, Effect, Exit, Layer, Redacted } from "effect"
import { TestClock } from "effect/testing"
import * as Http from "node:http"
import Stripe from "stripe"
import {
  InvalidSignature,
  layerWith,
  retryTransient,
  StripeClient,
  StripeConnectionError,
  StripeError
} from "../src/stripe.ts"

interface Recorded {
  readonly method: string
  readonly path: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

const json = (res: Http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { "content-type": "application/json", "request-id": "req_test", ...headers })
  res.end(JSON.stringify(body))
}

const stripeError = (type: string, message: string, extra: Record<string, string> = {}) => ({
  error: { type, message, ...extra }
})

const route = (req: Recorded, res: Http.ServerResponse) => {
  if (req.method === "POST" && req.path === "/v1/payment_intents") {
    const form = new URLSearchParams(req.body)
    return json(res, 200, {
      id: "pi_echo",
      object: "payment_intent",
      amount: Number(form.get("amount")),
      currency: form.get("currency"),
      status: "succeeded"
    })
  }
  switch (`${req.method} ${req.path}`) {
    case "GET /v1/payment_intents/pi_read":
      return json(res, 200, {
        id: "pi_read",
        object: "payment_intent",
        amount: 500,
        currency: "eur",
        status: "succeeded"
      })
    case "GET /v1/payment_intents/pi_hang":
      return // never answers: the client's timeout must fire
    case "POST /v1/payment_intents/pi_declined/confirm":
      return json(
        res,
        402,
        stripeError("card_error", "Your card has insufficient funds.", {
          code: "card_declined",
          decline_code: "insufficient_funds"
        })
      )
    case "POST /v1/payment_intents/pi_busy/confirm":
      // Stripe's 429 body says invalid_request_error/rate_limit; the status is what classifies it
      return json(res, 429, stripeError("invalid_request_error", "Too many requests", { code: "rate_limit" }))
    case "POST /v1/payment_intents/pi_broken/confirm":
      return json(res, 500, stripeError("api_error", "Something went wrong"))
    case "POST /v1/payment_intents/pi_final/confirm":
      return json(res, 500, stripeError("api_error", "Stored failure"), { "stripe-should-retry": "false" })
    default:
      return json(
        res,
        404,
        stripeError("invalid_request_error", `Unrecognized request URL (${req.method}: ${req.path})`)
      )
  }
}

class FakeStripe extends Context.Service<FakeStripe, {
  readonly url: URL
  readonly requests: Array<Recorded>
}>()("test/FakeStripe") {
  static readonly layer = Layer.effect(
    FakeStripe,
    Effect.acquireRelease(
      Effect.callback<{ readonly server: Http.Server; readonly service: FakeStripe["Service"] }>((resume) => {
        const requests: Array<Recorded> = []
        const server = Http.createServer((req, res) => {
          const chunks: Array<Buffer> = []
          req.on("data", (chunk: Buffer) => chunks.push(chunk))
          req.on("end", () => {
            const recorded: Recorded = {
              method: req.method ?? "",
              path: req.url ?? "",
              headers: req.headers,
              body: Buffer.concat(chunks).toString("utf8")
            }
            requests.push(recorded)
            route(recorded, res)
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const address = server.address()
          const port = typeof address === "object" && address !== null ? address.port : 0
          resume(Effect.succeed({ server, service: { url: new URL(`http://127.0.0.1:${port}`), requests } }))
        })
      }),
      ({ server }) =>
        Effect.callback<void>((resume) => {
          server.closeAllConnections() // the hanging request would keep close() waiting
          server.close(() => resume(Effect.void))
        })
    ).pipe(Effect.map(({ service }) => service))
  )
}

const ClientAgainstFake = Layer.unwrap(Effect.gen(function*() {
  const fake = yield* FakeStripe
  return layerWith({ apiBase: fake.url })
}))

const withKey = (key: string) => (r: Recorded) => r.headers["idempotency-key"] === key

const confirm = (key: string, id: string) =>
  StripeClient.use((stripe) => stripe.call(key, (sdk, opts) => sdk.paymentIntents.confirm(id, {}, opts)))

/** A port nobody listens on: bind, read the port, close. */
const closedPort = Effect.callback<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

layer(ClientAgainstFake.pipe(Layer.provideMerge(FakeStripe.layer)))("StripeClient over the real SDK", (it) => {
  it.effect("sends the caller's idempotency key verbatim and a form-encoded body", () =>
    Effect.gen(function*() {
      const fake = yield* FakeStripe
      const stripe = yield* StripeClient
      const key = "payment:att_0001"
      const intent = yield* stripe.call(key, (sdk, opts) =>
        sdk.paymentIntents.create(
          { amount: 1999, currency: "eur", payment_method: "pm_card_visa", metadata: { invoiceId: "inv_1" } },
          opts
        ))
      assert.deepStrictEqual(
        {
          id: intent.id,
          object: intent.object,
          amount: intent.amount,
          currency: intent.currency,
          status: intent.status
        },
        { id: "pi_echo", object: "payment_intent", amount: 1999, currency: "eur", status: "succeeded" }
      )
      const sent = fake.requests.filter(withKey(key))
      assert.strictEqual(sent.length, 1)
      const request = sent[0]!
      assert.strictEqual(request.headers["content-type"], "application/x-www-form-urlencoded")
      assert.strictEqual(request.headers["authorization"], "Bearer sk_test_kassa_sandbox") // no key configured
      const form = new URLSearchParams(request.body)
      assert.strictEqual(form.get("amount"), "1999")
      assert.strictEqual(form.get("currency"), "eur")
      assert.strictEqual(form.get("payment_method"), "pm_card_visa")
      assert.strictEqual(form.get("metadata[invoiceId]"), "inv_1")
    }))

  it.effect("read sends no idempotency key", () =>
    Effect.gen(function*() {
      const fake = yield* FakeStripe
      const intent = yield* StripeClient.use((stripe) => stripe.read((sdk) => sdk.paymentIntents.retrieve("pi_read")))
      assert.strictEqual(intent.id, "pi_read")
      const sent = fake.requests.filter((r) => r.path === "/v1/payment_intents/pi_read")
      assert.strictEqual(sent.length, 1)
      assert.isUndefined(sent[0]!.headers["idempotency-key"])
    }))

  it.effect("a 402 is a card_error with its decline code, not retryable", () =>
    Effect.gen(function*() {
      const error = yield* confirm("payment:att_declined", "pi_declined").pipe(Effect.flip)
      assert.instanceOf(error, StripeError)
      if (!(error instanceof StripeError)) return
      assert.deepStrictEqual(
        {
          type: error.type,
          code: error.code,
          declineCode: error.declineCode,
          statusCode: error.statusCode,
          retryable: error.retryable
        },
        {
          type: "card_error",
          code: "card_declined",
          declineCode: "insufficient_funds",
          statusCode: 402,
          retryable: false
        }
      )
      assert.strictEqual(error.message, "Your card has insufficient funds.")
      assert.strictEqual(error.requestId, "req_test")
    }))

  it.effect("a 429 is a retryable rate_limit_error and the SDK does not retry on its own", () =>
    Effect.gen(function*() {
      const fake = yield* FakeStripe
      const error = yield* confirm("payment:att_busy", "pi_busy").pipe(Effect.flip)
      assert.instanceOf(error, StripeError)
      if (!(error instanceof StripeError)) return
      assert.strictEqual(error.type, "rate_limit_error")
      assert.strictEqual(error.statusCode, 429)
      assert.isTrue(error.retryable)
      assert.strictEqual(fake.requests.filter(withKey("payment:att_busy")).length, 1)
    }))

  it.effect("a 5xx is retryable unless Stripe-Should-Retry says otherwise", () =>
    Effect.gen(function*() {
      const broken = yield* confirm("payment:att_broken", "pi_broken").pipe(Effect.flip)
      const final = yield* confirm("payment:att_final", "pi_final").pipe(Effect.flip)
      assert.deepStrictEqual(
        [broken._tag, broken.retryable, final._tag, final.retryable],
        ["StripeError", true, "StripeError", false]
      )
    }))

  it.effect("retryTransient resends the same idempotency key and stops on a definite answer", () =>
    Effect.gen(function*() {
      const fake = yield* FakeStripe
      // real backoff delays: the schedule sleeps on the live clock
      const busy = yield* TestClock.withLive(retryTransient(confirm("payment:att_retry", "pi_busy"))).pipe(Effect.flip)
      assert.strictEqual(busy._tag, "StripeError")
      // 1 attempt + 3 retries, every one with the caller's key
      assert.strictEqual(fake.requests.filter(withKey("payment:att_retry")).length, 4)
      yield* retryTransient(confirm("payment:att_declined_once", "pi_declined")).pipe(Effect.flip)
      assert.strictEqual(fake.requests.filter(withKey("payment:att_declined_once")).length, 1)
    }))

  it.effect("no answer in time is an unknown outcome (timeout)", () =>
    Effect.gen(function*() {
      const fake = yield* FakeStripe
      const impatient = yield* StripeClient.make({ apiBase: fake.url, timeout: "300 millis" })
      const error = yield* impatient.read((sdk) => sdk.paymentIntents.retrieve("pi_hang")).pipe(Effect.flip)
      assert.instanceOf(error, StripeConnectionError)
      if (!(error instanceof StripeConnectionError)) return
      assert.strictEqual(error.reason, "timeout")
      assert.isTrue(error.retryable)
    }))

  it.effect("an empty idempotency key is a defect, never the SDK's random key", () =>
    Effect.gen(function*() {
      const exit = yield* Effect.exit(
        StripeClient.use((stripe) =>
          stripe.call("", (sdk, opts) => sdk.paymentIntents.create({ amount: 1, currency: "eur" }, opts))
        )
      )
      assert.isTrue(Exit.isFailure(exit) && Cause.hasDies(exit.cause))
    }))
})

describe("StripeClient without a server", () => {
  it.effect("connection refused is an unknown outcome (network)", () =>
    Effect.gen(function*() {
      const port = yield* closedPort
      const error = yield* StripeClient.use((stripe) =>
        stripe.call(
          "payment:att_refused",
          (sdk, opts) => sdk.paymentIntents.create({ amount: 100, currency: "eur" }, opts)
        )
      ).pipe(Effect.flip, Effect.provide(layerWith({ apiBase: new URL(`http://127.0.0.1:${port}`) })))
      assert.instanceOf(error, StripeConnectionError)
      if (!(error instanceof StripeConnectionError)) return
      assert.strictEqual(error.reason, "network")
      assert.isTrue(error.retryable)
    }))
})

describe("verifyWebhook", () => {
  const secretA = "whsec_test_secret_a"
  const secretB = "whsec_test_secret_b"
  const secrets = [Redacted.make(secretA), Redacted.make(secretB)]
  const now = Date.UTC(2025, 0, 15, 12, 0, 0) // fixed instant for the TestClock
  const nowSeconds = Math.floor(now / 1000)
  const payload = JSON.stringify({
    id: "evt_1",
    object: "event",
    type: "payment_intent.succeeded",
    data: { object: { id: "pi_1" } }
  })
  const sign = (secret: string, timestamp = nowSeconds, body = payload) =>
    Stripe.webhooks.generateTestHeaderString({ payload: body, secret, timestamp })

  const verify = (body: string, header: string | undefined) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(now)
      return yield* StripeClient.use((stripe) => stripe.verifyWebhook(body, header, secrets))
    }).pipe(Effect.provide(layerWith({})))

  const rejection = (body: string, header: string | undefined) => verify(body, header).pipe(Effect.flip)

  it.effect("accepts a payload signed with either secret (rotation)", () =>
    Effect.gen(function*() {
      const viaA = yield* verify(payload, sign(secretA))
      const viaB = yield* verify(payload, sign(secretB))
      assert.deepStrictEqual([viaA.id, viaA.type, viaB.id], ["evt_1", "payment_intent.succeeded", "evt_1"])
      // just inside the tolerance
      assert.strictEqual((yield* verify(payload, sign(secretA, nowSeconds - 299))).id, "evt_1")
    }))

  it.effect("rejects a tampered body", () =>
    Effect.gen(function*() {
      const error = yield* rejection(payload.replace("pi_1", "pi_2"), sign(secretA))
      assert.instanceOf(error, InvalidSignature)
      assert.match(error.message, /no signature matches/)
    }))

  it.effect("rejects a genuine signature older than 300 s", () =>
    Effect.gen(function*() {
      const error = yield* rejection(payload, sign(secretB, nowSeconds - 301))
      assert.match(error.message, /tolerance/)
    }))

  it.effect("rejects a signature made with an unknown secret", () =>
    Effect.gen(function*() {
      const error = yield* rejection(payload, sign("whsec_someone_else"))
      assert.match(error.message, /no signature matches/)
    }))

  it.effect("rejects a missing header and an empty secret list", () =>
    Effect.gen(function*() {
      assert.match((yield* rejection(payload, undefined)).message, /missing/)
      const none = yield* StripeClient.use((stripe) => stripe.verifyWebhook(payload, sign(secretA), [])).pipe(
        Effect.flip,
        Effect.provide(layerWith({}))
      )
      assert.strictEqual(none._tag, "InvalidSignature")
    }))
})
