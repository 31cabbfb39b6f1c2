// `npm run bench [name]`: runs every script in scripts/bench (or the named one) in turn.
import { execFileSync } from "node:child_process"
import { readdirSync } from "node:fs"

const dir = new URL(".", import.meta.url).pathname
const only = process.argv[2]
const benches = readdirSync(dir)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts" && f !== "lib.ts")
  .filter((f) => only === undefined || f === `${only}.ts`)
for (const f of benches) {
  console.log(`\n### ${f}`)
  execFileSync(process.execPath, [dir + f], { stdio: "inherit" })
}
