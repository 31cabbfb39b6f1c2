// docker/compose.yaml and the Dockerfiles agree with the code: entry points, ports and variable names
// come from the config layer, not from this file. Then the file is run as Docker would run it, minus Docker (there
// is no engine here): every built service is a node process with exactly the environment compose gives it (the
// infra host names pointing at this machine's Postgres, Redis and RabbitMQ, a fresh database, ports remapped),
// billing as many replicas as the file says, and a viewer's journey goes through it over HTTP while a consumer
// bound to the exchange watches the events.
import { assert, describe, it } from "@effect/vitest"
import { BillingApi, CatalogApi } from "@kassa/domain/apis"
import { AmqpConfig } from "@kassa/platform/config"
import { BillingHttpConfig } from "@kassa/billing/config"
import { CatalogHttpConfig } from "@kassa/catalog/config"
import { PaymentsHttpConfig } from "@kassa/payments/config"
import { StripeSandboxHttpConfig } from "@kassa/stripe-sandbox/config"
import { makeTestDatabase } from "@kassa/platform/testing"
import { ConfigProvider, Effect, Option, Queue, Redacted, Schedule, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { PgClient } from "@effect/sql-pg"
import { randomUUID } from "node:crypto"
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"
import { configVariables } from "./operations-doc.ts"
import {
  type AppProcess,
  clientAt,
  consumeAll,
  freePort,
  roundRobinProxy,
  SetupFailed,
  spawnApp,
  waitHealthy
} from "./processes.ts"

const dockerDir = fileURLToPath(new URL("../docker/", import.meta.url))

const Service = Schema.Struct({
  image: Schema.optionalKey(Schema.String),
  build: Schema.optionalKey(Schema.Struct({ context: Schema.String, dockerfile: Schema.String })),
  deploy: Schema.optionalKey(Schema.Struct({ replicas: Schema.optionalKey(Schema.Int) })),
  ports: Schema.optionalKey(Schema.Array(Schema.String)),
  expose: Schema.optionalKey(Schema.Array(Schema.String)),
  environment: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  volumes: Schema.optionalKey(Schema.Array(Schema.String)),
  depends_on: Schema.optionalKey(Schema.Record(Schema.String, Schema.Struct({ condition: Schema.String }))),
  healthcheck: Schema.optionalKey(Schema.Struct({ test: Schema.Array(Schema.String) }))
})
const ComposeFile = Schema.Struct({ services: Schema.Record(Schema.String, Service) })

const compose = Schema.decodeUnknownSync(ComposeFile)(
  parse(readFileSync(resolve(dockerDir, "compose.yaml"), "utf8"), { merge: true })
)
const services = compose.services
const service = (name: string) => {
  const found = services[name]
  if (found === undefined) throw new Error(`compose has no service ${name}`)
  return found
}

const defaults = ConfigProvider.fromUnknown({})
const httpConfigs = { billing: BillingHttpConfig, payments: PaymentsHttpConfig, catalog: CatalogHttpConfig }
const apps = Object.keys(httpConfigs) as Array<keyof typeof httpConfigs>
const defaultPort = (app: keyof typeof httpConfigs) => Effect.runSync(httpConfigs[app].parse(defaults)).port
const infra = ["postgres", "redis", "rabbitmq"]
const built = Object.entries(services).flatMap(([name, s]) =>
  s.build === undefined ? [] : [{ name, build: s.build, s }]
)

/** `${VAR:-default}` as compose would expand it with VAR unset. */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1")

const dockerfile = (build: { readonly context: string; readonly dockerfile: string }) => {
  const path = resolve(dockerDir, build.context, build.dockerfile)
  assert.isTrue(existsSync(path), `${path} exists`)
  const text = readFileSync(path, "utf8").replace(/\\\n/g, " ")
  const lines = text.split("\n").map((l) => l.trim())
  const final = lines.slice(lines.findLastIndex((l) => l.startsWith("FROM ")))
  const instruction = (name: string) =>
    final.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim())
  return {
    froms: lines.filter((l) => l.startsWith("FROM ")).map((l) => l.split(/\s+/)[1]),
    cmd: instruction("CMD").map((c) => JSON.parse(c) as unknown),
    expose: instruction("EXPOSE").flatMap((e) => e.split(/\s+/)),
    user: instruction("USER"),
    healthcheck: instruction("HEALTHCHECK").join(" "),
    env: Object.fromEntries(instruction("ENV").map((e) => e.split("=", 2) as [string, string]))
  }
}

describe("docker/compose.yaml", () => {
  it("builds every app, and only known ones", () => {
    assert.sameMembers(built.map((b) => b.name), [...apps, "stripe-sandbox"])
  })

  it("each image runs its own app from node:24-slim as the node user, with a /health probe", () => {
    for (const { name, build } of built) {
      const file = dockerfile(build)
      assert.deepStrictEqual(file.cmd, [["node", `apps/${name}/src/main.ts`]], name)
      assert.isTrue(
        file.froms.length >= 2 && file.froms.every((f) => f === "node:24-slim"),
        `${name}: multi-stage node:24-slim`
      )
      assert.deepStrictEqual(file.user, ["node"], name)
      assert.match(file.healthcheck, /CMD \["node", "-e", ".*fetch\(.*\/health/, name)
    }
  })

  it("apps listen where compose and the image expect: default port, on every interface", () => {
    for (const app of apps) {
      const s = service(app)
      const file = dockerfile(s.build!)
      const port = defaultPort(app)
      const env = { ...file.env, ...s.environment }
      // what the app itself resolves inside the container
      const http = Effect.runSync(httpConfigs[app].parse(ConfigProvider.fromUnknown(env)))
      assert.strictEqual(http.port, port, app)
      assert.strictEqual(http.host, "0.0.0.0", `${app} must not listen on loopback only`)
      assert.include(file.expose, String(port), `${app} Dockerfile EXPOSE`)
      const published = (s.ports ?? []).includes(`${port}:${port}`)
      const exposed = (s.expose ?? []).includes(String(port))
      assert.isTrue(published || exposed, `${app} publishes or exposes ${port}`)
    }
  })

  it("billing runs several replicas behind a load balancer on the host's billing port", () => {
    const billing = service("billing")
    const port = defaultPort("billing")
    assert.isAtLeast(billing.deploy?.replicas ?? 1, 2)
    assert.isUndefined(billing.ports, "replicas cannot share a fixed host port")
    const balancers = Object.entries(services).filter(([, s]) => (s.ports ?? []).some((p) => p.startsWith(`${port}:`)))
    assert.strictEqual(balancers.length, 1)
    const [name, lb] = balancers[0]!
    const confMount = (lb.volumes ?? []).map((v) => v.split(":")).find(([, target]) =>
      target?.startsWith("/etc/nginx/")
    )
    assert.isDefined(confMount, `${name} mounts an nginx config`)
    const conf = readFileSync(resolve(dockerDir, confMount![0]!), "utf8")
    const listen = /listen\s+(\d+)/.exec(conf)?.[1]
    assert.strictEqual(lb.ports?.find((p) => p.startsWith(`${port}:`)), `${port}:${listen}`)
    assert.match(conf, new RegExp(`server\\s+billing:${port}\\b`))
    assert.strictEqual(lb.depends_on?.["billing"]?.condition, "service_healthy")
  })

  it("every variable an app is given is one the config layer reads", () => {
    assert.isTrue(
      configVariables.has("DATABASE_URL") && configVariables.has("BILLING_PORT"),
      "recording provider saw the configs"
    )
    for (const { name, build, s } of built) {
      const given = [...Object.keys(s.environment ?? {}), ...Object.keys(dockerfile(build).env)]
      const unknown = given.filter((n) => !configVariables.has(n))
      assert.deepStrictEqual(unknown, [], `${name} sets variables nothing reads`)
    }
  })

  it("service URLs point at compose services with the right scheme", () => {
    const schemes: Record<string, string> = {
      DATABASE_URL: "postgres:",
      REDIS_URL: "redis:",
      AMQP_URL: "amqp:",
      STRIPE_API_BASE: "http:"
    }
    // each app's own: where it reaches the other side of billing ⇄ payments
    const own: Record<string, Record<string, string>> = {
      billing: { PAYMENTS_RPC_URL: "http:" },
      payments: { BILLING_RPC_URL: "http:" },
      catalog: {}
    }
    for (const app of apps) {
      const env = service(app).environment ?? {}
      for (const [variable, scheme] of Object.entries({ ...schemes, ...own[app] })) {
        const raw = env[variable]
        assert.isDefined(raw, `${app} sets ${variable}`)
        const url = new URL(withDefaults(raw!))
        assert.strictEqual(url.protocol, scheme, `${app} ${variable}`)
        const target = service(url.hostname)
        const port = url.port
        const reachable = target.build === undefined ||
          (target.expose ?? []).includes(port) ||
          (target.ports ?? []).some((p) => p.endsWith(`:${port}`))
        assert.isTrue(reachable, `${app} ${variable}: ${url.hostname} serves port ${port}`)
      }
    }
  })

  it("infra has healthchecks and every app waits for it to be healthy", () => {
    for (const name of infra) {
      assert.isAbove(service(name).healthcheck?.test.length ?? 0, 1, `${name} healthcheck`)
    }
    for (const app of apps) {
      for (const name of infra) {
        assert.strictEqual(service(app).depends_on?.[name]?.condition, "service_healthy", `${app} → ${name}`)
      }
    }
  })
})

// ---- the file, run ----------------------------------------------------------------------------------------------

/** The port variable and the port each built service listens on inside its container (its config's default). */
const listeners: Record<string, { readonly variable: string; readonly port: number }> = {
  billing: { variable: "BILLING_PORT", port: defaultPort("billing") },
  payments: { variable: "PAYMENTS_PORT", port: defaultPort("payments") },
  catalog: { variable: "CATALOG_PORT", port: defaultPort("catalog") },
  "stripe-sandbox": {
    variable: "STRIPE_SANDBOX_PORT",
    port: Effect.runSync(StripeSandboxHttpConfig.parse(defaults)).port
  }
}

/** This machine's servers for compose's infra services, by the port compose reaches them on. */
const machine: Record<string, Record<string, number>> = {
  postgres: { 5432: 5432 },
  redis: { 6379: 6379 },
  rabbitmq: { 5672: 5672 }
}

/**
 * Rewrites every `scheme://[user@]service:port` in a value (comma-separated lists too) to where that service runs
 * here; a reference to a service or port nothing serves fails the test (that is a miswiring).
 */
const rewrite = (value: string, address: (service: string, port: string) => string, database: string) =>
  value.split(",").map((part) =>
    part.replace(
      /^([a-z]+:\/\/(?:[^@/]*@)?)([a-z0-9-]+):(\d+)(\/[^?]*)?/,
      (_all, head: string, host: string, port: string, path?: string) => {
        const target = `${head}${address(host, port)}`
        return host === "postgres" ? `${target}/${database}` : `${target}${path ?? ""}`
      }
    )
  ).join(",")

describe("docker/compose.yaml, run", () => {
  it.live(
    "every service as its own process, billing ×2: subscribe → entitlement → cancel payment, events on the exchange",
    () =>
      Effect.gen(function*() {
        const databaseUrl = new URL(Redacted.value(yield* makeTestDatabase()))
        const database = databaseUrl.pathname.slice(1)
        const workdir = yield* Effect.acquireRelease(
          Effect.sync(() => mkdtempSync(resolve(tmpdir(), "kassa-compose-"))),
          (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
        )

        // a free port per process; a replicated service's name is a round-robin over its replicas
        const replicas = Object.fromEntries(
          yield* Effect.forEach(
            built,
            ({ name, s }) =>
              Effect.map(
                Effect.all(Array.from({ length: s.deploy?.replicas ?? 1 }, () => freePort)),
                (ports) => [name, ports] as const
              )
          )
        )
        const local: Record<string, Record<string, number>> = { ...machine }
        for (const { name } of built) {
          const ports = replicas[name]!
          local[name] = { [listeners[name]!.port]: ports.length === 1 ? ports[0]! : yield* roundRobinProxy(ports) }
        }
        // billing-lb (nginx, round robin over billing's replicas) is what the host's billing port reaches
        const billingUrl = `http://127.0.0.1:${local["billing"]![listeners["billing"]!.port]}`
        const address = (service: string, port: string) => {
          const found = local[service]?.[port]
          if (found === undefined) {
            throw new SetupFailed({ message: `compose refers to ${service}:${port}, which nothing serves` })
          }
          return `127.0.0.1:${found}`
        }

        const processes: Array<readonly [AppProcess, string]> = []
        // this run's own Redis keys, as every test file has: the machine's Redis outlives runs (and is shared), and
        // its per-address registration counter would otherwise carry over from earlier ones
        const redisKeyPrefix = `compose:${randomUUID()}:`
        for (const { name, build, s } of built) {
          const file = dockerfile(build)
          const [, entry] = file.cmd[0] as [string, string]
          const given = { ...file.env, ...s.environment }
          for (const [i, port] of replicas[name]!.entries()) {
            const env = Object.fromEntries(
              Object.entries(given).map(([k, v]) => [k, rewrite(withDefaults(v), address, database)])
            )
            env[listeners[name]!.variable] = String(port)
            env["REDIS_KEY_PREFIX"] = redisKeyPrefix
            const app = yield* spawnApp(`${name}#${i + 1}`, entry, env, workdir)
            processes.push([app, `http://127.0.0.1:${port}/health`])
          }
        }
        yield* Effect.forEach(processes, ([app, url]) => waitHealthy(app, url, 45), {
          concurrency: "unbounded",
          discard: true
        })
        // on a failure, what each process said
        const dumpOutput = Effect.sync(() => {
          for (const [app] of processes) console.error(`---- ${app.name}\n${app.output()}`)
        })
        yield* Effect.gen(function*() {
          const appEnv = (name: string) =>
            ConfigProvider.fromUnknown(
              Object.fromEntries(Object.entries(service(name).environment ?? {}).map(([k, v]) => [k, withDefaults(v)]))
            )
          const amqpConfig = yield* AmqpConfig.parse(appEnv("billing"))
          const events = yield* consumeAll(
            rewrite(Redacted.value(Option.getOrThrow(amqpConfig.url)), address, database),
            amqpConfig.exchange
          )

          // the admin compose bootstraps puts a product on sale in the catalog; billing's copy follows
          const adminEnv = service("billing").environment ?? {}
          const anonymous = yield* clientAt(BillingApi, billingUrl)
          const adminToken = (yield* anonymous.auth.token({
            payload: {
              email: withDefaults(adminEnv["ADMIN_EMAIL"]!),
              password: withDefaults(adminEnv["ADMIN_PASSWORD"]!)
            }
          })).accessToken
          const catalog = yield* clientAt(
            CatalogApi,
            `http://${address("catalog", String(listeners["catalog"]!.port))}`,
            adminToken
          )
          const film = yield* catalog.films.create({
            payload: { title: "Compose", releaseYear: 1977, durationMinutes: 121, ageRating: "12+" }
          })
          const product = yield* catalog.products.create({
            payload: {
              name: `Compose ${randomUUID()}`,
              filmIds: [film.id],
              plans: [{ interval: "month", amount: 990, currency: "EUR" }]
            }
          })
          yield* anonymous.products.get({ params: { id: product.id } }).pipe(
            Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 })
          )

          // a viewer subscribes (billing charges through payments, which charges the sandbox), watches, cancels the payment
          const email = `compose-${randomUUID()}@example.com`
          const password = "correct horse battery staple"
          const account = yield* anonymous.auth.register({ payload: { email, password } })
          const viewer = yield* clientAt(
            BillingApi,
            billingUrl,
            (yield* anonymous.auth.token({ payload: { email, password } })).accessToken
          )
          const subscribed = yield* viewer.subscriptions.create({
            headers: { "idempotency-key": randomUUID() },
            payload: { planId: product.plans[0]!.id, paymentMethod: "pm_card_visa" }
          })
          assert.strictEqual(subscribed.subscription.status, "active")
          assert.strictEqual(subscribed.payment?.status, "succeeded")
          // replicas answer alike: a few requests spread over both
          for (let i = 0; i < 4; i++) {
            assert.isTrue(
              (yield* viewer.entitlements.film({ params: { filmId: film.id } })).allowed,
              "entitled after paying"
            )
          }
          const canceled = yield* viewer.payments.cancel({
            params: { id: subscribed.payment!.id },
            headers: { "idempotency-key": randomUUID() }
          })
          assert.strictEqual(canceled.status, "refunded")
          for (let i = 0; i < 4; i++) {
            assert.isFalse(
              (yield* viewer.entitlements.film({ params: { filmId: film.id } })).allowed,
              "no access after the refund"
            )
          }

          // every event of the journey reaches the exchange, from billing's outbox and payments'
          const expected = [
            "user.registered",
            "subscription.created",
            "subscription.activated",
            "invoice.paid",
            "payment.succeeded",
            "entitlement.granted",
            "payment.refunded",
            "subscription.canceled",
            "entitlement.revoked"
          ]
          const seen = new Set<string>()
          while (!expected.every((type) => seen.has(type))) {
            const message = yield* Queue.take(events).pipe(
              Effect.timeoutOrElse({
                duration: "15 seconds",
                orElse: () => Effect.die(new Error(`events missing: ${expected.filter((t) => !seen.has(t))}`))
              })
            )
            if (message.body.includes(account.id)) seen.add(message.type)
          }

          // payments reported the outcomes to billing's RPC too (BILLING_RPC_URL), and billing acknowledged each
          const callbacks = SqlClient.SqlClient.use((sql) => sql<{ readonly total: number; readonly open: number }>`
            SELECT count(*)::int AS "total", count(*) FILTER (WHERE acknowledged_at IS NULL)::int AS "open"
            FROM payments.billing_callbacks`).pipe(
            Effect.provide(PgClient.layer({ url: Redacted.make(databaseUrl.toString()), maxConnections: 1 }))
          )
          const delivered = yield* callbacks.pipe(
            Effect.repeat({
              schedule: Schedule.spaced("100 millis"),
              until: (c) => c[0]!.total >= 2 && c[0]!.open === 0,
              times: 100
            })
          )
          assert.deepStrictEqual(delivered[0], { total: delivered[0]!.total, open: 0 })
          assert.isAtLeast(delivered[0]!.total, 2, "the charge's and the refund's outcomes")
        }).pipe(Effect.onError(() => dumpOutput))
      }),
    90_000
  )
})
