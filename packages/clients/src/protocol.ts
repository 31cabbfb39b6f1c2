// How Kassa's services call each other: effect/rpc over HTTP, newline-delimited JSON, with the deployment's service
// token presented on every request. The servers (billing's and payments' `/rpc`) use the same serialization.
import { ServiceAuth } from "@kassa/domain/auth"
import { NodeHttpClient } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import { Headers, HttpClient, HttpClientRequest } from "effect/http"
import { RpcClient, RpcMiddleware, RpcSerialization } from "effect/rpc"

/** Every RPC endpoint of Kassa speaks newline-delimited JSON over HTTP. */
export const rpcSerialization = RpcSerialization.layerNdjson

/** Client side of the RPC middleware: adds the token to every call. */
export const serviceAuthClient = (token: Redacted.Redacted<string>) =>
  RpcMiddleware.layerClient(
    ServiceAuth,
    ({ next, request }) =>
      next({ ...request, headers: Headers.set(request.headers, "authorization", `Bearer ${Redacted.value(token)}`) })
  )

/**
 * An RPC client's HTTP protocol presenting the service token twice: on every HTTP request, for the endpoint's
 * `ServiceTokenGuard`, and on every call, for the RPC middleware. Needs an HttpClient and an RpcSerialization.
 */
export const serviceRpcProtocol = (url: string, token: Redacted.Redacted<string>) =>
  Layer.mergeAll(
    RpcClient.layerProtocolHttp({ url }).pipe(Layer.provide(Layer.effect(
      HttpClient.HttpClient,
      // a refusal (401 from the guard) fails the call with its status rather than as an unreadable answer
      Effect.map(
        Effect.service(HttpClient.HttpClient),
        (client) =>
          client.pipe(
            HttpClient.mapRequest(HttpClientRequest.bearerToken(Redacted.value(token))),
            HttpClient.filterStatusOk
          )
      )
    ))),
    serviceAuthClient(token)
  )

/** The protocol over undici's own request API: pooled keep-alive connections, measurably cheaper per call than fetch. */
export const serviceClientProtocol = (url: string, token: Redacted.Redacted<string>) =>
  serviceRpcProtocol(url, token).pipe(Layer.provide([rpcSerialization, NodeHttpClient.layerUndici]))
