// `npm start` (scripts/start.ts) as a user runs it: one process, every app on its port, embedded defaults (PGlite
// in memory here, so nothing is left behind). Each port's /metrics serves its own app's series only, and its
// business metrics are the ones docs/operations.md lists for that app.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { documentedMetrics } from "./operations-doc.ts"
import { fetchText, freePort, spawnApp, waitHealthy } from "./processes.ts"

const seriesLabels = (text: string, label: string) =>
  new Set(
    text.split("\n").filter((l) => !l.startsWith("#")).flatMap((l) => {
      const found = new RegExp(`${label}="([^"]*)"`).exec(l)
      return found === null ? [] : [found[1]!]
    })
  )

describe("npm start", () => {
  it.live("each app's /metrics serves its own series, HTTP and business metrics alike", () =>
    Effect.gen(function*() {
      const ports = { billing: yield* freePort, payments: yield* freePort, catalog: yield* freePort }
      const app = yield* spawnApp("npm start", "scripts/start.ts", {
        PGLITE_DATA_DIR: "memory",
        BILLING_PORT: String(ports.billing),
        PAYMENTS_PORT: String(ports.payments),
        CATALOG_PORT: String(ports.catalog),
        STRIPE_SANDBOX_PORT: String(yield* freePort),
        CONSOLE_PORT: "0",
        LOG_LEVEL: "Warn"
      })
      const base = (port: number) => `http://127.0.0.1:${port}`
      for (const port of Object.values(ports)) yield* waitHealthy(app, `${base(port)}/health`)
      // a request on every port, so each has HTTP series
      for (const port of Object.values(ports)) yield* fetchText(`${base(port)}/ready`)
      for (const [name, port] of Object.entries(ports)) {
        const metrics = yield* fetchText(`${base(port)}/metrics`)
        assert.strictEqual(metrics.status, 200)
        assert.deepStrictEqual([...seriesLabels(metrics.body, "service")], [name], `${name}'s HTTP series`)
        assert.deepStrictEqual([...seriesLabels(metrics.body, "schema")], [name], `${name}'s outbox series`)
        const families = new Set(metrics.body.split("\n").flatMap((l) => /^# TYPE (kassa_[a-z_]+)/.exec(l)?.[1] ?? []))
        const documented = documentedMetrics().filter((m) => m.app === "all" || m.app === name).map((m) => m.name)
        assert.sameMembers([...families], documented, `${name}'s business metrics are the documented ones`)
      }
    }), 60_000)
})
