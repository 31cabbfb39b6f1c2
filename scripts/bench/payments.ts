// Payments: charges per second through CreatePayment (RPC, as billing calls it) against the Stripe sandbox at
// concurrency 32 with the provider rate limit lifted, and webhook ingress latency at a steady 100 req/s, each
// beside bare node:http measured in the same run. The sandbox and payments run as separate processes on real
// Postgres, Redis and RabbitMQ. Targets: >= 300 charges/s; webhook p99 <= 50 ms.
import { PaymentsRpcClient } from "@kassa/clients"
import { signatureHeader } from "@kassa/stripe-sandbox"
import { InvoiceId, UserId } from "@kassa/domain"
import { Clock, Effect, ManagedRuntime, Redacted, Ref } from "effect"
import { execFileSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { freePort, load, printTable, realServicesEnv, startBare, startNode } from "./lib.ts"

const concurrency = 32
const chargeSeconds = Number(process.argv[2] ?? 10)
const webhookSeconds = Number(process.argv[3] ?? 10)
const token = "bench-service-token"
const secret = "whsec_bench"
const database = "kassa_bench_payments"

const psql = (command: string) =>
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-qc", command], { stdio: "ignore" })
psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
psql(`CREATE DATABASE ${database}`)

const sandboxPort = await freePort()
const paymentsPort = await freePort()
const sandbox = await startNode(["apps/stripe-sandbox/src/main.ts"], {
  STRIPE_SANDBOX_PORT: String(sandboxPort),
  // measured as before: nothing written to disk, and nothing added to npm start's sandbox account
  STRIPE_SANDBOX_DATA_DIR: "memory",
  STRIPE_WEBHOOK_SECRET: secret,
  STRIPE_SANDBOX_WEBHOOK_URLS: `http://127.0.0.1:${paymentsPort}/webhooks/stripe`
}, sandboxPort)
const payments = await startNode(["apps/payments/src/main.ts"], {
  ...realServicesEnv(database),
  PAYMENTS_PORT: String(paymentsPort),
  STRIPE_API_BASE: sandbox.url,
  STRIPE_WEBHOOK_SECRET: secret,
  SERVICE_TOKEN: token,
  PAYMENTS_PROVIDER_RATE_LIMIT: "0"
}, paymentsPort)
const bare = await startBare(JSON.stringify({ received: true }), "application/json")

interface ChargeRun {
  readonly charges: number
  readonly perSecond: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN

/** `concurrency` fibers calling CreatePayment back to back for `seconds`, each charge a new invoice. */
const charges = (seconds: number) =>
  Effect.gen(function*() {
    const client = yield* PaymentsRpcClient
    // customers exist before the clock starts: the first charge of a user also creates its Stripe customer
    const users = Array.from({ length: concurrency }, () => UserId.make(`usr_bench_${randomUUID()}`))
    yield* Effect.forEach(users, (userId) => client.EnsureCustomer({ userId }), { concurrency, discard: true })
    const latencies: Array<number> = []
    const errors = yield* Ref.make(0)
    const start = yield* Clock.currentTimeMillis
    const deadline = start + seconds * 1000
    const worker = (userId: UserId) =>
      Effect.gen(function*() {
        while ((yield* Clock.currentTimeMillis) < deadline) {
          const began = yield* Clock.currentTimeNanos
          const result = yield* Effect.result(client.CreatePayment({
            idempotencyKey: randomUUID(),
            invoiceId: InvoiceId.make(`inv_${randomUUID()}`),
            userId,
            amount: 999,
            currency: "EUR",
            paymentMethod: "pm_card_visa",
            offSession: true
          }))
          const ended = yield* Clock.currentTimeNanos
          if (result._tag === "Success" && result.success.status === "succeeded") {
            latencies.push(Number(ended - began) / 1e6)
          } else yield* Ref.update(errors, (n) => n + 1)
        }
      })
    yield* Effect.forEach(users, worker, { concurrency, discard: true })
    const elapsed = ((yield* Clock.currentTimeMillis) - start) / 1000
    const sorted = latencies.sort((a, b) => a - b)
    return {
      charges: sorted.length,
      perSecond: sorted.length / elapsed,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
      errors: yield* Ref.get(errors)
    } satisfies ChargeRun
  })

/** A signed Stripe event per request (fresh id and timestamp), as Stripe would send it. */
const webhookRequest = () => {
  const body = JSON.stringify({
    id: `evt_${randomUUID().replaceAll("-", "")}`,
    object: "event",
    type: "payment_intent.succeeded",
    created: 0,
    data: {
      object: {
        id: `pi_${randomUUID().replaceAll("-", "")}`,
        object: "payment_intent",
        status: "succeeded",
        metadata: {}
      }
    }
  })
  return {
    body,
    headers: {
      "content-type": "application/json",
      "stripe-signature": signatureHeader(body, secret, Math.floor(Effect.runSync(Clock.currentTimeMillis) / 1000))
    }
  }
}

const webhookLoad = (url: string, seconds: number) =>
  load({
    url,
    method: "POST",
    connections: 10,
    overallRate: 100,
    duration: seconds,
    requests: [{ setupRequest: (request) => ({ ...request, ...webhookRequest() }) }]
  })

const runtime = ManagedRuntime.make(PaymentsRpcClient.layer(`${payments.url}/rpc`, Redacted.make(token)))
try {
  await runtime.runPromise(charges(2)) // warm-up
  const chargeRun = await runtime.runPromise(charges(chargeSeconds))
  const bareRun = await load({ url: bare.url, connections: concurrency, duration: chargeSeconds })
  await webhookLoad(`${payments.url}/webhooks/stripe`, 2) // warm-up
  const webhooks = await webhookLoad(`${payments.url}/webhooks/stripe`, webhookSeconds)
  const bareWebhooks = await webhookLoad(bare.url, webhookSeconds)

  printTable(
    `CreatePayment over RPC, concurrency ${concurrency}, ${chargeSeconds} s, provider limit lifted (target >= 300/s)`,
    [
      {
        target: "bare node:http (tiny JSON)",
        "per s": Math.round(bareRun.rps),
        "p50 ms": bareRun.p50,
        "p99 ms": bareRun.p99,
        errors: bareRun.errors
      },
      {
        target: "CreatePayment → sandbox",
        "per s": Math.round(chargeRun.perSecond),
        "p50 ms": Math.round(chargeRun.p50 * 10) / 10,
        "p99 ms": Math.round(chargeRun.p99 * 10) / 10,
        errors: chargeRun.errors
      }
    ]
  )
  printTable(`POST /webhooks/stripe at 100 req/s, ${webhookSeconds} s (target p99 <= 50 ms)`, [
    {
      target: "bare node:http",
      "req/s": Math.round(bareWebhooks.rps),
      "p50 ms": bareWebhooks.p50,
      "p99 ms": bareWebhooks.p99,
      errors: bareWebhooks.errors
    },
    {
      target: "payments webhook",
      "req/s": Math.round(webhooks.rps),
      "p50 ms": webhooks.p50,
      "p99 ms": webhooks.p99,
      errors: webhooks.errors
    }
  ])
  console.log(
    `\ncharges: ${chargeRun.charges} succeeded in ${chargeSeconds} s (${
      chargeRun.perSecond.toFixed(0)
    }/s; target >= 300)`
  )
  console.log(`webhook p99: ${webhooks.p99} ms (target <= 50)`)
} finally {
  await runtime.dispose()
  await payments.stop()
  await sandbox.stop()
  await bare.stop()
  psql(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`)
}
