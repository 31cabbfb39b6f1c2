// The callback group payments calls with each payment outcome (BillingCallbackRpcs), served at POST /rpc on
// billing's port behind the service token. Applying an outcome is idempotent: its id is recorded in the same
// transaction, so a redelivery changes nothing.
import { EntitlementRpcs } from "@kassa/domain/entitlements"
import { BillingCallbackRpcs } from "@kassa/domain/payments"
import { rpcSerialization } from "@kassa/clients/protocol"
import { ServiceAuthLive } from "@kassa/platform/service-token"
import { Effect, Layer } from "effect"
import { RpcServer } from "effect/rpc"
import { EntitlementRpcHandlers } from "../entitlements/rpc.ts"
import { Outcomes } from "../ledger/outcomes.ts"

export const BillingCallbackHandlers = BillingCallbackRpcs.toLayer(Effect.gen(function*() {
  const outcomes = yield* Outcomes
  return BillingCallbackRpcs.of({
    // a database outage is a defect here: payments sees the call fail and redelivers it later
    PaymentOutcome: (outcome) => outcomes.apply(outcome.payment, outcome.id).pipe(Effect.asVoid, Effect.orDie)
  })
}))

/** Every RPC billing serves, at one endpoint: the payment callback and the entitlement checks. */
export const BillingRpcRoutes = RpcServer.layerHttp({
  group: BillingCallbackRpcs.merge(EntitlementRpcs),
  path: "/rpc",
  protocol: "http"
}).pipe(
  Layer.provide([BillingCallbackHandlers, EntitlementRpcHandlers, rpcSerialization, ServiceAuthLive])
)
