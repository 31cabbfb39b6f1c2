// docker/compose.yaml and the Dockerfiles agree with the code: entry points, ports and variable names
// come from the config layer, not from this file.
import { assert, describe, it } from "@effect/vitest"
import * as PlatformConfig from "@kassa/platform/config"
import { BillingHttpConfig, CatalogHttpConfig, PaymentsHttpConfig } from "@kassa/platform/config"
import { Config, ConfigProvider, Effect, Schema } from "effect"
import { existsSync, readFileSync } from "node:fs"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { parse } from "yaml"

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

/** Every variable name the config layer asks for: resolve each exported Config against a recording provider. */
const configNames = (() => {
  const names = new Set<string>()
  const recording = ConfigProvider.make((path) => {
    names.add(path.join("_"))
    return Effect.succeed(undefined)
  })
  for (const value of Object.values(PlatformConfig) as ReadonlyArray<unknown>) {
    if (Config.isConfig(value)) Effect.runSync(Effect.exit(value.parse(recording)))
  }
  return names
})()

const defaults = ConfigProvider.fromUnknown({})
const httpConfigs = { billing: BillingHttpConfig, payments: PaymentsHttpConfig, catalog: CatalogHttpConfig }
const apps = Object.keys(httpConfigs) as Array<keyof typeof httpConfigs>
const defaultPort = (app: keyof typeof httpConfigs) => Effect.runSync(httpConfigs[app].parse(defaults)).port
const infra = ["postgres", "redis", "rabbitmq"]
const built = Object.entries(services).flatMap(([name, s]) => s.build === undefined ? [] : [{ name, build: s.build, s }])

/** `${VAR:-default}` as compose would expand it with VAR unset. */
const withDefaults = (value: string) => value.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, "$1")

const dockerfile = (build: { readonly context: string; readonly dockerfile: string }) => {
  const path = resolve(dockerDir, build.context, build.dockerfile)
  assert.isTrue(existsSync(path), `${path} exists`)
  const text = readFileSync(path, "utf8").replace(/\\\n/g, " ")
  const lines = text.split("\n").map((l) => l.trim())
  const final = lines.slice(lines.findLastIndex((l) => l.startsWith("FROM ")))
  const instruction = (name: string) => final.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1).trim())
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
      assert.isTrue(file.froms.length >= 2 && file.froms.every((f) => f === "node:24-slim"), `${name}: multi-stage node:24-slim`)
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
    const confMount = (lb.volumes ?? []).map((v) => v.split(":")).find(([, target]) => target?.startsWith("/etc/nginx/"))
    assert.isDefined(confMount, `${name} mounts an nginx config`)
    const conf = readFileSync(resolve(dockerDir, confMount![0]!), "utf8")
    const listen = /listen\s+(\d+)/.exec(conf)?.[1]
    assert.strictEqual(lb.ports?.find((p) => p.startsWith(`${port}:`)), `${port}:${listen}`)
    assert.match(conf, new RegExp(`server\\s+billing:${port}\\b`))
    assert.strictEqual(lb.depends_on?.["billing"]?.condition, "service_healthy")
  })

  it("every variable an app is given is one the config layer reads", () => {
    assert.isTrue(configNames.has("DATABASE_URL") && configNames.has("BILLING_PORT"), "recording provider saw the configs")
    for (const { name, build, s } of built) {
      const given = [...Object.keys(s.environment ?? {}), ...Object.keys(dockerfile(build).env)]
      const unknown = given.filter((n) => !configNames.has(n))
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
    for (const app of apps) {
      const env = service(app).environment ?? {}
      for (const [variable, scheme] of Object.entries(schemes)) {
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
