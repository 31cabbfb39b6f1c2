// The sandbox's HTTP surface: Stripe's routes for the subset Kassa uses (form-encoded in, Stripe JSON out,
// bearer `sk_test_…` keys, idempotency keys, fault injection), plus /health and a JSON control API under
// /_sandbox for tests and scripts running the sandbox out of process.
import { NodeHttpServerRequest } from "@effect/platform-node"
import { Clock, Duration, Effect, Schema } from "effect"
import { HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import Stripe from "stripe"
import { params as readParams, type Params, StripeApiError, unauthenticated } from "./errors.ts"
import { faultHeader, FaultRule, Faults } from "./faults.ts"
import { decodeParams, fingerprint } from "./form.ts"
import { IdempotencyStore } from "./idempotency.ts"
import { Journal } from "./journal.ts"
import { type Json, Ledger, newId, type RequestInfo } from "./ledger.ts"
import { Webhooks } from "./webhooks.ts"

interface OperationInput {
  readonly params: Params
  readonly id: string
  readonly info: RequestInfo
}
type Operation = (ledger: Ledger["Service"], input: OperationInput) => Effect.Effect<Json, StripeApiError>

const jsonHeaders = (requestId: string) => ({ "request-id": requestId, "stripe-version": Stripe.API_VERSION })

const respond = (status: number, body: string, headers: Record<string, string>) =>
  HttpServerResponse.text(body, { status, contentType: "application/json", headers })

const errorText = (error: StripeApiError) => JSON.stringify({ error: error.body })

const apiError = (message: string) =>
  new StripeApiError({ status: 500, validation: true, body: { type: "api_error", message } })

const rateLimited = new StripeApiError({
  status: 429,
  validation: true,
  body: {
    type: "invalid_request_error",
    code: "rate_limit",
    message: "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits."
  }
})

const keyInUse = (key: string) =>
  new StripeApiError({
    status: 409,
    validation: true,
    body: {
      type: "invalid_request_error",
      code: "idempotency_key_in_use",
      message:
        `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${key}. Please try again later.`
    }
  })

const keyReused = (key: string) =>
  new StripeApiError({
    status: 400,
    validation: true,
    body: {
      type: "idempotency_error",
      message:
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`
    }
  })

// Closing the socket under the response: the client sees a reset with no answer.
const dropConnection = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.sync(() => {
    NodeHttpServerRequest.toIncomingMessage(request).socket.destroy()
    return HttpServerResponse.empty({ status: 499 })
  })

const authenticate = (request: HttpServerRequest.HttpServerRequest): StripeApiError | undefined => {
  const header = request.headers["authorization"]
  if (header === undefined || header === "") {
    return unauthenticated(
      "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
    )
  }
  const key = /^Bearer\s+(\S+)$/.exec(header)?.[1] ?? ""
  return key.startsWith("sk_test_") ? undefined : unauthenticated(`Invalid API Key provided: ${key.slice(0, 8)}****`)
}

const stripeRoute = (method: "GET" | "POST", path: HttpRouter.PathInput, operation: Operation) =>
  HttpRouter.route(method, path, (request) =>
    Effect.gen(function*() {
      const ledger = yield* Ledger
      const faults = yield* Faults
      const store = yield* IdempotencyStore
      const journal = yield* Journal
      const requestId = newId("req")
      const headers = jsonHeaders(requestId)
      const refused = authenticate(request)
      if (refused !== undefined) return respond(refused.status, errorText(refused), headers)

      const url = new URL(request.url, "http://sandbox")
      const raw = decodeParams(method === "POST" ? yield* Effect.orDie(request.text) : url.search.slice(1))
      const fault = yield* faults.take(method, url.pathname, request.headers[faultHeader])
      if (fault?.action === "error_500") {
        const error = apiError("An unknown error occurred (injected by the sandbox).")
        return respond(error.status, errorText(error), headers)
      }
      if (fault?.action === "error_429") return respond(429, errorText(rateLimited), headers)
      if (fault?.action === "drop_before_commit") return yield* dropConnection(request)

      const key = method === "POST" ? request.headers["idempotency-key"] : undefined
      if (key !== undefined) {
        const begun = yield* store.begin(key, `${method} ${url.pathname}`, fingerprint(raw))
        if (begun._tag === "Replay") {
          // the commit exists already: a drop fault (or the SDK's own resend of a dropped request) drops its replay
          if (fault?.action === "drop_after_commit" || (yield* faults.takeDroppedReplay(key))) {
            return yield* dropConnection(request)
          }
          return respond(begun.response.status, begun.response.body, {
            ...headers,
            "idempotency-key": key,
            "idempotent-replayed": "true",
            "original-request": begun.response.requestId
          })
        }
        if (begun._tag === "InFlight") return respond(409, errorText(keyInUse(key)), headers)
        if (begun._tag === "Mismatch") return respond(400, errorText(keyReused(key)), headers)
      }
      if (fault?.action === "delay") yield* Effect.sleep(Duration.millis(fault.delayMs))

      const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
      const routeParams = yield* HttpRouter.params
      const { status, body, keep } = yield* operation(ledger, {
        params: readParams(raw),
        id: routeParams["id"] ?? "",
        info: { now, requestId, idempotencyKey: key }
      }).pipe(
        Effect.map((value) => ({ status: 200, body: JSON.stringify(value), keep: true })),
        Effect.catch((error) =>
          Effect.succeed({ status: error.status, body: errorText(error), keep: !error.validation })
        ),
        Effect.catchDefect(() =>
          Effect.succeed({ status: 500, body: errorText(apiError("An unknown error occurred.")), keep: false })
        )
      )
      if (key !== undefined) {
        yield* keep ? store.complete(key, { status, body, requestId }) : store.release(key)
      }
      // what the operation changed and its idempotent result, kept together before anyone hears of them
      yield* Effect.sync(() => journal.commit())
      if (fault?.action === "drop_after_commit") {
        if (key !== undefined) yield* faults.droppedAfterCommit(key)
        return yield* dropConnection(request)
      }
      return respond(status, body, key === undefined ? headers : { ...headers, "idempotency-key": key })
    }), { uninterruptible: true }) // like Stripe, a request finishes even when its client gave up waiting

const stripeRoutes = [
  stripeRoute("POST", "/v1/customers", (l, { params, info }) => l.createCustomer(params, info)),
  stripeRoute("GET", "/v1/customers/:id", (l, { id }) => l.retrieveCustomer(id)),
  stripeRoute("POST", "/v1/customers/:id", (l, { id, params }) => l.updateCustomer(id, params)),
  stripeRoute(
    "GET",
    "/v1/customers/:id/payment_methods",
    (l, { id, params }) => l.listCustomerPaymentMethods(id, params)
  ),
  stripeRoute("GET", "/v1/payment_methods/:id", (l, { id }) => l.retrievePaymentMethod(id)),
  stripeRoute(
    "POST",
    "/v1/payment_methods/:id/attach",
    (l, { id, params, info }) => l.attachPaymentMethod(id, params, info)
  ),
  stripeRoute("POST", "/v1/payment_methods/:id/detach", (l, { id, params }) => l.detachPaymentMethod(id, params)),
  stripeRoute("POST", "/v1/payment_intents", (l, { params, info }) => l.createPaymentIntent(params, info)),
  stripeRoute("GET", "/v1/payment_intents", (l, { params }) => l.listPaymentIntents(params)),
  stripeRoute("GET", "/v1/payment_intents/:id", (l, { id }) => l.retrievePaymentIntent(id)),
  stripeRoute(
    "POST",
    "/v1/payment_intents/:id/confirm",
    (l, { id, params, info }) => l.confirmPaymentIntent(id, params, info)
  ),
  stripeRoute(
    "POST",
    "/v1/payment_intents/:id/cancel",
    (l, { id, params, info }) => l.cancelPaymentIntent(id, params, info)
  ),
  stripeRoute("POST", "/v1/refunds", (l, { params, info }) => l.createRefund(params, info)),
  stripeRoute("GET", "/v1/refunds/:id", (l, { id }) => l.retrieveRefund(id)),
  stripeRoute("GET", "/v1/charges/:id", (l, { id }) => l.retrieveCharge(id))
]

const unrecognized = HttpRouter.route("*", "/v1/*", (request) =>
  Effect.sync(() => {
    const path = new URL(request.url, "http://sandbox").pathname
    const error = new StripeApiError({
      status: 404,
      validation: true,
      body: {
        type: "invalid_request_error",
        message:
          `Unrecognized request URL (${request.method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`
      }
    })
    return respond(404, errorText(error), jsonHeaders(newId("req")))
  }))

// ---- control API ---------------------------------------------------------------------------------------------

const badControl = (error: unknown) =>
  Effect.succeed(HttpServerResponse.jsonUnsafe({ error: String(error) }, { status: 400 }))

const EndpointBody = Schema.Struct({ url: Schema.String, secret: Schema.String })
const FlushBody = Schema.Struct({
  order: Schema.optionalKey(Schema.Literals(["created", "reverse", "shuffle"])),
  copies: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0)))
})
const ChaosBody = Schema.Struct({
  duplicateProbability: Schema.Number.check(Schema.isBetween({ minimum: 0, maximum: 1 })),
  maxDelayMs: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
})

const controlRoutes = [
  HttpRouter.route(
    "POST",
    "/_sandbox/faults",
    Effect.gen(function*() {
      const rule = yield* HttpServerRequest.schemaBodyJson(FaultRule)
      yield* Faults.use((f) => f.inject(rule))
      return HttpServerResponse.jsonUnsafe({ ok: true })
    }).pipe(Effect.catch(badControl))
  ),
  HttpRouter.route(
    "DELETE",
    "/_sandbox/faults",
    Effect.as(Faults.use((f) => f.clear), HttpServerResponse.jsonUnsafe({ ok: true }))
  ),
  HttpRouter.route(
    "POST",
    "/_sandbox/webhook_endpoints",
    Effect.gen(function*() {
      const body = yield* HttpServerRequest.schemaBodyJson(EndpointBody)
      const endpoint = yield* Webhooks.use((w) => w.addEndpoint(body.url, body.secret))
      return HttpServerResponse.jsonUnsafe({ id: endpoint.id, url: endpoint.url })
    }).pipe(Effect.catch(badControl))
  ),
  HttpRouter.route(
    "POST",
    "/_sandbox/webhooks/hold",
    Effect.as(Webhooks.use((w) => w.hold), HttpServerResponse.jsonUnsafe({ ok: true }))
  ),
  HttpRouter.route(
    "POST",
    "/_sandbox/webhooks/flush",
    Effect.gen(function*() {
      const options = yield* HttpServerRequest.schemaBodyJson(FlushBody)
      const delivered = yield* Webhooks.use((w) => w.flush(options))
      return HttpServerResponse.jsonUnsafe({ delivered })
    }).pipe(Effect.catch(badControl))
  ),
  HttpRouter.route(
    "POST",
    "/_sandbox/webhooks/chaos",
    Effect.gen(function*() {
      const body = yield* HttpServerRequest.schemaBodyJson(ChaosBody)
      yield* Webhooks.use((w) =>
        w.chaos({ duplicateProbability: body.duplicateProbability, maxDelay: Duration.millis(body.maxDelayMs) })
      )
      return HttpServerResponse.jsonUnsafe({ ok: true })
    }).pipe(Effect.catch(badControl))
  ),
  HttpRouter.route(
    "GET",
    "/_sandbox/state",
    Effect.gen(function*() {
      const snapshot = yield* Ledger.use((l) => l.snapshot)
      const attempts = yield* Webhooks.use((w) => w.attempts)
      return HttpServerResponse.jsonUnsafe({
        customers: snapshot.customers.length,
        paymentIntents: snapshot.paymentIntents.length,
        charges: snapshot.charges.length,
        refunds: snapshot.refunds.length,
        webhookAttempts: attempts.length
      })
    })
  )
]

const health = HttpRouter.route(
  "GET",
  "/health",
  HttpServerResponse.jsonUnsafe({ status: "ok", service: "stripe-sandbox" })
)

/** Every route of the sandbox; needs the Ledger, Faults, IdempotencyStore, Journal and Webhooks services. */
export const SandboxRoutes = HttpRouter.addAll([...stripeRoutes, unrecognized, ...controlRoutes, health])
