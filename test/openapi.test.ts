// Every app's OpenAPI document as an integrator meets it: Redocly's recommended rules pass with no error and no
// warning, and the points client generators and the docs page trip over hold (Bearer auth, integer `limit`, the
// server's password bounds, dated strings with a format, no `Encoded`/`_1` names, no 413/415 on body-less calls).
import { assert, describe, it } from "@effect/vitest"
import { PASSWORD_MIN_LENGTH } from "@kassa/domain/auth"
import { BillingApi, CatalogApi, PaymentsApi } from "@kassa/domain/apis"
import { OpenApi } from "effect/http-api"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { resolve } from "node:path"
import { repoRoot } from "./processes.ts"

type Json = Record<string, any>

const specs: Record<string, Json> = {
  billing: OpenApi.fromApi(BillingApi),
  payments: OpenApi.fromApi(PaymentsApi),
  catalog: OpenApi.fromApi(CatalogApi)
}

const operations = (spec: Json) =>
  Object.entries(spec["paths"] as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]) => ({ path, method, operation }))
  )

/** Every (name, schema) property of every component schema, nested objects and array items included. */
const properties = (schema: Json, found: Array<readonly [string, Json]> = []): Array<readonly [string, Json]> => {
  for (const [name, property] of Object.entries((schema["properties"] ?? {}) as Record<string, Json>)) {
    found.push([name, property])
    properties(property, found)
  }
  for (const key of ["items", "anyOf", "oneOf", "allOf"]) {
    const child = schema[key]
    for (const member of Array.isArray(child) ? child : child === undefined ? [] : [child]) properties(member, found)
  }
  return found
}

describe("OpenAPI documents", () => {
  it("pass `redocly lint` with the recommended rules: no error, no warning", () => {
    const dir = mkdtempSync(resolve(tmpdir(), "kassa-openapi-"))
    try {
      // The one exception: liveness, readiness and metrics have no client error to document (the rule wants a 4xx on
      // every operation); ignored for those operations alone, and only while they have none.
      const ignore: Record<string, Json> = {}
      for (const [name, spec] of Object.entries(specs)) {
        writeFileSync(resolve(dir, `${name}.json`), JSON.stringify(spec, null, 2))
        const system = ["/health", "/ready", "/metrics"].filter((path) =>
          !Object.keys(spec["paths"][path]["get"]["responses"]).some((status) => status.startsWith("4"))
        )
        ignore[`${name}.json`] = {
          "operation-4xx-response": system.map((path) => `#/paths/~1${path.slice(1)}/get/responses`)
        }
      }
      writeFileSync(resolve(dir, ".redocly.lint-ignore.yaml"), JSON.stringify(ignore, null, 2))
      const cli = resolve(repoRoot, "node_modules/@redocly/cli/bin/cli.js")
      // one file per run: the JSON report of several files is several documents
      const lint = (file: string) => {
        const stdout = (() => {
          try {
            return execFileSync(process.execPath, [cli, "lint", "--extends", "recommended", "--format", "json", file], {
              cwd: dir,
              encoding: "utf8",
              env: {
                PATH: process.env["PATH"] ?? "",
                REDOCLY_TELEMETRY: "off",
                REDOCLY_SUPPRESS_UPDATE_NOTICE: "true"
              },
              stdio: ["ignore", "pipe", "pipe"]
            })
          } catch (error) {
            // the CLI exits 1 when there are errors; its report is still on stdout
            return String((error as { stdout?: unknown }).stdout ?? "")
          }
        })()
        return JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: Array<Json> }
      }
      for (const name of Object.keys(specs)) {
        const report = lint(`${name}.json`)
        const problems = report.problems.map((p) =>
          `${name}: ${p["ruleId"]} at ${p["location"]?.[0]?.["pointer"]}: ${p["message"]}`
        )
        assert.deepStrictEqual(problems, [])
        assert.strictEqual(report.totals.errors + report.totals.warnings, 0, name)
      }
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  for (const [name, spec] of Object.entries(specs)) {
    describe(name, () => {
      it("names its bearer scheme `bearer` (what the docs page needs to show `Authorization: Bearer …`) and says where it is served", () => {
        const schemes = Object.values(spec["components"]["securitySchemes"] as Record<string, Json>)
        assert.isAbove(schemes.length, 0)
        for (const scheme of schemes) assert.deepInclude(scheme, { type: "http", scheme: "bearer" })
        assert.deepStrictEqual(spec["servers"]?.map((s: Json) => s["url"]), ["/"])
      })

      it("every operation has a summary; body-less ones list no 413/415; `limit` is an integer", () => {
        for (const { path, method, operation } of operations(spec)) {
          assert.isString(operation["summary"], `${method} ${path}`)
          if (method === "get" || method === "delete") {
            assert.notProperty(operation["responses"], "413", `${method} ${path}`)
            assert.notProperty(operation["responses"], "415", `${method} ${path}`)
          }
          for (const parameter of operation["parameters"] ?? []) {
            if (parameter["name"] === "limit") {
              assert.deepInclude(parameter["schema"], { type: "integer", minimum: 1, maximum: 100 })
            }
          }
        }
      })

      it("component names are the schemas' own (no `Encoded`, no `_1`); instants carry format date-time", () => {
        const names = Object.keys(spec["components"]["schemas"])
        assert.deepStrictEqual(names.filter((n) => /Encoded$|_\d+$/.test(n)), [])
        const dated = /At$|^until$|^period(Start|End)$|^currentPeriod(Start|End)$|^expiresAt$/
        for (const schema of Object.values(spec["components"]["schemas"] as Record<string, Json>)) {
          for (const [field, property] of properties(schema)) {
            if (!dated.test(field)) continue
            const strings = [property, ...(property["anyOf"] ?? [])].filter((s: Json) => s["type"] === "string")
            for (const s of strings) assert.strictEqual(s["format"], "date-time", field)
          }
        }
      })
    })
  }

  it("the schemas say what the server checks: an 8-character password, a plan amount of at least 1", () => {
    const schemas = specs["billing"]!["components"]["schemas"]
    assert.strictEqual(schemas["Password"]["minLength"], PASSWORD_MIN_LENGTH)
    assert.isAtLeast(schemas["OfferedPlan"]["properties"]["amount"]["minimum"], 1)
    assert.strictEqual(schemas["CalendarDate"]["format"], "date")
  })
})
