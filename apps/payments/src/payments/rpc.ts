// The payments RPC group served at POST /rpc (effect/rpc over HTTP, ndjson), behind the service token.
import { PaymentsRpcs } from "@kassa/domain/payments"
import { Effect, Layer } from "effect"
import { RpcServer } from "effect/rpc"
import { ServiceAuthLive } from "@kassa/platform/service-token"
import { rpcSerialization } from "@kassa/clients/protocol"
import { Customers } from "./customers.ts"
import { PaymentMethods } from "./methods.ts"
import { Payments } from "./service.ts"

export const PaymentsRpcHandlers = PaymentsRpcs.toLayer(Effect.gen(function*() {
  const payments = yield* Payments
  const customers = yield* Customers
  const methods = yield* PaymentMethods
  return PaymentsRpcs.of({
    CreatePayment: (input) => payments.create(input),
    CancelPayment: (input) => payments.cancel(input),
    GetPayment: ({ paymentId }) => payments.get(paymentId),
    EnsureCustomer: (input) => customers.ensureCustomer(input),
    AttachPaymentMethod: (input) => customers.attachPaymentMethod(input),
    ListPaymentMethods: ({ userId }) => methods.list(userId),
    DetachPaymentMethod: ({ paymentMethod, userId }) => methods.detach(userId, paymentMethod)
  })
}))

/** Registers POST /rpc on the app's router (see serveApi's `extraRoutes`). */
export const PaymentsRpcRoutes = RpcServer.layerHttp({ group: PaymentsRpcs, path: "/rpc", protocol: "http" }).pipe(
  Layer.provide([PaymentsRpcHandlers, rpcSerialization, ServiceAuthLive])
)
