// docker/prometheus/alerts.yml: a well-formed Prometheus rules file whose alerts are the ones docs/operations.md
// lists, on metrics the apps export (test/start.test.ts checks each app serves the documented ones).
import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { readFileSync } from "node:fs"
import { parse } from "yaml"
import { documentedMetrics } from "./operations-doc.ts"

const PromDuration = Schema.String.check(Schema.isPattern(/^\d+(ms|s|m|h|d|w|y)$/))

const Rule = Schema.Struct({
  alert: Schema.String.check(Schema.isPattern(/^Kassa[A-Za-z]+$/)),
  expr: Schema.NonEmptyString,
  for: Schema.optionalKey(PromDuration),
  labels: Schema.Struct({ severity: Schema.Literals(["warning", "critical"]) }),
  annotations: Schema.Struct({
    summary: Schema.NonEmptyString,
    runbook: Schema.String.check(Schema.isPattern(/^docs\/operations\.md#[a-z0-9_-]+$/))
  })
})
const RulesFile = Schema.Struct({
  groups: Schema.Array(Schema.Struct({ name: Schema.NonEmptyString, rules: Schema.NonEmptyArray(Rule) }))
})

const rules = Schema.decodeUnknownSync(RulesFile, { onExcessProperty: "error" })(
  parse(readFileSync(new URL("../docker/prometheus/alerts.yml", import.meta.url), "utf8"))
).groups.flatMap((group) => group.rules)

/** GitHub's heading anchors of docs/operations.md. */
const anchors = new Set(
  readFileSync(new URL("../docs/operations.md", import.meta.url), "utf8").split("\n")
    .filter((line) => line.startsWith("#"))
    .map((line) => line.replace(/^#+\s*/, "").toLowerCase().replace(/[^a-z0-9 _-]/g, "").replace(/ /g, "-"))
)

describe("docker/prometheus/alerts.yml", () => {
  it("is a Prometheus rules file: named alerts, each with an expression, a severity, a summary and a runbook link", () => {
    assert.isAbove(rules.length, 0)
    assert.strictEqual(new Set(rules.map((r) => r.alert)).size, rules.length, "alert names are unique")
    for (const rule of rules) {
      // balanced brackets: a cheap guard against a truncated PromQL expression
      for (const [open, close] of [["(", ")"], ["{", "}"], ["[", "]"]] as const) {
        assert.strictEqual(
          rule.expr.split(open).length,
          rule.expr.split(close).length,
          `${rule.alert}: ${open}${close}`
        )
      }
      assert.match(rule.expr, /(>|<|==|!=)\s*\d+$/, `${rule.alert} compares with a threshold`)
      assert.isTrue(
        anchors.has(rule.annotations.runbook.split("#")[1]!),
        `${rule.alert}: ${rule.annotations.runbook} exists`
      )
    }
  })

  it("alerts on every metric docs/operations.md gives a threshold, and only on documented metrics", () => {
    const documented = documentedMetrics()
    assert.isAbove(documented.length, 10)
    const used = new Set(rules.flatMap((rule) => rule.expr.match(/kassa_[a-z_]+/g) ?? []))
    for (const metric of documented.filter((m) => m.alerted)) {
      assert.isTrue(used.has(metric.name), `an alert on ${metric.name}`)
    }
    const names = new Set(documented.map((m) => m.name))
    for (const name of used) assert.isTrue(names.has(name), `${name} is documented`)
  })
})
