// Every app serves /health, /ready, /metrics, /openapi.json and /docs: checked through clients
// derived from each app's contract, on ephemeral ports, against the real Postgres, Redis and RabbitMQ.
import { BillingLive } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { BillingApi, CatalogApi, PaymentsApi } from "@kassa/domain/apis"
import { PaymentsLive } from "@kassa/payments/main"
import { serverUrl } from "@kassa/platform/http"
import { apiClient, TestPlatform } from "@kassa/platform/testing"
import { assert, describe, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { HttpServer } from "effect/http"

const apps = [
  // one client per app (a call on the union of the three APIs would not type-check now that they differ)
  { name: "billing", live: BillingLive, client: apiClient(BillingApi) },
  { name: "payments", live: PaymentsLive, client: apiClient(PaymentsApi) },
  { name: "catalog", live: CatalogLive, client: apiClient(CatalogApi) }
] as const

const get = (path: string) =>
  Effect.gen(function*() {
    const url = serverUrl(yield* HttpServer.HttpServer) + path
    return yield* Effect.promise(async () => {
      const response = await fetch(url)
      return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
    })
  })

for (const app of apps) {
  describe(app.name, () => {
    layer(app.live.pipe(Layer.provideMerge(TestPlatform)), { excludeTestServices: true, timeout: 30_000 })((it) => {
      it.effect("GET /health answers ok with the service name", () =>
        Effect.gen(function*() {
          const client = yield* app.client
          assert.deepStrictEqual(yield* client.health(), { status: "ok", service: app.name })
        }))

      it.effect("GET /ready reports db, redis and rabbit, each up on the real servers", () =>
        Effect.gen(function*() {
          const client = yield* app.client
          const ready = yield* client.ready()
          assert.deepStrictEqual([ready.status, ready.startup], ["ready", "done"])
          for (const check of [ready.checks.db, ready.checks.redis, ready.checks.rabbit]) {
            assert.strictEqual(check.status, "up")
            assert.strictEqual(check.mode, "server")
          }
        }))

      it.effect("GET /metrics is Prometheus text counting requests by route and status", () =>
        Effect.gen(function*() {
          const client = yield* app.client
          yield* client.health()
          yield* client.health()
          const text = yield* client.metrics()
          assert.match(text, /# TYPE http_requests_total counter/)
          assert.match(text, /# TYPE http_request_duration_seconds histogram/)
          const line = text.split("\n").find((l) =>
            l.startsWith("http_requests_total{") && l.includes(`service="${app.name}"`) && l.includes(`route="/health"`)
            && l.includes(`status="200"`)
          )
          assert.isDefined(line)
          assert.isAtLeast(Number(line?.split(" ").at(-1)), 2)
          const raw = yield* get("/metrics")
          assert.match(raw.type, /^text\/plain/)
        }))

      it.effect("GET /openapi.json describes the system endpoints; /docs serves the UI", () =>
        Effect.gen(function*() {
          const spec = yield* get("/openapi.json")
          assert.strictEqual(spec.status, 200)
          const doc = JSON.parse(spec.body) as { openapi: string; paths: Record<string, unknown> }
          assert.match(doc.openapi, /^3\./)
          for (const path of ["/health", "/ready", "/metrics"]) assert.property(doc.paths, path)
          const docs = yield* get("/docs")
          assert.strictEqual(docs.status, 200)
          assert.match(docs.type, /text\/html/)
        }))
    })
  })
}
