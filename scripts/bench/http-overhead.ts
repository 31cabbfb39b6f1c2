// Billing's GET /health against bare node:http answering the same bytes: same machine, same
// autocannon settings, rounds alternating. Target: ratio >= 0.75.
import { execFileSync } from "node:child_process"
import { freePort, load, median, printTable, realServicesEnv, startBare, startNode, type LoadResult } from "./lib.ts"

const rounds = Number(process.argv[2] ?? 5)
const database = "kassa_bench"
try {
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", `CREATE DATABASE ${database}`], { stdio: "ignore" })
} catch { /* exists already */ }

const port = await freePort()
const billing = await startNode(["apps/billing/src/main.ts"], { ...realServicesEnv(database), BILLING_PORT: String(port) }, port)
const sample = await fetch(billing.url + "/health")
const bare = await startBare(await sample.text(), sample.headers.get("content-type") ?? "application/json")

const results: { bare: Array<LoadResult>; billing: Array<LoadResult> } = { bare: [], billing: [] }
try {
  // warm both up (JIT) before measuring
  await load({ url: bare.url, duration: 3 })
  await load({ url: billing.url + "/health", duration: 3 })
  for (let i = 0; i < rounds; i++) {
    results.bare.push(await load({ url: bare.url }))
    results.billing.push(await load({ url: billing.url + "/health" }))
  }
} finally {
  await billing.stop()
  await bare.stop()
}

const row = (name: string, rs: ReadonlyArray<LoadResult>) => ({
  target: name,
  "req/s (median)": Math.round(median(rs.map((r) => r.rps))),
  "req/s per round": rs.map((r) => Math.round(r.rps)).join(" / "),
  "p99 ms (median)": median(rs.map((r) => r.p99)),
  errors: rs.reduce((n, r) => n + r.errors, 0)
})
const ratios = results.billing.map((r, i) => r.rps / (results.bare[i]?.rps ?? NaN))
printTable(`GET /health, autocannon -c 32, ${rounds} alternating rounds of 5 s`, [
  row("bare node:http", results.bare),
  row("billing /health", results.billing)
])
console.log(`\nratio billing / bare: median ${median(ratios).toFixed(2)} (per round ${ratios.map((r) => r.toFixed(2)).join(", ")}); target >= 0.75`)
