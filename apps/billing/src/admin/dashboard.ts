// The admin dashboard's figures, each one SQL statement over the ledger (docs/architecture.md, "Dashboard"):
// revenue is succeeded charges by the day they were made minus refunds by the day they were credited, per currency;
// live means started (not `incomplete`) and not yet ended; MRR counts a yearly plan as a twelfth of its price.
import type { Dashboard, Ratio } from "@kassa/domain/dashboard"
import { BadRequest } from "@kassa/domain/errors"
import { Currency } from "@kassa/domain/money"
import { Context, DateTime, Duration, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

const maxDays = 366

const RevenueRows = Schema.Array(Schema.Struct({
  period: Schema.String,
  currency: Currency,
  charged: Schema.NumberFromString,
  refunded: Schema.NumberFromString
}))
const MrrRows = Schema.Array(Schema.Struct({
  currency: Currency,
  amount: Schema.NumberFromString,
  subscriptions: Schema.Number
}))
const CountRow = Schema.Array(Schema.Struct({ count: Schema.Number, total: Schema.Number }))

const ratio = (rows: typeof CountRow.Type): Ratio => {
  const { count, total } = rows[0] ?? { count: 0, total: 0 }
  return { count, total, rate: total === 0 ? 0 : count / total }
}

/** Subscriptions live at `at`: started (never only `incomplete`) before it and not ended by it. */
const liveAt = (
  sql: SqlClient.SqlClient,
  at: Date
) => sql`s.status NOT IN ('incomplete', 'incomplete_expired') AND s.created_at < ${at}
    AND (s.ended_at IS NULL OR s.ended_at >= ${at})`

export class DashboardFigures extends Context.Service<DashboardFigures, {
  /** Figures for the UTC days `from`..`to` (inclusive); BadRequest for a reversed or over-long range. */
  of(from: string, to: string): Effect.Effect<Dashboard, BadRequest | SqlError.SqlError | Schema.SchemaError>
}>()("billing/DashboardFigures") {
  static readonly layer = Layer.effect(
    DashboardFigures,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const decodeRevenue = Schema.decodeUnknownEffect(RevenueRows)
      const decodeMrr = Schema.decodeUnknownEffect(MrrRows)
      const decodeCount = Schema.decodeUnknownEffect(CountRow)

      // charges by the day they were made and refunds (credit lines) by the day they were credited, in [start, end)
      const revenue = (start: Date, end: Date, format: string) =>
        sql`
        WITH moves AS (
          SELECT p.created_at AS at, p.currency, p.amount AS charged, 0 AS refunded FROM billing.payments p
            WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded') AND p.created_at >= ${start} AND p.created_at < ${end}
          UNION ALL
          SELECT l.created_at, l.currency, 0, -l.amount FROM billing.invoice_lines l
            WHERE l.kind = 'credit' AND l.created_at >= ${start} AND l.created_at < ${end}
        )
        SELECT to_char(at AT TIME ZONE 'UTC', ${format}) AS period, currency,
          sum(charged)::text AS charged, sum(refunded)::text AS refunded
        FROM moves GROUP BY 1, 2 ORDER BY 1, 2`.pipe(
          Effect.flatMap(decodeRevenue),
          Effect.map((rows) => rows.map((row) => ({ ...row, net: row.charged - row.refunded })))
        )

      return DashboardFigures.of({
        of: (from, to) =>
          Effect.gen(function*() {
            // both are valid calendar days (the contract checked them)
            const first = DateTime.makeUnsafe(`${from}T00:00:00Z`)
            const last = DateTime.makeUnsafe(`${to}T00:00:00Z`)
            if (DateTime.isLessThan(last, first)) {
              return yield* new BadRequest({ message: "to must not be before from", field: "to" })
            }
            if (Duration.isGreaterThanOrEqualTo(DateTime.distance(first, last), Duration.days(maxDays))) {
              return yield* new BadRequest({ message: `the range may span at most ${maxDays} days`, field: "to" })
            }
            const start = DateTime.toDateUtc(first)
            const end = DateTime.toDateUtc(DateTime.add(last, { days: 1 }))
            const [revenueByDay, revenueByMonth, active, mrr, churn, failedPayments] = yield* Effect.all([
              revenue(start, end, "YYYY-MM-DD"),
              revenue(start, end, "YYYY-MM"),
              sql`SELECT count(*)::int AS count, 0 AS total FROM billing.subscriptions s WHERE ${liveAt(sql, end)}`
                .pipe(
                  Effect.flatMap(decodeCount)
                ),
              // rounded once per currency, so twelve yearly subscribers add up to their prices exactly
              sql`SELECT p.currency, round(sum(CASE p.interval WHEN 'year' THEN p.amount / 12.0 ELSE p.amount END))::text AS amount,
                count(*)::int AS subscriptions
              FROM billing.subscriptions s JOIN billing.plans p ON p.id = s.plan_id
              WHERE ${liveAt(sql, end)} AND s.status <> 'trialing'
              GROUP BY p.currency ORDER BY p.currency`.pipe(Effect.flatMap(decodeMrr)),
              sql`SELECT count(*) FILTER (WHERE s.ended_at < ${end})::int AS count, count(*)::int AS total
              FROM billing.subscriptions s WHERE ${liveAt(sql, start)}`.pipe(
                Effect.flatMap(decodeCount),
                Effect.map(ratio)
              ),
              sql`SELECT count(*) FILTER (WHERE p.status = 'failed')::int AS count, count(*)::int AS total
              FROM billing.payments p
              WHERE p.status IN ('succeeded', 'partially_refunded', 'refunded', 'failed')
                AND p.created_at >= ${start} AND p.created_at < ${end}`.pipe(
                Effect.flatMap(decodeCount),
                Effect.map(ratio)
              )
            ], { concurrency: 3 })
            return {
              from,
              to,
              revenueByDay,
              revenueByMonth,
              activeSubscriptions: active[0]?.count ?? 0,
              mrr,
              churn,
              failedPayments
            }
          })
      })
    })
  )
}
