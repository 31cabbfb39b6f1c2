// The console's server: its files with their security headers, the API routes passed on to the right app with the
// request intact, and nothing outside dist/ served whatever the path says.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { createServer, type IncomingMessage } from "node:http"
import * as ConsoleServer from "../src/serve.ts"

/** A stand-in app: answers every request with what it received. */
const echo = (name: string) =>
  Effect.acquireRelease(
    Effect.callback<{ url: URL; close: () => void }>((resume) => {
      const server = createServer((request: IncomingMessage, response) => {
        let body = ""
        request.on("data", (chunk) => (body += chunk))
        request.on("end", () => {
          response.writeHead(201, { "content-type": "application/json", "x-app": name })
          response.end(
            JSON.stringify({ app: name, method: request.method, url: request.url, headers: request.headers, body })
          )
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ url: new URL(`http://127.0.0.1:${port}`), close: () => server.close() }))
      })
    }),
    (app) => Effect.sync(app.close)
  )

const serve = (upstreams: ConsoleServer.ConsoleUpstreams) =>
  Effect.map(
    Layer.build(ConsoleServer.layer({ host: "127.0.0.1", port: 0, upstreams })),
    (ctx) => Context.get(ctx, ConsoleServer.ConsoleServer).url
  )

const get = (url: string, init?: RequestInit) =>
  Effect.promise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, headers: response.headers, text: await response.text() }
  })

describe("console server", () => {
  it("routes films and products to catalog, the rest of /v1 and /admin/v1 to billing, anything else to its files", () => {
    const upstreams = { billing: new URL("http://billing"), catalog: new URL("http://catalog") }
    const route = (path: string) => ConsoleServer.upstreamOf(path, upstreams)?.host ?? "files"
    assert.deepStrictEqual(
      [
        "/admin/v1/films",
        "/admin/v1/films/film_1",
        "/admin/v1/products?status=active",
        "/admin/v1/invoices",
        "/v1/products",
        "/v1/auth/token",
        "/",
        "/assets/index.js",
        "/v10",
        "/admin/v1/filmsx"
      ].map(route),
      ["catalog", "catalog", "catalog", "billing", "billing", "billing", "files", "files", "files", "billing"]
    )
  })

  it.live("passes API requests on intact and serves the page with its security headers", () =>
    Effect.gen(function*() {
      const billing = yield* echo("billing")
      const catalog = yield* echo("catalog")
      const url = yield* serve({ billing: billing.url, catalog: catalog.url })

      const token = yield* get(`${url}/v1/auth/token?x=1`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: "Bearer abc" },
        body: JSON.stringify({ email: "a@example.com" })
      })
      assert.strictEqual(token.status, 201)
      const seen = JSON.parse(token.text)
      assert.deepStrictEqual(
        [seen.app, seen.method, seen.url, seen.body],
        ["billing", "POST", "/v1/auth/token?x=1", `{"email":"a@example.com"}`]
      )
      assert.strictEqual(seen.headers.authorization, "Bearer abc")
      assert.strictEqual(seen.headers["x-forwarded-for"], "127.0.0.1")
      assert.strictEqual(JSON.parse((yield* get(`${url}/admin/v1/films`)).text).app, "catalog")

      const page = yield* get(`${url}/`)
      assert.strictEqual(page.status, 200)
      assert.match(page.text, /<div id="root">/)
      assert.match(page.headers.get("content-security-policy") ?? "", /script-src 'self'/)
      assert.strictEqual(page.headers.get("x-frame-options"), "DENY")
      const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(page.text)?.[1]
      assert.isDefined(script)
      const asset = yield* get(`${url}/${script}`)
      assert.strictEqual(asset.headers.get("content-type"), "text/javascript; charset=utf-8")
      assert.match(asset.headers.get("cache-control") ?? "", /immutable/)
    }))

  it.live("never serves a file outside its build, and a bad path or a missing app is an answer, not a crash", () =>
    Effect.gen(function*() {
      const billing = yield* echo("billing")
      const url = yield* serve({ billing: billing.url, catalog: new URL("http://127.0.0.1:1") })
      for (
        const path of ["/../package.json", "/%2e%2e/%2e%2e/package.json", "/assets/../../src/serve.ts", "/%E0%A4%A"]
      ) {
        const answer = yield* get(`${url}${path}`)
        assert.strictEqual(answer.status, 200, path)
        assert.match(answer.text, /<div id="root">/, path)
      }
      const down = yield* get(`${url}/admin/v1/products`)
      assert.strictEqual(down.status, 503)
      assert.strictEqual(JSON.parse(down.text)._tag, "ServiceUnavailable")
      assert.strictEqual((yield* get(`${url}/`, { method: "POST" })).status, 405)
    }))
})
