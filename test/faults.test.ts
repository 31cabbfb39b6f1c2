// The fault suite: billing and payments as separate processes on the real Postgres, Redis and RabbitMQ, each reached
// through a TCP proxy, payments charging the Stripe sandbox (in this process, so its ledger can be read and faults
// injected) through another. A bounded load of subscribes, pays and cancels — each retried with its Idempotency-Key
// until final, as a careful client does — runs through one scenario after another: Postgres cut and stalled,
// billing and payments SIGKILLed mid-load, the provider failing (500s, answers dropped after the charge), Redis and
// RabbitMQ cut, the links between the apps cut, and a provider taking 2 s per charge while Postgres is watched for
// transactions left idle. Then, once everything has settled, the invariants in SQL and against the sandbox's ledger.
import { assert, it } from "@effect/vitest"
import { developmentApiKey } from "@kassa/payments/config"
import { StripeSandbox } from "@kassa/stripe-sandbox"
import amqp from "amqplib"
import { randomUUID } from "node:crypto"
import { Context, type Duration, Effect, Fiber, Layer, Schedule } from "effect"
import { type Answer, appProcess, freePort, link, makeTally, migratedDatabase, untilFinal } from "./fault-support.ts"

const serviceToken = "fault-suite-service-token"
const webhookSecret = "whsec_fault_suite"
const jwtSecret = "fault-suite-jwt-secret-0123456789abcdef"
const clients = 8
const products = 4

interface Phase {
  readonly name: string
  readonly run: Effect.Effect<void>
}

it.live(
  "money survives every fault: no double charge, nothing unknown, every refund ends its access, every event out",
  () =>
    Effect.gen(function*() {
      // ---- the world ------------------------------------------------------------------------------------------
      const { dbName, sql } = yield* migratedDatabase(4)
      const planIds: Array<string> = []
      for (let i = 0; i < products; i++) {
        const productId = `prod_fault_${i}_${randomUUID()}`
        const planId = `plan_fault_${i}_${randomUUID()}`
        yield* sql`INSERT INTO billing.products (id, name, description, status, catalog_version)
        VALUES (${productId}, ${`Product ${i}`}, '', 'active', 0)`
        yield* sql`INSERT INTO billing.plans (id, product_id, interval, amount, currency, trial_days, status)
        VALUES (${planId}, ${productId}, 'month', ${500 + i * 100}, 'EUR', 0, 'active')`
        planIds.push(planId)
      }

      const sandbox = Context.get(
        yield* Layer.build(StripeSandbox.layer({ webhookRetryBase: "200 millis" })),
        StripeSandbox
      )
      const [billingPort, paymentsPort] = [yield* freePort, yield* freePort]
      const pgForBilling = yield* link(5432)
      const pgForPayments = yield* link(5432)
      const redis = yield* link(6379)
      const rabbit = yield* link(5672)
      const toPayments = yield* link(paymentsPort)
      const toBilling = yield* link(billingPort)
      const toStripe = yield* link(Number(sandbox.url.port))
      yield* sandbox.webhooks.addEndpoint(`http://127.0.0.1:${paymentsPort}/webhooks/stripe`, webhookSecret)

      const exchange = `kassa.faults.${randomUUID()}`
      const dbUrl = (port: number) => `postgres://postgres@127.0.0.1:${port}/${dbName}`
      const shared = {
        HOST: "127.0.0.1",
        REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        REDIS_KEY_PREFIX: `faults:${randomUUID()}:`,
        REDIS_COMMAND_TIMEOUT: "300 millis",
        AMQP_URL: `amqp://guest:guest@127.0.0.1:${rabbit.port}`,
        AMQP_EXCHANGE: exchange,
        SERVICE_TOKEN: serviceToken,
        JWT_SECRET: jwtSecret,
        REQUEST_TIMEOUT: "15 seconds",
        OUTBOX_POLL_INTERVAL: "200 millis"
      }

      // every event the apps publish, as a consumer bound to the exchange receives it
      const received = new Set<string>()
      const connection = yield* Effect.acquireRelease(
        Effect.promise(() => amqp.connect("amqp://guest:guest@127.0.0.1:5672")),
        (c) => Effect.promise(() => c.close().catch(() => undefined))
      )
      const channel = yield* Effect.promise(() => connection.createChannel())
      yield* Effect.promise(async () => {
        await channel.assertExchange(exchange, "topic", { durable: true })
        const { queue } = await channel.assertQueue("", { exclusive: true })
        await channel.bindQueue(queue, exchange, "#")
        await channel.consume(queue, (message) => {
          if (message === null) return
          received.add((JSON.parse(message.content.toString()) as { id: string }).id)
          channel.ack(message)
        })
      })
      yield* Effect.addFinalizer(() => Effect.promise(() => channel.deleteExchange(exchange).catch(() => undefined)))

      const payments = yield* appProcess("payments", paymentsPort, {
        ...shared,
        DATABASE_URL: dbUrl(pgForPayments.port),
        PAYMENTS_PORT: String(paymentsPort),
        BILLING_RPC_URL: `http://127.0.0.1:${toBilling.port}/rpc`,
        STRIPE_API_KEY: developmentApiKey,
        STRIPE_API_BASE: `http://127.0.0.1:${toStripe.port}`,
        STRIPE_WEBHOOK_SECRET: webhookSecret,
        STRIPE_TIMEOUT: "3 seconds",
        PAYMENTS_PROVIDER_RATE_LIMIT: "0",
        PAYMENTS_RECONCILE_INTERVAL: "1 second",
        PAYMENTS_RECONCILE_SCHEDULE: "3 seconds,5 seconds"
      })
      const billing = yield* appProcess("billing", billingPort, {
        ...shared,
        DATABASE_URL: dbUrl(pgForBilling.port),
        BILLING_PORT: String(billingPort),
        PAYMENTS_RPC_URL: `http://127.0.0.1:${toPayments.port}/rpc`,
        BILLING_SCHEDULER_INTERVAL: "2 seconds",
        ETL_SWEEP_INTERVAL: "1 minute"
      })

      // ---- the load --------------------------------------------------------------------------------------------
      const base = `http://127.0.0.1:${billingPort}`
      const call =
        (method: string, path: string, token: string | undefined, body?: unknown, key?: string) =>
        async (): Promise<Answer> => {
          const response = await fetch(`${base}${path}`, {
            method,
            signal: AbortSignal.timeout(20_000),
            headers: {
              "content-type": "application/json",
              ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
              ...(key === undefined ? {} : { "idempotency-key": key })
            },
            ...(body === undefined ? {} : { body: JSON.stringify(body) })
          })
          const text = await response.text()
          return { status: response.status, body: text === "" ? {} : JSON.parse(text) as Record<string, unknown> }
        }

      let phase = "setup"
      let faulty = false
      const tallies = new Map<string, ReturnType<typeof makeTally>>()
      const tally = () => {
        let found = tallies.get(phase)
        if (found === undefined) tallies.set(phase, found = makeTally())
        return found
      }
      const send = (request: () => Promise<Answer>) => untilFinal(tally, () => faulty, request)

      const viewers: Array<string> = []
      for (let i = 0; i < clients; i++) {
        const email = `fault-${i}-${randomUUID()}@example.com`
        const password = "correct horse battery staple"
        yield* send(call("POST", "/v1/auth/register", undefined, { email, password }))
        const tokens = yield* send(call("POST", "/v1/auth/token", undefined, { email, password }))
        const token = tokens.body["accessToken"] as string
        yield* send(call("POST", "/v1/payment-methods", token, { paymentMethod: "pm_card_visa" }))
        viewers.push(token)
      }

      let stop = false
      const operations = { subscribes: 0, pays: 0, cancels: 0 }
      const client = (token: string, index: number) =>
        Effect.gen(function*() {
          for (let round = 0; !stop; round++) {
            const planId = planIds[(index + round) % products]!
            const declined = (index + round) % 3 === 0
            const subscribed = yield* send(call("POST", "/v1/subscriptions", token, {
              planId,
              ...(declined ? { paymentMethod: "pm_card_chargeDeclined" } : {})
            }, randomUUID()))
            operations.subscribes++
            if (subscribed.status === 409 && subscribed.body["_tag"] === "AlreadySubscribed") {
              yield* send(
                call("POST", `/v1/subscriptions/${String(subscribed.body["subscriptionId"])}/cancel`, token, {
                  atPeriodEnd: false
                })
              )
              continue
            }
            assert.strictEqual(subscribed.status, 201, JSON.stringify(subscribed.body))
            const result = subscribed.body as {
              subscription: { id: string; status: string }
              invoice: { id: string }
              payment: { id: string } | null
            }
            let paymentId = result.payment?.id
            if (result.subscription.status === "incomplete") {
              const paid = yield* send(
                call(
                  "POST",
                  `/v1/invoices/${result.invoice.id}/pay`,
                  token,
                  { paymentMethod: "pm_card_visa" },
                  randomUUID()
                )
              )
              operations.pays++
              paymentId = paid.status === 200 ? (paid.body["payment"] as { id: string }).id : undefined
            }
            if (paymentId !== undefined && round % 2 === 0) {
              const canceled = yield* send(
                call("POST", `/v1/payments/${paymentId}/cancel`, token, undefined, randomUUID())
              )
              operations.cancels++
              assert.include([200, 409], canceled.status, JSON.stringify(canceled.body))
            } else {
              yield* send(
                call("POST", `/v1/subscriptions/${result.subscription.id}/cancel`, token, { atPeriodEnd: false })
              )
            }
          }
        })

      // ---- the faults ------------------------------------------------------------------------------------------
      // sampled while the provider takes 2 s per charge: a transaction held across a charge would sit idle that long
      const idleInTransaction: Array<string> = []
      let sampling = false
      const sampler = yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        yield* Effect.sleep("20 millis")
        if (!sampling) return
        const rows = yield* sql<{ readonly query: string; readonly ms: number }>`SELECT query,
          (extract(epoch FROM now() - state_change) * 1000)::int AS ms
        FROM pg_stat_activity WHERE datname = ${dbName} AND state = 'idle in transaction'
          AND now() - state_change > interval '100 milliseconds'`.pipe(Effect.orElseSucceed(() => []))
        for (const row of rows) idleInTransaction.push(`${phase}: ${row.ms} ms after ${row.query.slice(0, 120)}`)
      })))

      const during = (
        name: string,
        inject: Effect.Effect<void>,
        hold: Duration.Input,
        restore: Effect.Effect<void>
      ): Phase => ({
        name,
        run: Effect.gen(function*() {
          phase = name
          faulty = true
          yield* inject
          yield* Effect.sleep(hold)
          yield* restore
          // answers to requests sent during the fault may still come back as 503 a little later
          yield* Effect.sleep("1500 millis")
          faulty = false
        })
      })
      const quiet = (name: string, hold: Duration.Input): Phase => ({
        name,
        run: Effect.sync(() => {
          phase = name
          faulty = false
        }).pipe(Effect.andThen(Effect.sleep(hold)))
      })
      const phases: ReadonlyArray<Phase> = [
        quiet("no fault", "3 seconds"),
        during("postgres cut (billing)", pgForBilling.cut, "3 seconds", pgForBilling.restore),
        during("postgres stalled (payments)", pgForPayments.stall, "3 seconds", pgForPayments.restore),
        during("billing SIGKILLed mid-load", billing.kill, "500 millis", billing.start),
        during("payments SIGKILLed mid-load", payments.kill, "500 millis", payments.start),
        during(
          "provider 500s and answers dropped after the charge",
          Effect.all([
            sandbox.faults.inject({ action: "error_500", method: "POST", path: "/v1/payment_intents", times: 15 }),
            sandbox.faults.inject({
              action: "drop_after_commit",
              method: "POST",
              path: "/v1/payment_intents",
              times: 10
            }),
            sandbox.faults.inject({ action: "drop_after_commit", method: "POST", path: "/v1/refunds", times: 5 })
          ], { discard: true }),
          "4 seconds",
          sandbox.faults.clear
        ),
        during(
          "redis and rabbitmq cut",
          Effect.andThen(redis.cut, rabbit.cut),
          "3 seconds",
          Effect.andThen(redis.restore, rabbit.restore)
        ),
        during("billing → payments link cut", toPayments.cut, "3 seconds", toPayments.restore),
        during("payments → billing callbacks cut", toBilling.cut, "3 seconds", toBilling.restore),
        during(
          "provider stalls 3 s (answers lost), then takes 2 s per charge",
          Effect.andThen(
            toStripe.stall,
            sandbox.faults.inject({
              action: "delay",
              delayMs: 2000,
              method: "POST",
              path: "/v1/payment_intents",
              times: 1000
            })
          ),
          "3 seconds",
          toStripe.restore
        ),
        during(
          "provider takes 2 s per charge",
          Effect.sync(() => void (sampling = true)),
          "6 seconds",
          Effect.andThen(sandbox.faults.clear, Effect.sync(() => void (sampling = false)))
        ),
        quiet("after the faults", "4 seconds")
      ]

      const load = yield* Effect.forkScoped(
        Effect.all(viewers.map(client), { concurrency: "unbounded", discard: true })
      )
      for (const p of phases) yield* p.run
      stop = true
      yield* Fiber.join(load)
      phase = "settling"
      yield* Fiber.interrupt(sampler)

      // ---- settled ---------------------------------------------------------------------------------------------
      const count = (query: Effect.Effect<ReadonlyArray<{ readonly n: number }>, unknown>) =>
        Effect.map(Effect.orDie(query), (rows) => Number(rows[0]?.n ?? 0))
      const unsettled = Effect.all({
        open: count(sql`SELECT count(*)::int AS n FROM payments.payments WHERE status IN ('pending', 'unknown')`),
        refunds: count(sql`SELECT count(*)::int AS n FROM payments.refunds WHERE status = 'pending'`),
        callbacks: count(sql`SELECT count(*)::int AS n FROM payments.billing_callbacks WHERE acknowledged_at IS NULL`),
        outbox: count(sql`SELECT (SELECT count(*) FROM billing.outbox WHERE published_at IS NULL)
        + (SELECT count(*) FROM payments.outbox WHERE published_at IS NULL) AS n`),
        strays: count(
          sql`SELECT count(*)::int AS n FROM billing.payments WHERE stray_since IS NOT NULL AND status = 'succeeded'`
        )
      })
      const settled = yield* unsettled.pipe(
        Effect.repeat({
          schedule: Schedule.spaced("500 millis"),
          until: (u) => Object.values(u).every((n) => n === 0)
        }),
        Effect.timeout("60 seconds"),
        Effect.catch(() => unsettled)
      )

      // ---- the report ------------------------------------------------------------------------------------------
      const report = [...tallies].map(([name, t]) => {
        const answers = (m: Map<string, number>) => [...m].sort().map(([s, n]) => `${s}×${n}`).join(" ")
        const requests = [...t.during.values(), ...t.after.values()].reduce((a, b) => a + b, 0)
        return `${name.padEnd(62)} requests ${String(requests).padStart(4)}  during: ${
          answers(t.during) || "-"
        }  after: ${answers(t.after) || "-"}  violations ${t.violations.length}`
      })
      console.log(["fault suite", `operations ${JSON.stringify(operations)}`, ...report].join("\n"))
      for (const [name, t] of tallies) for (const v of t.violations) console.log(`violation in ${name}: ${v}`)
      if ([...tallies.values()].some((t) => t.violations.length > 0)) {
        console.log(`billing's last words:\n${billing.output().slice(-20_000)}`)
      }

      // ---- the invariants --------------------------------------------------------------------------------------
      assert.deepStrictEqual(settled, { open: 0, refunds: 0, callbacks: 0, outbox: 0, strays: 0 }, "everything settles")
      assert.deepStrictEqual(
        [...tallies.values()].flatMap((t) => t.violations),
        [],
        "no 5xx but 502/503 during faults, none after"
      )
      assert.deepStrictEqual(idleInTransaction, [], "no transaction idle for more than 100 ms while charges take 2 s")
      assert.isAtLeast(operations.subscribes, 40)

      const twice = (schema: "billing" | "payments") =>
        count(sql`SELECT count(*)::int AS n FROM (SELECT invoice_id FROM ${sql(schema)}.payments
        WHERE status IN ('succeeded', 'partially_refunded', 'refunded') GROUP BY 1 HAVING count(*) > 1) d`)
      assert.strictEqual(yield* twice("payments"), 0, "an invoice charged twice (payments)")
      assert.strictEqual(yield* twice("billing"), 0, "an invoice charged twice (billing)")

      // every charge the provider made is known, with the same refunded amount, to payments and to billing
      const ledger = yield* sandbox.ledger.snapshot
      const succeeded = ledger.paymentIntents.filter((pi) => pi["status"] === "succeeded")
      const known = yield* Effect.orDie(
        sql<{ readonly id: string; readonly payments: string | null; readonly billing: string | null }>`
      SELECT p.id, p.status || ':' || p.refunded_amount AS payments, b.status || ':' || b.refunded_amount AS billing
      FROM payments.payments p LEFT JOIN billing.payments b ON b.id = p.id`
      )
      const byId = new Map(known.map((k) => [k.id, k]))
      for (const intent of succeeded) {
        const id = (intent["metadata"] as Record<string, string>)["kassa_payment_id"] ?? ""
        const row = byId.get(id)
        assert.isDefined(row, `the provider charged ${id}, unknown to payments`)
        assert.strictEqual(row?.billing, row?.payments, `billing's record of ${id} differs from payments'`)
      }
      const refundedAtProvider = ledger.refunds.filter((r) => r["status"] === "succeeded").length
      assert.strictEqual(
        yield* count(sql`SELECT count(*)::int AS n FROM payments.refunds WHERE status = 'succeeded'`),
        refundedAtProvider,
        "every refund the provider made is known to payments"
      )

      // every refunded payment that paid its invoice ended that subscription, revoked its access, and said so
      assert.strictEqual(
        yield* count(sql`SELECT count(*)::int AS n FROM billing.payments p
        JOIN billing.invoices i ON i.id = p.invoice_id AND i.paid_payment_id = p.id
        JOIN billing.subscriptions s ON s.id = i.subscription_id
      WHERE p.status = 'refunded' AND (s.status IN ('incomplete', 'trialing', 'active', 'past_due')
        OR NOT EXISTS (SELECT 1 FROM billing.outbox o WHERE o.aggregate_id = s.id AND o.type = 'subscription.canceled'))`),
        0
      )
      assert.strictEqual(
        yield* count(sql`SELECT count(*)::int AS n FROM billing.entitlements e
      WHERE NOT EXISTS (SELECT 1 FROM billing.subscriptions s WHERE s.user_id = e.user_id AND s.product_id = e.product_id
        AND s.status IN ('trialing', 'active', 'past_due'))`),
        0,
        "access without a live subscription"
      )

      assert.strictEqual(
        yield* count(sql`SELECT count(*)::int AS n FROM billing.idempotency_keys WHERE response IS NULL`),
        0
      )

      // every event reached a queue bound to the exchange
      const events = yield* Effect.orDie(sql<{ readonly id: string }>`SELECT id::text AS id FROM billing.outbox
      UNION ALL SELECT id::text FROM payments.outbox`)
      yield* Effect.sync(() => events.filter((e) => !received.has(e.id)).length).pipe(
        Effect.repeat({ schedule: Schedule.spaced("200 millis"), until: (missing) => missing === 0 }),
        Effect.timeout("10 seconds"),
        Effect.ignore
      )
      assert.deepStrictEqual(events.filter((e) => !received.has(e.id)).map((e) => e.id), [], "events never delivered")
    }).pipe(Effect.scoped),
  { timeout: 300_000 }
)
