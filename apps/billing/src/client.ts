// The typed client other services import to ask billing about entitlements (and to verify a viewer's access
// token): `EntitlementsRpcClient.layer(url, serviceToken)`, e.g. url `http://127.0.0.1:3000/rpc`.
import { EntitlementRpcs } from "@kassa/domain/entitlements"
import { rpcSerialization } from "@kassa/payments/client"
import { serviceRpcProtocol } from "@kassa/platform/service-token"
import { NodeHttpClient } from "@effect/platform-node"
import { Context, Layer, type Redacted } from "effect"
import { RpcClient, type RpcClientError } from "effect/rpc"

export class EntitlementsRpcClient extends Context.Service<
  EntitlementsRpcClient,
  RpcClient.FromGroup<typeof EntitlementRpcs, RpcClientError.RpcClientError>
>()("kassa/EntitlementsRpcClient") {
  static readonly layer = (url: string, token: Redacted.Redacted<string>) =>
    Layer.effect(EntitlementsRpcClient, RpcClient.make(EntitlementRpcs)).pipe(
      Layer.provide(serviceRpcProtocol(url, token).pipe(Layer.provide([rpcSerialization, NodeHttpClient.layerUndici])))
    )
}
