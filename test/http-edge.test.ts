// The HTTP edge every app shares, on real servers (ephemeral ports, the real Postgres, Redis and RabbitMQ): security
// headers on every response with a CSP that lets /docs run only its own scripts, /metrics behind METRICS_TOKEN,
// unauthorized /rpc refused with HTTP 401, slow clients cut off, connections capped per address, and what node:http
// refuses itself answered as JSON.
import { BillingLive } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { PaymentsLive } from "@kassa/payments/main"
import { developmentServiceToken } from "@kassa/platform/config"
import { serverUrl } from "@kassa/platform/http"
import { signedToken, TestPlatform } from "@kassa/platform/testing"
import { assert, describe, layer } from "@effect/vitest"
import { createHash, randomBytes } from "node:crypto"
import { connect, type Socket } from "node:net"
import { ConfigProvider, Effect, Layer } from "effect"
import { HttpServer } from "effect/http"

const metricsToken = "metrics-test-token-0123456789"
const jwtSecret = randomBytes(32).toString("base64url")

const adminToken = signedToken(jwtSecret, { sub: "usr_admin", email: "admin@example.com", role: "admin" })

const withConfig = (config: Record<string, string>) =>
  ConfigProvider.layerAdd(ConfigProvider.fromUnknown(config), { asPrimary: true })

const baseUrl = Effect.map(Effect.service(HttpServer.HttpServer), serverUrl)

const get = (path: string, init: RequestInit = {}) =>
  Effect.flatMap(baseUrl, (base) =>
    Effect.promise(async () => {
      const response = await fetch(`${base}${path}`, init)
      return { status: response.status, headers: response.headers, text: await response.text() }
    }))

/** A raw TCP client: writes what it is given, collects what comes back until the server closes. */
const rawConnection = (write: (socket: Socket) => void) =>
  Effect.flatMap(baseUrl, (base) =>
    Effect.callback<string>((resume) => {
      const url = new URL(base)
      const socket = connect(Number(url.port), url.hostname)
      let received = ""
      socket.on("data", (data) => (received += data.toString()))
      socket.on("error", () => {})
      socket.on("close", () => resume(Effect.succeed(received)))
      socket.on("connect", () => write(socket))
      return Effect.sync(() => socket.destroy())
    }))

const expectSecurityHeaders = (headers: Headers, what: string) => {
  assert.strictEqual(headers.get("x-content-type-options"), "nosniff", what)
  assert.strictEqual(headers.get("x-frame-options"), "DENY", what)
  assert.strictEqual(headers.get("referrer-policy"), "no-referrer", what)
  assert.include(headers.get("content-security-policy") ?? "", "frame-ancestors 'none'", what)
}

const Catalog = CatalogLive.pipe(
  Layer.provide(withConfig({
    METRICS_TOKEN: metricsToken,
    JWT_SECRET: jwtSecret,
    HTTP_HEADERS_TIMEOUT: "1 second",
    HTTP_RECEIVE_TIMEOUT: "2 seconds",
    HTTP_MAX_CONNECTIONS_PER_ADDRESS: "4"
  })),
  Layer.provideMerge(TestPlatform)
)

layer(Catalog, { excludeTestServices: true, timeout: 30_000 })("the HTTP edge (catalog)", (it) => {
  it.effect("every response carries the security headers: hot, API, error, not found, docs", () =>
    Effect.gen(function*() {
      for (const path of [
        "/health",
        "/ready",
        "/openapi.json",
        "/admin/v1/films",
        "/admin/v1/films/%00",
        "/nowhere",
        "/docs"
      ]) {
        expectSecurityHeaders((yield* get(path)).headers, path)
      }
      // an error the router answers without a body (no route, an undecodable path) gets a JSON one
      for (const path of ["/nowhere", "/admin/v1/films/%ED%A0%80"]) {
        const missing = yield* get(path)
        assert.deepStrictEqual(
          [missing.status, (JSON.parse(missing.text) as { _tag: string })._tag],
          [404, "NotFound"],
          path
        )
      }
      const api = yield* get("/openapi.json")
      assert.strictEqual(
        api.headers.get("content-security-policy"),
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
      )
    }))

  it.effect("/docs runs only its own inline scripts (by hash), its fonts, and requests to this origin", () =>
    Effect.gen(function*() {
      const docs = yield* get("/docs")
      assert.strictEqual(docs.status, 200)
      const policy = docs.headers.get("content-security-policy") ?? ""
      const scripts = [...docs.text.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1] ?? "")
      assert.strictEqual(scripts.length, 2)
      for (const script of scripts) {
        assert.include(policy, `'sha256-${createHash("sha256").update(script).digest("base64")}'`)
      }
      assert.notInclude(policy.split("; ").find((d) => d.startsWith("script-src")) ?? "", "unsafe")
      assert.include(policy, "font-src https://fonts.scalar.com")
      assert.include(policy, "connect-src 'self'")
      assert.notInclude(docs.text, "<script src=")
    }))

  it.effect("with METRICS_TOKEN, /metrics answers 401 without it or with another, 200 with it", () =>
    Effect.gen(function*() {
      const none = yield* get("/metrics")
      assert.strictEqual(none.status, 401)
      assert.strictEqual((JSON.parse(none.text) as { _tag: string })._tag, "Unauthorized")
      assert.strictEqual(none.headers.get("www-authenticate"), "Bearer")
      assert.strictEqual((yield* get("/metrics?x=1", { headers: { authorization: "Bearer wrong" } })).status, 401)
      const ok = yield* get("/metrics", { headers: { authorization: `Bearer ${metricsToken}` } })
      assert.strictEqual(ok.status, 200)
      assert.match(ok.text, /http_requests_total/)
    }))

  it.effect("a silent connection, a header trickle and a trickled body are each cut off (408 as JSON where it can say so)", () =>
    Effect.gen(function*() {
      const silent = yield* rawConnection(() => {}).pipe(Effect.timeout("15 seconds"))
      // closed, with nothing or a 408 (it never sent a request to answer)
      assert.isTrue(silent === "" || silent.startsWith("HTTP/1.1 408 "), silent)
      const trickle = yield* rawConnection((socket) => {
        socket.write("GET /health HTTP/1.1\r\nHost: x\r\n")
        const timer = setInterval(() => socket.writable && socket.write("X-Slow: 1\r\n"), 200)
        socket.on("close", () => clearInterval(timer))
      }).pipe(Effect.timeout("15 seconds"))
      assert.match(trickle, /^HTTP\/1\.1 408 /)
      assert.include(trickle, `{"_tag":"RequestTimeout","message":"the request was not received in time"}`)
      assert.include(trickle, "x-frame-options: DENY")
      const token = yield* adminToken
      const body = yield* rawConnection((socket) => {
        socket.write(
          `POST /admin/v1/films HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n` +
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        const timer = setInterval(() => socket.writable && socket.write(" "), 200)
        socket.on("close", () => clearInterval(timer))
      }).pipe(Effect.timeout("15 seconds"))
      assert.match(body, /^HTTP\/1\.1 408 /)
    }))

  it.effect("what node:http cannot parse answers 400 as JSON", () =>
    Effect.gen(function*() {
      const answer = yield* rawConnection((socket) => socket.write("NOT HTTP AT ALL\r\n\r\n")).pipe(
        Effect.timeout("15 seconds")
      )
      assert.match(answer, /^HTTP\/1\.1 400 /)
      assert.include(answer, `"_tag":"BadRequest"`)
    }))

  it.effect("an address holding HTTP_MAX_CONNECTIONS_PER_ADDRESS connections gets no more until one closes", () =>
    Effect.gen(function*() {
      const base = new URL(yield* baseUrl)
      const open = (): Promise<Socket> =>
        new Promise((resolve) => {
          const socket = connect(Number(base.port), base.hostname, () => resolve(socket))
          socket.on("error", () => {})
        })
      const answered = (socket: Socket) =>
        new Promise<boolean>((resolve) => {
          socket.once("data", () => resolve(true))
          socket.once("close", () => resolve(false))
          socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        })
      const held = yield* Effect.promise(() => Promise.all([open(), open(), open(), open()]))
      const extra = yield* Effect.promise(open)
      assert.isFalse(yield* Effect.promise(() => answered(extra)))
      assert.isTrue(yield* Effect.promise(() => answered(held[0]!)))
      held[1]!.destroy()
      yield* Effect.sleep("100 millis")
      const again = yield* Effect.promise(open)
      assert.isTrue(yield* Effect.promise(() => answered(again)))
      for (const socket of [...held, again]) socket.destroy()
    }))
})

const unauthorizedRpc = Effect.gen(function*() {
  const call = { _tag: "Request", id: "1", tag: "GetPayment", payload: { paymentId: "pay_1" }, headers: [] }
  for (const authorization of [undefined, "Bearer not-the-token"]) {
    const answer = yield* get("/rpc", {
      method: "POST",
      headers: { "content-type": "application/json", ...(authorization === undefined ? {} : { authorization }) },
      body: JSON.stringify(call)
    })
    assert.strictEqual(answer.status, 401)
    assert.deepStrictEqual(JSON.parse(answer.text), {
      _tag: "Unauthorized",
      message: "missing or invalid service token"
    })
    expectSecurityHeaders(answer.headers, "/rpc")
  }
  // with the token (the development one: SERVICE_TOKEN is unset here) the call reaches the RPC layer
  const through = yield* get("/rpc", {
    method: "POST",
    headers: { "content-type": "application/ndjson", authorization: `Bearer ${developmentServiceToken}` },
    body: JSON.stringify(call) + "\n"
  })
  assert.strictEqual(through.status, 200)
})

const rpcTest = "a call without the service token, or with another, is an HTTP 401 before the RPC layer"

describe("billing /rpc", () => {
  layer(BillingLive.pipe(Layer.provideMerge(TestPlatform)), { excludeTestServices: true, timeout: 30_000 })((it) => {
    it.effect(rpcTest, () => unauthorizedRpc)
  })
})

describe("payments /rpc", () => {
  layer(PaymentsLive.pipe(Layer.provideMerge(TestPlatform)), { excludeTestServices: true, timeout: 30_000 })((it) => {
    it.effect(rpcTest, () => unauthorizedRpc)
  })
})
