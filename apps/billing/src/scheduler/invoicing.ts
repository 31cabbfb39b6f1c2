// The renewal engine's first stage: set-based invoicing. Due subscriptions (a trial or a paid period that ended, not
// set to cancel, not parked, with no invoice yet for what comes next) are read a batch at a time in id order; each
// gets the invoice of the period that contains now (however many whole periods were missed: never a burst, never a
// charge for a period that is over), and one statement writes a batch's invoices, their lines and their
// `invoice.created` events. Invoices are unique per (subscription, period start) and their ids derived from both,
// so a replica that races another creates nothing twice; rows are claimed FOR UPDATE SKIP LOCKED, so replicas also
// share the work. Memory stays flat however many are due. Charging is the second stage (charging.ts): an invoice
// made here is due to be charged at once.
import { InvoiceId, type SubscriptionId } from "@kassa/domain/ids"
import { BillingConfig } from "../config.ts"
import { Outbox } from "@kassa/platform/outbox"
import { Context, DateTime, Duration, Effect, Layer, Metric, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { derivedId } from "@kassa/platform/idempotency"
import { Lifecycle } from "../ledger/lifecycle.ts"
import { renewalPeriod } from "../ledger/period.ts"
import type { RepoError } from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"
import { invoicesCreated, schedulerFailures } from "../metrics.ts"

const DueRow = Schema.Struct({
  id: Schema.String,
  userId: Schema.String,
  planId: Schema.String,
  status: Schema.Literals(["trialing", "active"]),
  currentPeriodEnd: Schema.Date,
  billingAnchor: Schema.NullOr(Schema.Date),
  interval: Schema.Literals(["month", "year"]),
  amount: Schema.Int,
  currency: Schema.String,
  timeZone: Schema.String,
  recentInvoices: Schema.Int
})
const decodeDue = Schema.decodeUnknownEffect(Schema.Array(DueRow))

export interface InvoicingRun {
  /** invoices made for trials that ended */
  readonly trialsEnded: number
  /** invoices made for paid periods that ended */
  readonly renewals: number
  /** subscriptions parked by the safety bound instead */
  readonly parked: number
}

export class Invoicing extends Context.Service<Invoicing, {
  /** Invoices every subscription due now, a batch at a time. */
  readonly run: Effect.Effect<InvoicingRun, RepoError>
}>()("billing/Invoicing") {
  static readonly layer = Layer.effect(
    Invoicing,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outbox = yield* Outbox
      const subscriptions = yield* SubscriptionsRepo
      const lifecycle = yield* Lifecycle
      const { invoiceBatch, maxInvoicesPerDay } = yield* BillingConfig

      /** One batch after `after` (ids in order), claimed; what it made, and where the next batch starts. */
      const batch = (after: string) =>
        Effect.gen(function*() {
          const now = DateTime.toDateUtc(yield* DateTime.now)
          const dayAgo = new Date(now.getTime() - Duration.toMillis(Duration.days(1)))
          const due = yield* decodeDue(
            yield* sql`
          SELECT s.id, s.user_id, s.plan_id, s.status, s.current_period_end, s.billing_anchor, pl.interval,
            pl.amount, pl.currency, u.time_zone,
            (SELECT count(*) FROM billing.invoices r WHERE r.subscription_id = s.id AND r.created_at > ${dayAgo})::int
              AS recent_invoices
          FROM billing.subscriptions s JOIN billing.plans pl ON pl.id = s.plan_id JOIN billing.users u ON u.id = s.user_id
          WHERE s.status IN ('trialing', 'active') AND NOT s.cancel_at_period_end AND s.parked_at IS NULL
            AND s.current_period_end <= ${now} AND s.id > ${after}
            AND NOT EXISTS (SELECT 1 FROM billing.invoices x
              WHERE x.subscription_id = s.id AND x.period_start >= s.current_period_end)
          ORDER BY s.id LIMIT ${invoiceBatch}
          FOR UPDATE OF s SKIP LOCKED`
          )
          if (due.length === 0) return { next: undefined, trialsEnded: 0, renewals: 0, parked: 0 }
          const toPark = due.filter((row) => row.recentInvoices >= maxInvoicesPerDay)
          const toInvoice = due.filter((row) => row.recentInvoices < maxInvoicesPerDay)
          const invoiceOf = (row: typeof DueRow.Type) => {
            const from = DateTime.fromDateUnsafe(row.currentPeriodEnd)
            // a trial's first paid period is anchored where the trial ends
            const anchor = row.billingAnchor === null ? from : DateTime.fromDateUnsafe(row.billingAnchor)
            const period = renewalPeriod(anchor, row.interval, row.timeZone, from, DateTime.fromDateUnsafe(now))
            const start = DateTime.toDateUtc(period.start)
            return {
              id: InvoiceId.make(derivedId("inv", row.id, start.toISOString())),
              user_id: row.userId,
              subscription_id: row.id,
              plan_id: row.planId,
              amount: row.amount,
              currency: row.currency,
              period_start: start.toISOString(),
              period_end: DateTime.toDateUtc(period.end).toISOString(),
              description: `plan ${row.planId} (${row.interval})`
            }
          }
          // one row that cannot be invoiced (a bug, bad data such as a zone the runtime does not know) is logged and
          // left for the next cycle; it holds back no other
          const made = yield* Effect.forEach(toInvoice, (row) =>
            Effect.try(() => invoiceOf(row)).pipe(
              Effect.map((invoice) => ({ row, invoice })),
              Effect.catch((error) =>
                Effect.as(
                  Effect.logError("a subscription could not be invoiced; left for the next cycle", error).pipe(
                    Effect.annotateLogs({ subscriptionId: row.id }),
                    Effect.andThen(Metric.update(schedulerFailures("invoice"), 1))
                  ),
                  undefined
                )
              )
            ))
          const invoiced = made.flatMap((m) => m === undefined ? [] : [m])
          const rows = invoiced.map((m) => m.invoice)
          if (rows.length > 0) yield* insertBatch(rows, now)
          const trials = invoiced.filter((m) => m.row.status === "trialing").length
          yield* Metric.update(invoicesCreated("trial_end"), trials)
          yield* Metric.update(invoicesCreated("renewal"), invoiced.length - trials)
          for (const row of toPark) yield* park(row.id as SubscriptionId, now)
          return {
            next: due[due.length - 1]!.id,
            trialsEnded: trials,
            renewals: invoiced.length - trials,
            parked: toPark.length
          }
        }).pipe(sql.withTransaction)

      // the invoices (charged at once: due now, attempt 0), their plan lines and their events, in one statement; a
      // conflict (another replica made it) writes nothing for that row
      const insertBatch = (
        rows: ReadonlyArray<Record<string, unknown>>,
        now: Date
      ): Effect.Effect<void, SqlError.SqlError> =>
        Effect.asVoid(outbox.withEventsFrom(
          sql`SELECT (row_number() OVER (ORDER BY i.id))::int AS index, gen_random_uuid() AS id, i.id AS aggregate_id,
            'invoice.created' AS type,
            jsonb_build_object('id', i.id, 'userId', i.user_id, 'subscriptionId', i.subscription_id, 'amount', i.amount,
              'currency', i.currency) AS data
          FROM inserted i`,
          (events) => sql`WITH batch AS (
              SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS b(id text, user_id text,
                subscription_id text, plan_id text, amount int, currency text, period_start timestamptz,
                period_end timestamptz, description text)
            ),
            inserted AS (
              INSERT INTO billing.invoices (id, user_id, subscription_id, status, amount, currency, period_start,
                period_end, created_at, updated_at, next_charge_at, charge_attempts)
              SELECT id, user_id, subscription_id, 'open', amount, currency, period_start, period_end, ${now}, ${now},
                ${now}, 0
              FROM batch
              ON CONFLICT DO NOTHING
              RETURNING id, user_id, subscription_id, amount, currency, period_start, period_end
            ),
            lines AS (
              INSERT INTO billing.invoice_lines (invoice_id, position, kind, description, plan_id, period_start,
                period_end, amount, currency, created_at)
              SELECT i.id, 0, 'plan', b.description, b.plan_id, i.period_start, i.period_end, i.amount, i.currency, ${now}
              FROM inserted i JOIN batch b ON b.id = i.id
            ),
            ${events}
            SELECT count(*)::int AS n FROM inserted`
        ))

      const park = (id: SubscriptionId, now: Date) =>
        Effect.gen(function*() {
          const found = yield* subscriptions.findSubscription(id, { lock: true })
          if (found._tag === "None") return
          yield* lifecycle.change(found.value, {
            parkedAt: now,
            parkedReason: `more than ${maxInvoicesPerDay} invoices in a day`
          }, "subscription.parked")
          yield* Effect.logError("subscription parked by a safety bound: an admin must look at it").pipe(
            Effect.annotateLogs({ subscriptionId: id, maxInvoicesPerDay })
          )
        })

      const run = Effect.gen(function*() {
        let after = ""
        const total = { trialsEnded: 0, renewals: 0, parked: 0 }
        while (true) {
          const done = yield* batch(after)
          total.trialsEnded += done.trialsEnded
          total.renewals += done.renewals
          total.parked += done.parked
          if (done.next === undefined) return total
          after = done.next
        }
      })

      return Invoicing.of({ run })
    })
  )
}
