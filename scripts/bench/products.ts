// The catalog → billing path, with catalog and billing as child processes on the real Postgres, Redis and
// RabbitMQ (default ETL settings: woken by catalog.product.* events, 2 s sweep):
//  - propagation: create a product through the catalog's admin API, poll billing's GET /v1/products/:id
//    every 10 ms until it answers; target p99 well under the 5 s promise.
//  - GET /v1/products (a page of 20 products with plans and films) at full speed, against bare node:http
//    answering the same bytes in the same run.
import { randomBytes, randomUUID } from "node:crypto"
import { execFileSync } from "node:child_process"
import { setTimeout as sleep } from "node:timers/promises"
import { SignJWT } from "jose"
import { compareWithBare, freePort, printTable, realServicesEnv, startNode } from "./lib.ts"

const rounds = Number(process.argv[2] ?? 3)
const products = 40
const database = `kassa_bench_products_${randomBytes(4).toString("hex")}`
const psql = (command: string) =>
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", command], { stdio: "ignore" })
psql(`CREATE DATABASE ${database}`)

const secret = randomBytes(32).toString("base64url")
const env = { ...realServicesEnv(database), JWT_SECRET: secret }
const [billingPort, catalogPort] = [await freePort(), await freePort()]
const billing = await startNode(
  ["apps/billing/src/main.ts"],
  { ...env, BILLING_PORT: String(billingPort) },
  billingPort
)
const catalog = await startNode(
  ["apps/catalog/src/main.ts"],
  { ...env, CATALOG_PORT: String(catalogPort) },
  catalogPort
)

const now = Math.floor(Date.now() / 1000)
const adminToken = await new SignJWT({ email: "bench@example.com", role: "admin", sid: randomUUID() })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject("usr_bench").setJti(randomUUID()).setIssuer("kassa").setAudience("kassa")
  .setIssuedAt(now).setExpirationTime(now + 900)
  .sign(Buffer.from(secret, "utf8"))

const admin = async <A>(path: string, body: unknown): Promise<A> => {
  const response = await fetch(catalog.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${adminToken}` },
    body: JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return response.json() as Promise<A>
}

const films: Array<string> = []
for (let i = 0; i < 10; i++) {
  films.push(
    (await admin<{ id: string }>("/admin/v1/films", {
      title: `Film ${i}`,
      releaseYear: 1990 + i,
      durationMinutes: 90 + i,
      ageRating: "12+"
    })).id
  )
}

const latencies: Array<number> = []
let errors = 0
try {
  for (let i = 0; i < products; i++) {
    const started = performance.now()
    const product = await admin<{ id: string }>("/admin/v1/products", {
      name: `Product ${String(i).padStart(2, "0")}`,
      filmIds: films.slice(0, 1 + (i % films.length)),
      plans: [
        { interval: "month", amount: 999, currency: "USD", trialDays: 7 },
        { interval: "year", amount: 8900, currency: "EUR" }
      ]
    })
    for (;;) {
      const response = await fetch(`${billing.url}/v1/products/${product.id}`)
      await response.arrayBuffer()
      if (response.ok) break
      if (performance.now() - started > 10_000) {
        errors++
        break
      }
      await sleep(10)
    }
    latencies.push(performance.now() - started)
  }
} catch (error) {
  await billing.stop()
  await catalog.stop()
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
  throw error
}
const sorted = [...latencies].sort((a, b) => a - b)
const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN

printTable(`catalog → billing propagation: ${products} products created one by one through the admin API`, [{
  "p50 ms": pct(0.5),
  "p90 ms": pct(0.9),
  "p99 ms": pct(0.99),
  "max ms": sorted[sorted.length - 1] ?? NaN,
  "not visible within 10 s": errors
}])
try {
  const bytes = Buffer.byteLength(await (await fetch(billing.url + "/v1/products")).text())
  await compareWithBare({
    title: `GET /v1/products (20 of ${products} products, ${bytes} bytes)`,
    name: "billing /v1/products",
    url: billing.url + "/v1/products",
    rounds
  })
} finally {
  await billing.stop()
  await catalog.stop()
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
}
