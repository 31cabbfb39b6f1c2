// What docs/operations.md promises, read back for the tests that hold the code and the alert rules to it.
import * as BillingConfig from "@kassa/billing/config"
import * as CatalogConfig from "@kassa/catalog/config"
import * as ConsoleConfig from "@kassa/console/config"
import * as PaymentsConfig from "@kassa/payments/config"
import * as PlatformConfig from "@kassa/platform/config"
import * as SandboxConfig from "@kassa/stripe-sandbox/config"
import { Config, ConfigProvider, Effect } from "effect"
import { readFileSync } from "node:fs"

export const operationsDoc = readFileSync(new URL("../docs/operations.md", import.meta.url), "utf8")

export interface DocumentedMetric {
  readonly name: string
  /** "all", or the one app that serves it */
  readonly app: string
  /** false when the table says "—" (watched through another metric) */
  readonly alerted: boolean
}

/** The rows of the "Business metrics and alerts" table. */
export const documentedMetrics = (): ReadonlyArray<DocumentedMetric> => {
  const section = operationsDoc.slice(operationsDoc.indexOf("### Business metrics and alerts"))
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("| metric |")))
  return table.split("\n").filter((line) => line.startsWith("| `kassa_")).map((line) => {
    const cells = line.split(" | ")
    return {
      name: /`(kassa_[a-z_]+)/.exec(cells[0]!)![1]!,
      app: cells[1]!.trim(),
      alerted: !cells[3]!.trim().startsWith("—")
    }
  })
}

/** The variable names a config module asks for: each exported Config resolved against a recording provider. */
const variablesOf = (module: object): ReadonlySet<string> => {
  const names = new Set<string>()
  const recording = ConfigProvider.make((path) => {
    names.add(path.join("_"))
    return Effect.succeed(undefined)
  })
  for (const value of Object.values(module) as ReadonlyArray<unknown>) {
    if (Config.isConfig(value)) Effect.runSync(Effect.exit(value.parse(recording)))
  }
  return names
}

/** Each config module's variables: the shared ones (platform) and each app's own (apps/<app>/src/config.ts). */
export const configVariablesBy = {
  platform: variablesOf(PlatformConfig),
  billing: variablesOf(BillingConfig),
  payments: variablesOf(PaymentsConfig),
  catalog: variablesOf(CatalogConfig),
  console: variablesOf(ConsoleConfig),
  "stripe-sandbox": variablesOf(SandboxConfig)
} as const

/** Every variable name the config layer asks for. */
export const configVariables: ReadonlySet<string> = new Set(
  Object.values(configVariablesBy).flatMap((names) => [...names])
)

const whatEachAppNeeds = () =>
  operationsDoc.slice(operationsDoc.indexOf("### What each app needs"), operationsDoc.indexOf("## Running"))

const variablesInTables = (text: string): ReadonlySet<string> => {
  const firstCells = text.split("\n").filter((line) => line.startsWith("| `")).map((line) => line.split(" | ")[0]!)
  return new Set(firstCells.flatMap((cell) => cell.match(/[A-Z][A-Z0-9_]+/g) ?? []))
}

/** The variables named in the first column of the tables under "What each app needs when run alone". */
export const documentedVariables = (): ReadonlySet<string> => variablesInTables(whatEachAppNeeds())

/** The variables of the one table that follows `heading` (e.g. "Payments, besides:") in that section. */
export const documentedVariablesUnder = (heading: string): ReadonlySet<string> => {
  const section = whatEachAppNeeds()
  const start = section.indexOf(heading)
  if (start < 0) return new Set()
  const table = section.indexOf("| variable |", start)
  const end = section.indexOf("\n\n", table)
  return variablesInTables(section.slice(table, end < 0 ? undefined : end))
}
