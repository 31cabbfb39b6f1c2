// docs/events.md is generated from the event schemas, and what it promises holds: its JSON Schema resolves (Ajv,
// draft 2020-12), and the events `npm start` publishes to RabbitMQ while an admin and a viewer use it validate
// against it, each against its own type's data.
import { assert, describe, expect, it } from "@effect/vitest"
import { BillingApi, CatalogApi } from "@kassa/domain/apis"
import { Ajv2020 } from "ajv/dist/2020.js"
import addFormats from "ajv-formats"
import { Effect, Queue, Schedule } from "effect"
import { randomUUID } from "node:crypto"
import { execFileSync } from "node:child_process"
import { readFileSync } from "node:fs"
import { resolve } from "node:path"
import { renderEventsDoc } from "../scripts/gen-events-doc.ts"
import { configVariables, configVariablesBy, documentedVariables, documentedVariablesUnder } from "./operations-doc.ts"
import { clientAt, consumeAll, freePort, repoRoot, spawnApp, waitHealthy } from "./processes.ts"

const eventsDoc = readFileSync(new URL("../docs/events.md", import.meta.url), "utf8")

/** The JSON Schema block of docs/events.md, compiled as a consumer would. */
const validator = () => {
  const block = /## JSON Schema[\s\S]*?```json\n([\s\S]*?)\n```/.exec(eventsDoc)?.[1]
  assert.isDefined(block, "docs/events.md has a JSON Schema block")
  const ajv = new Ajv2020({ strict: true, allErrors: true })
  addFormats.default(ajv)
  return ajv.compile(JSON.parse(block!) as object)
}

describe("docs", () => {
  it("nothing in the repository cites the product brief, which lives outside it: docs/ states the rules", () => {
    const citation = new RegExp(["DESIGN", "(\\.md| §)"].join(""))
    const files = execFileSync("git", ["ls-files"], { cwd: repoRoot, encoding: "utf8" }).split("\n").filter((f) =>
      /\.(ts|md|ya?ml|json)$/.test(f) && f !== "package-lock.json"
    )
    const citing = files.filter((file) => citation.test(readFileSync(resolve(repoRoot, file), "utf8")))
    assert.deepStrictEqual(citing, [])
  })

  it("docs/operations.md's per-app tables name every variable the config layer reads, and nothing else", () => {
    const documented = documentedVariables()
    assert.isTrue(configVariables.has("DATABASE_URL"), "the recording provider saw the configs")
    assert.deepStrictEqual([...configVariables].filter((name) => !documented.has(name)), [], "undocumented")
    assert.deepStrictEqual([...documented].filter((name) => !configVariables.has(name)), [], "documented, never read")
  })

  it("each app's own settings (apps/<app>/src/config.ts) are in its own table or the one every app shares", () => {
    const everyApp = documentedVariablesUnder("Every app")
    const tables = {
      billing: "Billing, besides:",
      payments: "Payments, besides:",
      catalog: "Catalog, besides:",
      console: "The console under `npm start`",
      "stripe-sandbox": "The Stripe sandbox"
    } as const
    for (const [app, heading] of Object.entries(tables)) {
      const documented = new Set([...everyApp, ...documentedVariablesUnder(heading)])
      const own = [...configVariablesBy[app as keyof typeof tables]]
      assert.isNotEmpty(own, app)
      assert.deepStrictEqual(own.filter((name) => !documented.has(name)), [], `${app}: not in its table`)
    }
  })

  it("docs/events.md is what the event schemas generate (run `node scripts/gen-events-doc.ts`)", () => {
    expect(eventsDoc).toBe(renderEventsDoc())
  })

  it("its JSON Schema compiles with every reference resolved, and tells the types apart", () => {
    const validate = validator()
    const envelope = {
      id: randomUUID(),
      occurredAt: "2025-01-31T12:00:00.000Z",
      aggregateId: "usr_1",
      sequence: 0
    }
    const registered = { userId: "usr_1", email: "someone@example.com", role: "user" }
    assert.isTrue(validate({ ...envelope, type: "user.registered", data: registered }), JSON.stringify(validate.errors))
    assert.isFalse(validate({ ...envelope, type: "subscription.created", data: registered }), "another type's data")
    assert.isFalse(validate({ ...envelope, type: "user.deleted", data: registered }), "an unknown type")
  })

  it.live(
    "the events npm start publishes validate against it, each type against its own data",
    () =>
      Effect.gen(function*() {
        const exchange = `kassa.docs-test.${randomUUID()}`
        const amqpUrl = "amqp://guest:guest@127.0.0.1:5672"
        // bound before the apps start, so nothing they publish is missed
        const events = yield* consumeAll(amqpUrl, exchange)
        const ports = { billing: yield* freePort, payments: yield* freePort, catalog: yield* freePort }
        const admin = { email: "admin@example.com", password: "docs test admin password" }
        const app = yield* spawnApp("npm start", "scripts/start.ts", {
          PGLITE_DATA_DIR: "memory",
          AMQP_URL: amqpUrl,
          AMQP_EXCHANGE: exchange,
          BILLING_PORT: String(ports.billing),
          PAYMENTS_PORT: String(ports.payments),
          CATALOG_PORT: String(ports.catalog),
          STRIPE_SANDBOX_PORT: String(yield* freePort),
          CONSOLE_PORT: "0",
          ADMIN_EMAIL: admin.email,
          ADMIN_PASSWORD: admin.password,
          LOG_LEVEL: "Warn"
        })
        const url = (port: number) => `http://127.0.0.1:${port}`
        for (const port of Object.values(ports)) yield* waitHealthy(app, `${url(port)}/health`)

        // an admin changes the catalog; a viewer subscribes, watches, and cancels the payment
        const anonymous = yield* clientAt(BillingApi, url(ports.billing))
        const adminToken = (yield* anonymous.auth.token({ payload: admin })).accessToken
        const catalog = yield* clientAt(CatalogApi, url(ports.catalog), adminToken)
        const film = yield* catalog.films.create({
          payload: { title: "Docs", releaseYear: 1999, durationMinutes: 90, ageRating: "12+" }
        })
        const product = yield* catalog.products.create({
          payload: {
            name: `Docs ${randomUUID()}`,
            filmIds: [film.id],
            plans: [{ interval: "month", amount: 990, currency: "EUR" }]
          }
        })
        yield* catalog.products.update({ params: { id: product.id }, payload: { description: "updated" } })
        yield* anonymous.products.get({ params: { id: product.id } }).pipe(
          Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 })
        )
        const email = `docs-${randomUUID()}@example.com`
        const password = "correct horse battery staple"
        yield* anonymous.auth.register({ payload: { email, password } })
        const viewer = yield* clientAt(
          BillingApi,
          url(ports.billing),
          (yield* anonymous.auth.token({ payload: { email, password } })).accessToken
        )
        const { payment } = yield* viewer.subscriptions.create({
          headers: { "idempotency-key": randomUUID() },
          payload: { planId: product.plans[0]!.id, paymentMethod: "pm_card_visa" }
        })
        yield* viewer.payments.cancel({ params: { id: payment!.id }, headers: { "idempotency-key": randomUUID() } })
        yield* catalog.products.archive({ params: { id: product.id } })

        const expected = new Set([
          "catalog.product.created",
          "catalog.product.updated",
          "catalog.product.archived",
          "user.registered",
          "subscription.created",
          "subscription.activated",
          "subscription.canceled",
          "invoice.paid",
          "payment.succeeded",
          "payment.refunded",
          "entitlement.granted",
          "entitlement.revoked"
        ])
        const validate = validator()
        const seen = new Set<string>()
        let validated = 0
        while ([...expected].some((type) => !seen.has(type))) {
          const message = yield* Queue.take(events).pipe(Effect.timeoutOrElse({
            duration: "15 seconds",
            orElse: () => Effect.die(new Error(`never published: ${[...expected].filter((t) => !seen.has(t))}`))
          }))
          const event = JSON.parse(message.body) as { readonly type: string }
          assert.strictEqual(event.type, message.type, "the routing key is the type")
          assert.isTrue(validate(event), `${message.type}: ${JSON.stringify(validate.errors)}\n${message.body}`)
          seen.add(event.type)
          validated++
        }
        // the demo catalog's products and the journey's own
        assert.isAtLeast(validated, expected.size)
      }),
    60_000
  )
})
