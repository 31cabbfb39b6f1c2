// The payments RPC group served at POST /rpc (effect/rpc over HTTP, ndjson), behind the service token.
import { PaymentsRpcs } from "@kassa/domain/payments"
import { Effect, Layer } from "effect"
import { RpcServer } from "effect/rpc"
import { ServiceAuthLive } from "@kassa/platform/service-token"
import { orUnavailable } from "@kassa/platform/validation"
import { rpcSerialization } from "@kassa/clients/protocol"
import { Customers } from "./customers.ts"
import { PaymentMethods } from "./methods.ts"
import { Payments } from "./service.ts"

export const PaymentsRpcHandlers = PaymentsRpcs.toLayer(Effect.gen(function*() {
  const payments = yield* Payments
  const customers = yield* Customers
  const methods = yield* PaymentMethods
  // the database gone mid-call is a ServiceUnavailable billing retries, never a defect sent over the wire
  return PaymentsRpcs.of({
    CreatePayment: (input) => orUnavailable(payments.create(input)),
    CancelPayment: (input) => orUnavailable(payments.cancel(input)),
    GetPayment: ({ paymentId }) => orUnavailable(payments.get(paymentId)),
    EnsureCustomer: (input) => orUnavailable(customers.ensureCustomer(input)),
    AttachPaymentMethod: (input) => orUnavailable(customers.attachPaymentMethod(input)),
    ListPaymentMethods: ({ userId }) => orUnavailable(methods.list(userId)),
    DetachPaymentMethod: ({ paymentMethod, userId }) => orUnavailable(methods.detach(userId, paymentMethod))
  })
}))

/** Registers POST /rpc on the app's router (see serveApi's `extraRoutes`). */
export const PaymentsRpcRoutes = RpcServer.layerHttp({ group: PaymentsRpcs, path: "/rpc", protocol: "http" }).pipe(
  Layer.provide([PaymentsRpcHandlers, rpcSerialization, ServiceAuthLive])
)
