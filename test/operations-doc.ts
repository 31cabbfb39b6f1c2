// What docs/operations.md promises, read back for the tests that hold the code and the alert rules to it.
import * as PlatformConfig from "@kassa/platform/config"
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

/** Every variable name the config layer asks for: each exported Config resolved against a recording provider. */
export const configVariables: ReadonlySet<string> = (() => {
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

/** The variables named in the first column of the tables under "What each app needs when run alone". */
export const documentedVariables = (): ReadonlySet<string> => {
  const section = operationsDoc.slice(operationsDoc.indexOf("### What each app needs"), operationsDoc.indexOf("## Running"))
  const firstCells = section.split("\n").filter((line) => line.startsWith("| `")).map((line) => line.split(" | ")[0]!)
  return new Set(firstCells.flatMap((cell) => cell.match(/[A-Z][A-Z0-9_]+/g) ?? []))
}
