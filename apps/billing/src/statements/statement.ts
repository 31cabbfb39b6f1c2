// Statements ("Запросить выписку"): the ledger entries of a user (invoices, credit notes, payments, refunds) in a
// range of calendar days in the account's time zone, with opening, closing and running balances per currency,
// as JSON or as CSV (RFC 4180). The arithmetic is pure; `Statements` reads the rows.
import type { Statement, StatementEntry } from "@kassa/domain/statement"
import { BadRequest, NotFound } from "@kassa/domain/errors"
import { InvoiceId, type UserId } from "@kassa/domain/ids"
import { Currency } from "@kassa/domain/money"
import { Context, DateTime, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

const dayParts = (day: string) => {
  const [year = 0, month = 1, date = 1] = day.split("-").map(Number)
  return { year, month, day: date }
}

/** The instants bounding [from 00:00, to + 1 day 00:00) in `timeZone`; 400 when from > to or over a year. */
export const statementRange = (
  from: string,
  to: string,
  timeZone: string
): Effect.Effect<{ readonly start: DateTime.Utc; readonly end: DateTime.Utc }, BadRequest> => {
  const midnight = (day: string, plusDays: number) =>
    DateTime.toUtc(DateTime.add(
      DateTime.makeZonedUnsafe(
        { ...dayParts(day), hour: 0, minute: 0, second: 0, millisecond: 0 },
        { timeZone, adjustForTimeZone: true, disambiguation: "compatible" }
      ),
      { days: plusDays }
    ))
  const a = dayParts(from)
  const b = dayParts(to)
  const last = Date.UTC(b.year, b.month - 1, b.day)
  if (last < Date.UTC(a.year, a.month - 1, a.day)) {
    return Effect.fail(new BadRequest({ message: "from must not be after to", field: "from" }))
  }
  // one calendar year at most: `to` falls before from's date a year on (2025-01-01..2025-12-31; a Feb 29 start
  // runs to Feb 28, as Date.UTC rolls Feb 29 of a common year to Mar 1)
  if (last >= Date.UTC(a.year + 1, a.month - 1, a.day)) {
    return Effect.fail(
      new BadRequest({
        message: "a statement covers at most one year: to must be before from's date a year later",
        field: "to"
      })
    )
  }
  return Effect.succeed({ start: midnight(from, 0), end: midnight(to, 1) })
}

export interface LedgerRow {
  readonly at: Date
  readonly kind: StatementEntry["kind"]
  readonly reference: string
  readonly invoiceId: InvoiceId
  readonly amount: number
  readonly currency: Currency
}

/** Opening balances from the rows before `start`, then every row in [start, end) with its running balance. */
export const buildStatement = (
  rows: ReadonlyArray<LedgerRow>,
  range: { readonly start: DateTime.Utc; readonly end: DateTime.Utc }
): Pick<Statement, "balances" | "entries"> => {
  const start = DateTime.toEpochMillis(range.start)
  const end = DateTime.toEpochMillis(range.end)
  const opening = new Map<Currency, number>()
  const running = new Map<Currency, number>()
  const entries: Array<StatementEntry> = []
  for (const row of rows) {
    const at = row.at.getTime()
    if (at >= end) continue
    const balance = (running.get(row.currency) ?? 0) + row.amount
    running.set(row.currency, balance)
    if (at < start) {
      opening.set(row.currency, balance)
      continue
    }
    if (!opening.has(row.currency)) opening.set(row.currency, balance - row.amount)
    entries.push({ ...row, at: DateTime.fromDateUnsafe(row.at), balance })
  }
  const balances = [...opening.keys()].sort().map((currency) => ({
    currency,
    opening: opening.get(currency) ?? 0,
    closing: running.get(currency) ?? 0
  }))
  return { balances, entries }
}

const csvField = (value: string | number): string => {
  const text = String(value)
  return /[",\r\n]/.test(text) ? `"${text.replaceAll("\"", "\"\"")}"` : text
}

export const csvHeader = ["at", "kind", "reference", "invoiceId", "amount", "currency", "balance"] as const

/** RFC 4180: a header row, CRLF line ends, fields quoted when they hold a comma, a quote or a line break. */
export const statementCsv = (statement: Statement): string =>
  [
    csvHeader.join(","),
    ...statement.entries.map((e) =>
      [DateTime.formatIso(e.at), e.kind, e.reference, e.invoiceId, e.amount, e.currency, e.balance].map(csvField).join(
        ","
      )
    )
  ].join("\r\n") + "\r\n"

const LedgerRows = Schema.Array(Schema.Struct({
  at: Schema.Date,
  kind: Schema.Literals(["invoice", "credit", "payment", "refund"]),
  reference: Schema.String,
  invoiceId: InvoiceId,
  amount: Schema.Int,
  currency: Currency
}))

// entries of one instant in a fixed order: the charge, then what paid it, then credit and refund
const kindOrder = "CASE kind WHEN 'invoice' THEN 0 WHEN 'payment' THEN 1 WHEN 'credit' THEN 2 ELSE 3 END"

export class Statements extends Context.Service<Statements, {
  /** The user's statement for [from, to] (calendar days in the account's time zone); NotFound for no such user. */
  of(
    userId: UserId,
    from: string,
    to: string
  ): Effect.Effect<Statement, BadRequest | NotFound | SqlError.SqlError | Schema.SchemaError>
}>()("billing/Statements") {
  static readonly layer = Layer.effect(
    Statements,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const decode = Schema.decodeUnknownEffect(LedgerRows)
      return Statements.of({
        of: (userId, from, to) =>
          Effect.gen(function*() {
            const user =
              (yield* sql<{ readonly timeZone: string }>`SELECT time_zone FROM billing.users WHERE id = ${userId}`)[0]
            // an unknown id is not an account without activity (an admin can ask for any id)
            if (user === undefined) return yield* new NotFound({ message: "user not found", resource: "user" })
            const timeZone = user.timeZone
            const range = yield* statementRange(from, to, timeZone)
            const end = DateTime.toDateUtc(range.end)
            const rows = yield* sql`
            SELECT * FROM (
              SELECT i.created_at AS at, 'invoice' AS kind, i.id AS reference, i.id AS invoice_id, -i.amount AS amount, i.currency
                FROM billing.invoices i WHERE i.user_id = ${userId} AND i.amount > 0 AND i.status <> 'void'
              UNION ALL
              SELECT p.created_at, 'payment', p.id, p.invoice_id, p.amount, p.currency
                FROM billing.payments p WHERE p.user_id = ${userId} AND p.status IN ('succeeded', 'partially_refunded', 'refunded')
              UNION ALL
              SELECT l.created_at, 'credit', l.source_id, l.invoice_id, -l.amount, l.currency
                FROM billing.invoice_lines l JOIN billing.invoices i ON i.id = l.invoice_id
                WHERE i.user_id = ${userId} AND l.kind = 'credit'
              UNION ALL
              SELECT l.created_at, 'refund', l.source_id, l.invoice_id, l.amount, l.currency
                FROM billing.invoice_lines l JOIN billing.invoices i ON i.id = l.invoice_id
                WHERE i.user_id = ${userId} AND l.kind = 'credit'
            ) e WHERE e.at < ${end} ORDER BY e.at, ${sql.literal(kindOrder)}, e.reference`.pipe(Effect.flatMap(decode))
            return { userId, from, to, timeZone, ...buildStatement(rows, range) }
          })
      })
    })
  )
}
