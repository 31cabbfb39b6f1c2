import { assert, describe, it } from "@effect/vitest"
import { Effect, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, OpenApi } from "effect/http-api"
import {
  BadRequest,
  CurrencyMismatch,
  Forbidden,
  InvalidAmount,
  MoneyOverflow,
  NotFound,
  ProviderUnavailable,
  RateLimited,
  ServiceUnavailable,
  Unauthorized
} from "../src/index.ts"
import { IdempotencyInFlight, IdempotencyKeyReused } from "../src/idempotency.ts"
import { PlanNotOnSale, SubscriptionEnded } from "../src/billing.ts"
import { AlreadyRefunded, RefundWindowClosed } from "../src/payments.ts"

// the status each error answers with
const expected = [
  [BadRequest, 400],
  [Unauthorized, 401],
  [Forbidden, 403],
  [NotFound, 404],
  [SubscriptionEnded, 409],
  [IdempotencyInFlight, 409],
  [AlreadyRefunded, 409],
  [PlanNotOnSale, 422],
  [IdempotencyKeyReused, 422],
  [RefundWindowClosed, 422],
  [RateLimited, 429],
  [ProviderUnavailable, 502],
  [ServiceUnavailable, 503],
  [InvalidAmount, 400],
  [CurrencyMismatch, 422],
  [MoneyOverflow, 422]
] as const

describe("typed errors", () => {
  it("carry their documented status in their httpApiStatus annotation", () => {
    for (const [error, status] of expected) {
      assert.strictEqual(Schema.resolveAnnotations(error)?.httpApiStatus, status, error.identifier)
    }
  })

  it("become the documented responses of an endpoint", () => {
    const Api = HttpApi.make("errors-test").add(
      HttpApiGroup.make("g").add(
        HttpApiEndpoint.get("x", "/x", { success: Schema.String, error: expected.map(([error]) => error) })
      )
    )
    const operation = OpenApi.fromApi(Api).paths["/x"]?.get
    const documented = Object.keys(operation?.responses ?? {}).sort()
    assert.deepStrictEqual(documented, ["200", "400", "401", "403", "404", "409", "422", "429", "502", "503"])
  })

  it.effect("encode to a { _tag, message, ... } body and are yieldable failures", () =>
    Effect.gen(function*() {
      const encode = Schema.encodeSync(BadRequest)
      assert.deepStrictEqual(
        encode(new BadRequest({ message: "email is required", field: "email" })),
        { _tag: "BadRequest", message: "email is required", field: "email" }
      )
      assert.deepStrictEqual(
        Schema.encodeSync(RateLimited)(new RateLimited({ message: "slow down", retryAfterSeconds: 30 })),
        { _tag: "RateLimited", message: "slow down", retryAfterSeconds: 30 }
      )
      const error = yield* Effect.flip(Effect.gen(function*() {
        return yield* new NotFound({ message: "payment not found", resource: "payment" })
      }))
      assert.strictEqual(error._tag, "NotFound")
      assert.strictEqual(error.message, "payment not found")
      assert.throws(() => new RateLimited({ message: "x", retryAfterSeconds: 1.5 }))
    }))
})
