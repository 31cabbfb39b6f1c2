// Billing's GET /health against bare node:http answering the same bytes: same machine, same
// autocannon settings, rounds alternating. Target: ratio >= 0.75.
import { execFileSync } from "node:child_process"
import { compareWithBare, freePort, realServicesEnv, startNode } from "./lib.ts"

const rounds = Number(process.argv[2] ?? 5)
const database = "kassa_bench"
try {
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", `CREATE DATABASE ${database}`], { stdio: "ignore" })
} catch { /* exists already */ }

const port = await freePort()
const billing = await startNode(["apps/billing/src/main.ts"], {
  ...realServicesEnv(database),
  BILLING_PORT: String(port)
}, port)
try {
  await compareWithBare({ title: "GET /health", name: "billing /health", url: billing.url + "/health", rounds })
  console.log("target >= 0.75")
} finally {
  await billing.stop()
}
