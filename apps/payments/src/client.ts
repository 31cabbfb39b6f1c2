// Typed RPC clients derived from the contracts in @kassa/domain/payments: billing uses PaymentsRpcClient to
// call payments; payments uses BillingCallbackClient to report outcomes to billing. Both add the service token.
import { NodeHttpClient } from "@effect/platform-node"
import { BillingCallbackRpcs, PaymentsRpcs } from "@kassa/domain/payments"
import { Context, Layer, type Redacted } from "effect"
import { RpcClient, type RpcClientError, RpcSerialization } from "effect/rpc"
import { serviceRpcProtocol } from "@kassa/platform/service-token"

/** Every RPC endpoint of Kassa speaks newline-delimited JSON over HTTP. */
export const rpcSerialization = RpcSerialization.layerNdjson

// undici's own request API: pooled keep-alive connections, measurably cheaper per call than fetch
const clientLayer = (url: string, token: Redacted.Redacted<string>) =>
  serviceRpcProtocol(url, token).pipe(Layer.provide([rpcSerialization, NodeHttpClient.layerUndici]))

export class PaymentsRpcClient extends Context.Service<
  PaymentsRpcClient,
  RpcClient.FromGroup<typeof PaymentsRpcs, RpcClientError.RpcClientError>
>()("kassa/PaymentsRpcClient") {
  /** `url` is the absolute RPC endpoint, e.g. `http://127.0.0.1:3001/rpc`. */
  static readonly layer = (url: string, token: Redacted.Redacted<string>) =>
    Layer.effect(PaymentsRpcClient, RpcClient.make(PaymentsRpcs)).pipe(Layer.provide(clientLayer(url, token)))
}

export class BillingCallbackClient extends Context.Service<
  BillingCallbackClient,
  RpcClient.FromGroup<typeof BillingCallbackRpcs, RpcClientError.RpcClientError>
>()("kassa/BillingCallbackClient") {
  static readonly layer = (url: string, token: Redacted.Redacted<string>) =>
    Layer.effect(BillingCallbackClient, RpcClient.make(BillingCallbackRpcs)).pipe(Layer.provide(clientLayer(url, token)))
}
