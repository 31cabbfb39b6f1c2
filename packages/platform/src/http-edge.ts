// What every app's HTTP server does before and around its routes: socket timeouts and a per-address connection cap
// against slow or greedy clients, JSON answers for requests node:http itself refuses, security headers (with a CSP
// that fits the Scalar page at /docs) on every response, and the METRICS_TOKEN guard on /metrics.
import { createHash, timingSafeEqual } from "node:crypto"
import type { Server, ServerOptions } from "node:http"
import type { Socket } from "node:net"
import { Duration, Effect, Option, Redacted } from "effect"
import { HttpEffect, HttpServerRequest, HttpServerResponse } from "effect/http"

// ---- sockets ----------------------------------------------------------------------------------------------------

/** node:http's own timeouts, checked every second (its default check interval is 30 s). */
export const serverOptions = (http: {
  readonly headersTimeout: Duration.Duration
  readonly receiveTimeout: Duration.Duration
  readonly keepAliveTimeout: Duration.Duration
}): ServerOptions => ({
  headersTimeout: Duration.toMillis(http.headersTimeout),
  requestTimeout: Duration.toMillis(http.receiveTimeout),
  keepAliveTimeout: Duration.toMillis(http.keepAliveTimeout),
  connectionsCheckingInterval: 1_000
})

/** Destroys a new connection from an address that already holds `max` (0: no cap). */
export const capConnectionsPerAddress = (server: Server, max: number): Server => {
  if (max <= 0) return server
  const open = new Map<string, number>()
  server.on("connection", (socket: Socket) => {
    const address = socket.remoteAddress ?? "unknown"
    const count = (open.get(address) ?? 0) + 1
    if (count > max) return void socket.destroy()
    open.set(address, count)
    socket.once("close", () => {
      const left = (open.get(address) ?? 1) - 1
      if (left === 0) open.delete(address)
      else open.set(address, left)
    })
  })
  return server
}

// ---- security headers -------------------------------------------------------------------------------------------

/** On every response: nothing may frame it, sniff its type or learn where its links were followed from. */
export const securityHeaders: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  // JSON and text need nothing loaded; /docs gets its own (docsPolicy)
  "content-security-policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}

/**
 * The Scalar page (HttpApiScalar, bundled: no CDN) runs two inline scripts, the bundle and its start-up, which the
 * policy allows by hash, so nothing else inline can run; it injects styles, loads its fonts from fonts.scalar.com
 * and sends "try it" requests to this origin.
 */
const docsPolicy = (scriptHashes: ReadonlyArray<string>) =>
  [
    "default-src 'none'",
    `script-src ${scriptHashes.map((hash) => `'sha256-${hash}'`).join(" ")}`,
    "style-src 'unsafe-inline'",
    "font-src https://fonts.scalar.com",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'"
  ].join("; ")

const inlineScripts = /<script>([\s\S]*?)<\/script>/g
const docsPolicies = new WeakMap<Uint8Array, string>()

const policyOf = (response: HttpServerResponse.HttpServerResponse): string => {
  const body = response.body
  if (body._tag !== "Uint8Array" || !(response.headers["content-type"] ?? "").startsWith("text/html")) {
    return securityHeaders["content-security-policy"]!
  }
  // the docs page is built once per app, so its hashes are computed once
  let policy = docsPolicies.get(body.body)
  if (policy === undefined) {
    const html = Buffer.from(body.body).toString("utf8")
    const hashes = [...html.matchAll(inlineScripts)].map((m) =>
      createHash("sha256").update(m[1] ?? "").digest("base64")
    )
    policy = docsPolicy(hashes)
    docsPolicies.set(body.body, policy)
  }
  return policy
}

const withSecurityHeaders = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, { ...securityHeaders, "content-security-policy": policyOf(response) })

// ---- /metrics -----------------------------------------------------------------------------------------------------

const json = (status: number, body: object, headers: Record<string, string> = {}) =>
  HttpServerResponse.jsonUnsafe(body, { status, headers })

const bearerOf = (authorization: string | undefined) => /^Bearer +(.+)$/i.exec(authorization ?? "")?.[1] ?? ""

const sameSecret = (presented: string, expected: Buffer) => {
  const given = Buffer.from(presented)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/**
 * The middleware every app's routes run in: security headers on whatever answers, a JSON body on errors answered
 * without one, and with METRICS_TOKEN set, `/metrics` only for `Authorization: Bearer <token>` (401 otherwise).
 */
export const edgeMiddleware = (metricsToken: Option.Option<Redacted.Redacted<string>>) => {
  const expected = Option.map(metricsToken, (token) => Buffer.from(Redacted.value(token)))
  const refused = json(
    401,
    { _tag: "Unauthorized", message: "/metrics needs Authorization: Bearer <METRICS_TOKEN>" },
    { "www-authenticate": "Bearer" }
  )
  return <E, R>(app: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>) =>
    Effect.gen(function*() {
      yield* HttpEffect.appendPreResponseHandler((_request, response) =>
        Effect.succeed(withSecurityHeaders(withRetryAfter(withErrorBody(response))))
      )
      if (Option.isSome(expected)) {
        const request = yield* HttpServerRequest.HttpServerRequest
        const path = request.url.split("?")[0]
        if (path === "/metrics" && !sameSecret(bearerOf(request.headers["authorization"]), expected.value)) {
          return refused
        }
      }
      return yield* app
    })
}

/** However a 503 comes about (the database, a peer, the request deadline), it says when to come back. */
const withRetryAfter = (response: HttpServerResponse.HttpServerResponse) =>
  response.status === 503 && response.headers["retry-after"] === undefined
    ? HttpServerResponse.setHeader(response, "retry-after", "1")
    : response

const emptyErrorTags: Readonly<Record<number, readonly [string, string]>> = {
  400: ["BadRequest", "the request is not valid"],
  404: ["NotFound", "no such route"],
  405: ["MethodNotAllowed", "method not allowed"],
  500: ["InternalError", "unexpected error"]
}

/**
 * An error answered without a body (the router's 404 for no route, a path it cannot decode or a segment past its
 * length limit; a defect's 500) gets a JSON `{_tag, message}` like every other error.
 */
const withErrorBody = (response: HttpServerResponse.HttpServerResponse) => {
  if (response.status < 400 || response.body._tag !== "Empty") return response
  const [tag, message] = emptyErrorTags[response.status] ?? ["HttpError", `HTTP ${response.status}`]
  return json(response.status, { _tag: tag, message }, response.headers)
}

// ---- what node:http refuses itself ----------------------------------------------------------------------------------

const rawHeaders = Object.entries(securityHeaders).map(([name, value]) => `${name}: ${value}\r\n`).join("")

/**
 * A request node:http cannot parse (bad bytes, oversized headers) or that timed out gets a JSON error like every
 * other refusal, and the connection is closed.
 */
export const answerClientErrors = (server: Server): Server => {
  server.on("clientError", (error: NodeJS.ErrnoException, socket: Socket) => {
    if (error.code === "ECONNRESET" || !socket.writable) return void socket.destroy()
    const [status, reason, tag, message] = error.code === "ERR_HTTP_REQUEST_TIMEOUT"
      ? [408, "Request Timeout", "RequestTimeout", "the request was not received in time"]
      : error.code === "HPE_HEADER_OVERFLOW"
      ? [431, "Request Header Fields Too Large", "BadRequest", "the request headers are too large"]
      : [400, "Bad Request", "BadRequest", "the request is not valid HTTP"]
    const body = JSON.stringify({ _tag: tag, message })
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${
        Buffer.byteLength(body)
      }\r\n` +
        `connection: close\r\n${rawHeaders}\r\n${body}`
    )
  })
  return server
}
