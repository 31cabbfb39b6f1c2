// Full subscribe flows (POST /v1/subscriptions: idempotency record, plan lookup, subscription + invoice + events in
// one statement, the charge through payments' RPC to the Stripe sandbox, the outcome applied) with billing,
// payments and the sandbox as child processes on the real Postgres, Redis and RabbitMQ. Registration is done
// before measuring, as is saving each viewer's card (POST /v1/payment-methods). Two loads: as fast as it goes (autocannon -c 32, 10 s after a 3 s warm-up), and an evenly paced 50 req/s for 10 s for the p99; bare node:http
// answering a subscribe response's bytes runs in the same run. Target: >= 150 subscribes/s, p99 <= 100 ms at 50/s.
import { randomBytes, randomUUID } from "node:crypto"
import { execFileSync } from "node:child_process"
import { availableParallelism } from "node:os"
import type autocannon from "autocannon"
import {
  cpuPerUnit,
  cpuSnapshot,
  freePort,
  load,
  migrateCatalog,
  paced,
  printTable,
  realServicesEnv,
  startBare,
  startNode
} from "./lib.ts"

const users = 64
const nproc = availableParallelism()
const products = 400
const database = `kassa_bench_subscribe_${randomBytes(4).toString("hex")}`
const psql = (command: string) =>
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qc", command], { stdio: "ignore" })
execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", `CREATE DATABASE ${database}`], { stdio: "ignore" })
await migrateCatalog(database)

const token = randomBytes(16).toString("hex")
// the bench's 64 viewers sign up from one address, past the default per-address registration limit
const env = {
  ...realServicesEnv(database),
  JWT_SECRET: randomBytes(32).toString("base64url"),
  SERVICE_TOKEN: token,
  REGISTER_MAX_PER_ADDRESS: "1000"
}
const [sandboxPort, paymentsPort, billingPort] = [await freePort(), await freePort(), await freePort()]
// in memory: nothing added to npm start's sandbox account under .kassa
const sandbox = await startNode(["apps/stripe-sandbox/src/main.ts"], {
  STRIPE_SANDBOX_PORT: String(sandboxPort),
  STRIPE_SANDBOX_DATA_DIR: "memory"
}, sandboxPort)
const payments = await startNode(["apps/payments/src/main.ts"], {
  ...env,
  PAYMENTS_PORT: String(paymentsPort),
  STRIPE_API_BASE: sandbox.url,
  STRIPE_API_KEY: "sk_test_kassa_sandbox",
  // the limiter models Stripe's own rate limit; the sandbox has none, and this measures billing's flow
  PAYMENTS_PROVIDER_RATE_LIMIT: "0"
}, paymentsPort)
const billing = await startNode(["apps/billing/src/main.ts"], {
  ...env,
  BILLING_PORT: String(billingPort),
  PAYMENTS_RPC_URL: `${payments.url}/rpc`
}, billingPort)

const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
  const response = await fetch(billing.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body)
  })
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
  return response.json() as Promise<Record<string, unknown>>
}

try {
  // the catalog copy is written directly: this measures subscribing, not the ETL
  const values = Array.from({ length: products }, (_, i) => `('prod_${i}', 'Product ${i}', '', 'active', 0)`).join(",")
  psql(`INSERT INTO billing.products (id, name, description, status, catalog_version) VALUES ${values}`)
  psql(`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
    SELECT 'plan_' || substr(id, 6), id, 'month', 990, 'EUR', 0, 'active' FROM billing.products`)

  const tokens: Array<string> = []
  for (let i = 0; i < users; i++) {
    const email = `bench-${randomUUID()}@example.com`
    await post("/v1/auth/register", { email, password: "bench password 1234" })
    const accessToken = String(
      (await post("/v1/auth/token", { email, password: "bench password 1234" }))["accessToken"]
    )
    // a saved card, as a returning viewer has: the subscribe charges the default method
    await post("/v1/payment-methods", { paymentMethod: "pm_card_visa" }, { authorization: `Bearer ${accessToken}` })
    tokens.push(accessToken)
  }

  // request n: user n mod users, product n div users — every request a new (user, product) and a new key
  let next = 0
  const subscribeRequest = (): autocannon.Request => {
    const n = next++
    return {
      method: "POST",
      path: "/v1/subscriptions",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${tokens[n % users]}`,
        "idempotency-key": randomUUID()
      },
      body: JSON.stringify({ planId: `plan_${Math.floor(n / users) % products}` })
    }
  }
  const sample = await fetch(billing.url + "/v1/subscriptions", subscribeRequest() as RequestInit)
  const sampleBody = await sample.text()
  if (sample.status !== 201) throw new Error(`subscribe: ${sample.status} ${sampleBody}`)
  const bare = await startBare(sampleBody, "application/json")
  const capacity = users * products - 1
  try {
    const bareFull = await load({ url: bare.url, method: "POST", duration: 5 })
    const groups = {
      billing: (cmd: string) => cmd.includes("apps/billing/src/main.ts"),
      payments: (cmd: string) => cmd.includes("apps/payments/src/main.ts"),
      "stripe sandbox": (cmd: string) => cmd.includes("apps/stripe-sandbox/src/main.ts"),
      postgres: (cmd: string) => cmd.startsWith("postgres"),
      rabbitmq: (cmd: string) => cmd.includes("beam.smp"),
      redis: (cmd: string) => cmd.startsWith("redis-server"),
      "load generator (this process)": (cmd: string) => cmd.includes("scripts/bench/subscribe.ts")
    }
    // warm-up (JIT, pools, prepared statements) before anything is measured
    await load({ url: billing.url, requests: [{ setupRequest: () => subscribeRequest() }], duration: 3 })
    const cpuBefore = cpuSnapshot(groups)
    const firstFull = next
    const full = await load({ url: billing.url, requests: [{ setupRequest: () => subscribeRequest() }], duration: 10 })
    const cpu = cpuPerUnit(cpuBefore, cpuSnapshot(groups), next - firstFull, "subscribe")
    const pacedRequest = () => {
      const { body, headers, method } = subscribeRequest()
      return { method: method ?? "POST", headers: headers as Record<string, string>, body: String(body) }
    }
    const bareRated = await paced({ url: bare.url, rate: 50, duration: 10, request: pacedRequest })
    const rated = await paced({ url: `${billing.url}/v1/subscriptions`, rate: 50, duration: 10, request: pacedRequest })
    if (next > capacity) throw new Error("ran out of (user, product) pairs; raise users or products")
    const row = (target: string, mode: string, r: Awaited<ReturnType<typeof load>>) => ({
      target,
      load: mode,
      "req/s": Math.round(r.rps),
      "p50 ms": r.p50,
      "p99 ms": r.p99,
      errors: r.errors
    })
    printTable("POST /v1/subscriptions (full flow, sandbox charge)", [
      row("bare node:http", "-c 32", bareFull),
      row("billing subscribe", "-c 32", full),
      row("bare node:http", "50 req/s paced, 10 s", bareRated),
      row("billing subscribe", "50 req/s paced, 10 s", rated)
    ])
    console.log("target: >= 150 subscribes/s at -c 32; p99 <= 100 ms at 50 req/s")
    printTable(`where the CPU went during the -c 32 row (${nproc} cores)`, cpu)
  } finally {
    await bare.stop()
  }
} finally {
  await billing.stop()
  await payments.stop()
  await sandbox.stop()
  execFileSync(
    "psql",
    ["-h", "127.0.0.1", "-U", "postgres", "-qc", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`],
    { stdio: "ignore" }
  )
}
