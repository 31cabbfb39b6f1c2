// Hostile input against the three apps, assembled as `npm start` runs them (billing, payments with the Stripe sandbox,
// catalog; one database on the real Postgres, the real Redis and RabbitMQ). The probes come from each app's own
// /openapi.json (test/hostile-probes.ts): every path, query and body field of every operation gets NUL, lone
// surrogates, 10k-character strings, wrong types, boundary numbers, impossible dates and tampered cursors, sent as a
// viewer, an admin or with the service token as the route needs. Every answer must be a 4xx with a JSON
// {_tag, message} body, and afterwards no table of any app and no object in the sandbox may have changed.
import { BillingApp } from "@kassa/billing/main"
import { CatalogLive } from "@kassa/catalog/main"
import { CatalogMigrations } from "@kassa/catalog/migrations"
import { BillingApi, CatalogApi, PaymentsApi } from "@kassa/domain/apis"
import { RequestValidation } from "@kassa/domain/validation"
import { PaymentsRpcClient } from "@kassa/clients"
import { PaymentsApp } from "@kassa/payments/main"
import { serverUrl } from "@kassa/platform/http"
import { StripeClient } from "@kassa/payments/stripe"
import { signedToken, TestPlatform } from "@kassa/platform/testing"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import { assert, describe, it, layer } from "@effect/vitest"
import { randomBytes, randomUUID } from "node:crypto"
import { ConfigProvider, Context, Effect, Layer, Redacted } from "effect"
import { HttpServer } from "effect/http"
import { HttpApi, type HttpApiGroup } from "effect/http-api"
import { SqlClient } from "effect/sql"
import { endpoints, type OpenApiDocument, type Probe, probesOf, type Request } from "./hostile-probes.ts"

const jwtSecret = randomBytes(32).toString("base64url")
const serviceToken = "hostile-input-service-token"
const admin = { email: `admin-${randomUUID()}@example.com`, password: "admin password for hostile input" }

const config = ConfigProvider.layerAdd(
  ConfigProvider.fromUnknown({
    JWT_SECRET: jwtSecret,
    SERVICE_TOKEN: serviceToken,
    STRIPE_WEBHOOK_SECRET: "whsec_hostile_input",
    ADMIN_EMAIL: admin.email,
    ADMIN_PASSWORD: admin.password,
    PAYMENTS_RECONCILE_INTERVAL: "1 hour"
  }),
  { asPrimary: true }
)

class Urls
  extends Context.Service<Urls, { readonly billing: string; readonly payments: string; readonly catalog: string }>()(
    "test/HostileInputUrls"
  )
{}
const PaymentsUrl = Context.Service<string>("test/PaymentsUrl")

const urlOf = <I, E, R>(app: Layer.Layer<I | HttpServer.HttpServer, E, R>) =>
  Effect.map(Layer.build(app), (context) => serverUrl(Context.get(context, HttpServer.HttpServer)))

const Payments = Layer.effect(
  PaymentsUrl,
  urlOf(PaymentsApp.pipe(
    Layer.provide(
      Layer.unwrap(
        Effect.map(
          Effect.service(StripeSandbox),
          (sandbox) => StripeClient.layerWith({ apiBase: sandbox.url, timeout: "3 seconds" })
        )
      )
    )
  ))
)

const Apps = Layer.effect(
  Urls,
  Effect.gen(function*() {
    const payments = yield* PaymentsUrl
    const billing = yield* urlOf(BillingApp.pipe(
      Layer.provide(PaymentsRpcClient.layer(`${payments}/rpc`, Redacted.make(serviceToken))),
      Layer.provide(CatalogMigrations)
    ))
    const catalog = yield* urlOf(CatalogLive)
    return { billing, payments, catalog }
  })
).pipe(
  Layer.provide(Payments),
  Layer.provideMerge(StripeSandbox.layer({ webhookRetryBase: "50 millis" })),
  Layer.provide(config),
  Layer.provideMerge(TestPlatform)
)

// ---- HTTP ---------------------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly contentType: string
  readonly text: string
}

const send = (base: string, request: Request): Promise<Answer> =>
  fetch(`${base}${request.url}`, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body })
  }).then(async (response) => ({
    status: response.status,
    contentType: response.headers.get("content-type") ?? "",
    text: await response.text()
  }))

const login = (billing: string, email: string, password: string) =>
  Effect.promise(async () => {
    const post = (path: string) =>
      fetch(`${billing}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ email, password })
      })
    if (email !== admin.email) await post("/v1/auth/register")
    const tokens = await (await post("/v1/auth/token")).json() as { accessToken: string }
    return tokens.accessToken
  })

/**
 * What a probe broke: a 5xx, a 2xx/3xx, a 4xx without a JSON {_tag, message} body, or on a route that needs a token
 * a 401/403, which means the probe never got past authentication and so tested nothing.
 */
const fault = (answer: Answer, secured: boolean): string | undefined => {
  if (answer.status < 400 || answer.status >= 500) return `status ${answer.status}: ${answer.text.slice(0, 200)}`
  if (secured && (answer.status === 401 || answer.status === 403)) {
    return `status ${answer.status}: the probe was not authenticated`
  }
  if (!answer.contentType.startsWith("application/json")) return `status ${answer.status} without a JSON body`
  try {
    const body = JSON.parse(answer.text) as { _tag?: unknown; message?: unknown }
    return typeof body._tag === "string" && typeof body.message === "string"
      ? undefined
      : `status ${answer.status} without {_tag, message}: ${answer.text.slice(0, 200)}`
  } catch {
    return `status ${answer.status} with a body that is not JSON`
  }
}

// ---- what may not change ------------------------------------------------------------------------------------------

const tableCounts = SqlClient.SqlClient.use((sql) =>
  Effect.gen(function*() {
    const tables = yield* sql<{ readonly schema: string; readonly name: string }>`
      SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
      WHERE table_schema IN ('billing', 'payments', 'catalog') AND table_type = 'BASE TABLE' ORDER BY 1, 2`
    const counts: Record<string, number> = {}
    for (const table of tables) {
      const rows = yield* sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM ${sql(table.schema)}.${
        sql(table.name)
      }`
      counts[`${table.schema}.${table.name}`] = rows[0]?.n ?? -1
    }
    return counts
  })
).pipe(Effect.orDie)

const sandboxCounts = StripeSandbox.use((sandbox) => sandbox.ledger.snapshot).pipe(
  Effect.map((snapshot) =>
    Object.fromEntries(Object.entries(snapshot).map(([name, objects]) => [name, objects.length]))
  )
)

const state = Effect.all({ tables: tableCounts, sandbox: sandboxCounts })

// ---- the suite ----------------------------------------------------------------------------------------------------

const apps = ["billing", "payments", "catalog"] as const

layer(Apps, { excludeTestServices: true, timeout: 120_000 })("hostile input", (it) => {
  it.effect("every probe of every operation of the three apps is a 4xx JSON error, and nothing changes", () =>
    Effect.gen(function*() {
      const urls = yield* Urls
      const viewer = yield* login(urls.billing, `viewer-${randomUUID()}@example.com`, "viewer password 12345")
      const adminToken = yield* login(urls.billing, admin.email, admin.password)
      const before = yield* state
      const faults: Array<string> = []
      const sizes: Record<string, { operations: number; probes: number }> = {}
      const statuses: Record<number, number> = {}
      for (const app of apps) {
        const base = urls[app]
        const doc = yield* Effect.promise(() =>
          fetch(`${base}/openapi.json`).then((r) => r.json() as Promise<OpenApiDocument>)
        )
        const operations = endpoints(doc)
        let count = 0
        for (const endpoint of operations) {
          const bearer = !endpoint.secured
            ? undefined
            : endpoint.path.startsWith("/admin/")
            ? adminToken
            : app === "payments"
            ? serviceToken
            : viewer
          const { probes } = probesOf(doc, endpoint, bearer === undefined ? {} : { authorization: `Bearer ${bearer}` })
          count += probes.length
          const answers = yield* Effect.forEach(
            probes,
            (probe: Probe) =>
              Effect.promise(() => send(base, probe.request).then((answer) => [probe, answer] as const)),
            { concurrency: 8 }
          )
          for (const [probe, answer] of answers) {
            statuses[answer.status] = (statuses[answer.status] ?? 0) + 1
            const problem = fault(answer, endpoint.secured)
            if (problem !== undefined) {
              faults.push(`${app} ${endpoint.method} ${endpoint.path} — ${probe.label}: ${problem}`)
            }
          }
        }
        sizes[app] = { operations: operations.length, probes: count }
      }
      console.log(`hostile input: ${JSON.stringify(sizes)}; answers by status ${JSON.stringify(statuses)}`)
      assert.deepStrictEqual(faults, [])
      assert.deepStrictEqual(yield* state, before)
      // the suite is not vacuous: every app's document has operations with fields, and there are many probes
      for (const app of apps) assert.isAbove(sizes[app]?.probes ?? 0, 100, app)
    }))

  it.effect("a token signed with the real key for an account that does not exist is a 401 on every billing route that needs one", () =>
    Effect.gen(function*() {
      const urls = yield* Urls
      const ghost = yield* signedToken(jwtSecret, {
        sub: `usr_${randomUUID()}`,
        email: "ghost@example.com",
        role: "admin"
      })
      const before = yield* state
      const doc = yield* Effect.promise(() =>
        fetch(`${urls.billing}/openapi.json`).then((r) => r.json() as Promise<OpenApiDocument>)
      )
      const answers: Array<string> = []
      for (const endpoint of endpoints(doc).filter((e) => e.secured)) {
        const { baseline } = probesOf(doc, endpoint, { authorization: `Bearer ${ghost}` })
        // twice: the second would be a hot route's answer, had the first been accepted
        for (const _ of [1, 2]) {
          const answer = yield* Effect.promise(() => send(urls.billing, baseline))
          if (answer.status !== 401) {
            answers.push(`${endpoint.method} ${endpoint.path}: ${answer.status} ${answer.text.slice(0, 120)}`)
          }
        }
      }
      assert.deepStrictEqual(answers, [])
      assert.deepStrictEqual(yield* state, before)
    }))
})

/** `METHOD path` of every endpoint that takes input (path, query, headers, body) without RequestValidation. */
const unvalidated = <Id extends string, Groups extends HttpApiGroup.Constraint>(api: HttpApi.HttpApi<Id, Groups>) => {
  const missing: Array<string> = []
  HttpApi.reflect(api, {
    onGroup: () => {},
    onEndpoint: ({ endpoint, middleware }) => {
      const takesInput = endpoint.params !== undefined || endpoint.query !== undefined ||
        endpoint.headers !== undefined ||
        endpoint.payload.size > 0 || endpoint.method !== "GET"
      if (takesInput && ![...middleware].some((m) => m.key === RequestValidation.key)) {
        missing.push(`${endpoint.method} ${endpoint.path}`)
      }
    }
  })
  return missing
}

describe("hostile input inventory", () => {
  it("every endpoint that takes input carries RequestValidation (body limit, storable text, 400 naming the field)", () => {
    assert.deepStrictEqual(
      { billing: unvalidated(BillingApi), payments: unvalidated(PaymentsApi), catalog: unvalidated(CatalogApi) },
      { billing: [], payments: [], catalog: [] }
    )
  })
})
