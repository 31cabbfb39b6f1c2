// The renewal engine at scale: N subscriptions whose period has ended (default 100,000; `--million` for 1,000,000),
// billing, payments and the Stripe sandbox as separate processes on the real Postgres, Redis and RabbitMQ, billing's
// scheduler fibers doing the work. Printed in one run, each beside its baseline measured in the same run:
// - invoicing: invoices/s of the invoicing stage, and Postgres's own bulk insert of the same rows;
// - charging: charges/s of the charging stage with the provider limit lifted, and payments' own CreatePayment rate
//   (concurrent RPC calls, as billing makes them); with a 200 ms provider latency; with a limit of 25/s set;
// - billing's peak RSS after 10,000 and after N renewals.
// Targets: invoicing >= 2,000/s; charging >= 0.8x payments' own rate (limit lifted), >= 0.95x the limit when set,
// >= 0.8x the no-latency rate at 200 ms latency; RSS grows < 50 MB from 10k to 100k.
// Usage: node scripts/bench/renewals.ts [N] [--million]
import { BillingMigrations } from "@kassa/billing/migrations"
import { CatalogMigrations } from "@kassa/catalog/migrations"
import { PaymentsRpcClient } from "@kassa/clients"
import { PaymentsMigrations } from "@kassa/payments/migrations"
import { layerFromUrl } from "@kassa/platform/db"
import { InvoiceId, UserId } from "@kassa/domain"
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { execFileSync } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { readFileSync } from "node:fs"
import { setTimeout as sleep } from "node:timers/promises"
import { freePort, printTable, realServicesEnv, type Server, startNode } from "./lib.ts"

const n = process.argv.includes("--million") ? 1_000_000 : Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 100_000)
const productsPerUser = 10
const token = "bench-service-token"
const database = `kassa_bench_renewals_${randomBytes(4).toString("hex")}`
const psql = (command: string) =>
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qtAc", command], { encoding: "utf8" })
    .trim()
execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", `CREATE DATABASE ${database}`], { stdio: "ignore" })
await Effect.runPromise(
  Layer.build(
    Layer.mergeAll(BillingMigrations, PaymentsMigrations, CatalogMigrations).pipe(
      Layer.provide(
        layerFromUrl(Redacted.make(`postgres://postgres@127.0.0.1:5432/${database}`), { maxConnections: 1 })
      )
    )
  ).pipe(Effect.scoped)
)

const env = {
  ...realServicesEnv(database),
  SERVICE_TOKEN: token,
  LOG_LEVEL: "Error",
  REDIS_KEY_PREFIX: `bench:${database}:`
}
const [sandboxPort, paymentsPort, billingPort] = [await freePort(), await freePort(), await freePort()]
const sandbox = await startNode(["apps/stripe-sandbox/src/main.ts"], {
  STRIPE_SANDBOX_PORT: String(sandboxPort),
  STRIPE_SANDBOX_DATA_DIR: "memory"
}, sandboxPort)
const startPayments = (limit: number) =>
  startNode(["apps/payments/src/main.ts"], {
    ...env,
    PAYMENTS_PORT: String(paymentsPort),
    STRIPE_API_BASE: sandbox.url,
    PAYMENTS_PROVIDER_RATE_LIMIT: String(limit)
  }, paymentsPort)
let payments = await startPayments(0)

const postPayments = (path: string, body: unknown) =>
  fetch(`${payments.url}/v1/payments${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body)
  }).then((r) => {
    if (!r.ok) throw new Error(`${path}: ${r.status}`)
  })

/** `count` due subscriptions (a batch of users, each subscribed to `productsPerUser` products), cards saved. */
let batches = 0
const seed = async (subscriptions: number) => {
  const tag = `b${++batches}_${randomUUID().slice(0, 6)}`
  const users = Math.ceil(subscriptions / productsPerUser)
  psql(`INSERT INTO billing.users (id, email, password_hash, role, created_at, updated_at)
    SELECT 'usr_${tag}_' || u, '${tag}-' || u || '@example.com', 'x', 'user', now(), now() FROM generate_series(1, ${users}) u;
    INSERT INTO billing.products (id, name, description, status, catalog_version)
    SELECT 'prod_${tag}_' || p, 'P' || p, '', 'active', 0 FROM generate_series(1, ${productsPerUser}) p;
    INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
    SELECT 'plan_${tag}_' || p, 'prod_${tag}_' || p, 'month', 500 + p, 'EUR', 0, 'active' FROM generate_series(1, ${productsPerUser}) p;
    INSERT INTO billing.subscriptions (id, user_id, product_id, plan_id, status, current_period_start, current_period_end,
      billing_anchor, created_at, updated_at)
    SELECT 'sub_${tag}_' || s, 'usr_${tag}_' || (1 + (s - 1) / ${productsPerUser}), 'prod_${tag}_' || (1 + (s - 1) % ${productsPerUser}),
      'plan_${tag}_' || (1 + (s - 1) % ${productsPerUser}), 'active', now() - interval '1 month' - interval '1 hour',
      now() - interval '1 hour', now() - interval '1 month' - interval '1 hour', now(), now()
    FROM generate_series(1, ${subscriptions}) s;`)
  const ids = Array.from({ length: users }, (_, i) => `usr_${tag}_${i + 1}`)
  for (let i = 0; i < ids.length; i += 16) {
    await Promise.all(
      ids.slice(i, i + 16).map(async (userId) => {
        await postPayments("/customers", { userId })
        await postPayments(`/customers/${userId}/payment-methods`, { paymentMethod: "pm_card_visa" })
      })
    )
  }
  return tag
}

const peakRss = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}
const pidOf = (port: number) =>
  Number(
    execFileSync("sh", ["-c", `ss -ltnpH 'sport = :${port}' | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2`], {
      encoding: "utf8"
    }).trim()
  )

interface Progress {
  readonly at: number
  readonly invoiced: number
  readonly paid: number
}
/** Polls the invoices of `tag` until `target` are paid; the series of (time, invoiced, paid). */
const watch = async (tag: string, target: number, onProgress?: (p: Progress) => void) => {
  const series: Array<Progress> = []
  const started = performance.now()
  while (true) {
    const [invoiced, paid] = psql(`SELECT count(*), count(*) FILTER (WHERE status = 'paid') FROM billing.invoices
      WHERE subscription_id LIKE 'sub_${tag}_%'`).split("|").map(Number) as [number, number]
    const p = { at: (performance.now() - started) / 1000, invoiced, paid }
    series.push(p)
    onProgress?.(p)
    if (paid >= target) return series
    if (p.at > 3600) throw new Error(`stalled at ${paid}/${target} paid`)
    await sleep(250)
  }
}
/** Rate of `field` between its 5% and 95% marks (the steady middle of the run). */
const rate = (series: ReadonlyArray<Progress>, field: "invoiced" | "paid", target: number) => {
  const from = series.find((p) => p[field] >= target * 0.05) ?? series[0]!
  const to = series.find((p) => p[field] >= target * 0.95) ?? series[series.length - 1]!
  return to.at > from.at ? (to[field] - from[field]) / (to.at - from.at) : NaN
}

const startBilling = () =>
  startNode(["apps/billing/src/main.ts"], {
    ...env,
    BILLING_PORT: String(billingPort),
    PAYMENTS_RPC_URL: `${payments.url}/rpc`,
    BILLING_SCHEDULER_INTERVAL: "1 second",
    ETL_SWEEP_INTERVAL: "1 hour"
  }, billingPort)

// ---- 1. N renewals, limit lifted ----------------------------------------------------------------------------
console.log(`seeding ${n.toLocaleString()} due subscriptions…`)
const main = await seed(n)
let billing: Server = await startBilling()
const billingPid = pidOf(billingPort)
let rssAt10k = NaN
const series = await watch(main, n, (p) => {
  if (Number.isNaN(rssAt10k) && p.paid >= Math.min(10_000, n)) rssAt10k = peakRss(billingPid)
})
const rssAtN = peakRss(billingPid)
const invoicing = rate(series, "invoiced", n)
const charging = rate(series, "paid", n)
await billing.stop()

// ---- 2. Postgres's own bulk insert of the same rows ----------------------------------------------------------
psql(`CREATE TABLE billing.bench_invoices (LIKE billing.invoices INCLUDING ALL)`)
const bulkStarted = performance.now()
psql(
  `INSERT INTO billing.bench_invoices (id, user_id, subscription_id, status, amount, currency, period_start, period_end,
    created_at, updated_at, next_charge_at, charge_attempts)
  SELECT 'inv_bulk_' || s.id, s.user_id, s.id, 'open', pl.amount, pl.currency, s.current_period_end,
    s.current_period_end + interval '1 month', now(), now(), now(), 0
  FROM billing.subscriptions s JOIN billing.plans pl ON pl.id = s.plan_id WHERE s.id LIKE 'sub_${main}_%'`
)
const bulk = n / ((performance.now() - bulkStarted) / 1000)

// ---- 3. payments' own CreatePayment rate, as billing calls it (32 at once, limit lifted) ---------------------
const own = await (async () => {
  const runtime = ManagedRuntime.make(PaymentsRpcClient.layer(`${payments.url}/rpc`, Redacted.make(token)))
  const userId = UserId.make(`usr_${main}_1`)
  let done = 0
  const deadline = performance.now() + 10_000
  await runtime.runPromise(Effect.forEach(Array.from({ length: 32 }), () =>
    Effect.gen(function*() {
      const client = yield* PaymentsRpcClient
      while (performance.now() < deadline) {
        yield* client.CreatePayment({
          idempotencyKey: randomUUID(),
          invoiceId: InvoiceId.make(`inv_own_${randomUUID()}`),
          userId,
          amount: 990,
          currency: "EUR",
          offSession: true
        })
        done++
      }
    }), { concurrency: "unbounded", discard: true }))
  await runtime.dispose()
  return done / 10
})()

// ---- 4. 200 ms at the provider --------------------------------------------------------------------------------
const slow = Math.min(4_000, n)
const slowTag = await seed(slow)
await fetch(`${sandbox.url}/_sandbox/faults`, {
  method: "POST",
  headers: { "content-type": "application/json" },
  body: JSON.stringify({ action: "delay", delayMs: 200, method: "POST", path: "/v1/payment_intents", times: 1_000_000 })
})
billing = await startBilling()
const slowRate = rate(await watch(slowTag, slow), "paid", slow)
await billing.stop()
await fetch(`${sandbox.url}/_sandbox/faults`, { method: "DELETE" })

// ---- 5. a provider limit of 25/s, one budget for all payments replicas ----------------------------------------
const limit = 25
await payments.stop()
payments = await startPayments(limit)
const limited = Math.min(1_500, n)
const limitedTag = await seed(limited)
billing = await startBilling()
const limitedRate = rate(await watch(limitedTag, limited), "paid", limited)
await billing.stop()

const fmt = (x: number) => Number.isFinite(x) ? x.toFixed(0) : "—"
const ratio = (a: number, b: number) => Number.isFinite(a / b) ? (a / b).toFixed(2) : "—"
printTable(
  `renewals: ${n.toLocaleString()} subscriptions due, billing ×1 (BILLING_CHARGE_CONCURRENCY 128), payments ×1`,
  [
    {
      stage: "invoicing",
      "per second": fmt(invoicing),
      baseline: `${fmt(bulk)}/s Postgres bulk insert of the same rows`,
      ratio: ratio(invoicing, bulk),
      target: ">= 2,000/s"
    },
    {
      stage: "charging, limit lifted",
      "per second": fmt(charging),
      baseline: `${fmt(own)}/s payments' own CreatePayment`,
      ratio: ratio(charging, own),
      target: ">= 0.8x"
    },
    {
      stage: "charging, 200 ms provider",
      "per second": fmt(slowRate),
      baseline: `${fmt(charging)}/s no latency`,
      ratio: ratio(slowRate, charging),
      target: ">= 0.8x"
    },
    {
      stage: `charging, limit ${limit}/s`,
      "per second": fmt(limitedRate),
      baseline: `${limit}/s the limit`,
      ratio: ratio(limitedRate, limit),
      target: ">= 0.95x"
    }
  ]
)
printTable("billing's peak RSS (MB)", [
  { after: "10,000 renewals", rss: rssAt10k.toFixed(0) },
  {
    after: `${n.toLocaleString()} renewals`,
    rss: rssAtN.toFixed(0),
    growth: (rssAtN - rssAt10k).toFixed(0),
    target: "< 50 MB growth from 10k to 100k"
  }
])

await payments.stop()
await sandbox.stop()
execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`], {
  stdio: "ignore"
})
process.exit(0)
