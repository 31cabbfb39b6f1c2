// The operator twin of the RPC group under /v1/payments (service token; see PaymentsGroup).
import { PaymentsApi } from "@kassa/domain/apis"
import { RequestValidationLive } from "@kassa/platform/validation"
import { Effect, Layer } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { ServiceTokenAuthLive } from "@kassa/platform/service-token"
import { Customers } from "./customers.ts"
import { PaymentMethods } from "./methods.ts"
import { Payments } from "./service.ts"

export const PaymentsHttpLive = HttpApiBuilder.group(
  PaymentsApi,
  "payments",
  Effect.fn(function*(handlers) {
    const payments = yield* Payments
    const customers = yield* Customers
    const methods = yield* PaymentMethods
    return handlers
      .handle(
        "create",
        ({ headers, payload }) => payments.create({ ...payload, idempotencyKey: headers["idempotency-key"] })
      )
      .handle("get", ({ params }) => payments.get(params.id))
      .handle(
        "cancel",
        ({ headers, params, payload }) =>
          payments.cancel({ ...payload, paymentId: params.id, idempotencyKey: headers["idempotency-key"] })
      )
      .handle("ensureCustomer", ({ payload }) => customers.ensureCustomer(payload))
      .handle(
        "attachPaymentMethod",
        ({ params, payload }) => customers.attachPaymentMethod({ ...payload, userId: params.userId })
      )
      .handle("listPaymentMethods", ({ params }) => methods.list(params.userId))
      .handle("detachPaymentMethod", ({ params }) => methods.detach(params.userId, params.paymentMethod))
  })
).pipe(Layer.provide([ServiceTokenAuthLive, RequestValidationLive]))
