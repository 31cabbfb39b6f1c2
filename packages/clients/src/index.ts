// Typed clients of Kassa's RPC contracts (packages/domain), each presenting the service token:
// `PaymentsRpcClient` (billing charges and refunds through payments), `BillingCallbackClient` (payments reports
// outcomes to billing) and `EntitlementsRpcClient` (other services ask billing about access and tokens).
// `url` is the absolute RPC endpoint, e.g. `http://127.0.0.1:3001/rpc`.
import { EntitlementRpcs } from "@kassa/domain/entitlements"
import { BillingCallbackRpcs, PaymentsRpcs } from "@kassa/domain/payments"
import { Context, Layer, type Redacted } from "effect"
import { RpcClient, type RpcClientError } from "effect/rpc"
import { serviceClientProtocol } from "./protocol.ts"

export class PaymentsRpcClient extends Context.Service<
  PaymentsRpcClient,
  RpcClient.FromGroup<typeof PaymentsRpcs, RpcClientError.RpcClientError>
>()("kassa/PaymentsRpcClient") {
  static readonly layer = (url: string, token: Redacted.Redacted<string>) =>
    Layer.effect(PaymentsRpcClient, RpcClient.make(PaymentsRpcs)).pipe(Layer.provide(serviceClientProtocol(url, token)))
}

export class BillingCallbackClient extends Context.Service<
  BillingCallbackClient,
  RpcClient.FromGroup<typeof BillingCallbackRpcs, RpcClientError.RpcClientError>
>()("kassa/BillingCallbackClient") {
  static readonly layer = (url: string, token: Redacted.Redacted<string>) =>
    Layer.effect(BillingCallbackClient, RpcClient.make(BillingCallbackRpcs)).pipe(
      Layer.provide(serviceClientProtocol(url, token))
    )
}

export class EntitlementsRpcClient extends Context.Service<
  EntitlementsRpcClient,
  RpcClient.FromGroup<typeof EntitlementRpcs, RpcClientError.RpcClientError>
>()("kassa/EntitlementsRpcClient") {
  static readonly layer = (url: string, token: Redacted.Redacted<string>) =>
    Layer.effect(EntitlementsRpcClient, RpcClient.make(EntitlementRpcs)).pipe(
      Layer.provide(serviceClientProtocol(url, token))
    )
}
