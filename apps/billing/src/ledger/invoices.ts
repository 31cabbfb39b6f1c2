// Invoices and their lines (append-only: a correction is a new line, never an edit of one), in the billing schema.
import type { InvoiceId, PaymentId, SubscriptionId, UserId } from "@kassa/domain/ids"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { Array as Arr, Context, Effect, Layer, Option, Schema, String as Str } from "effect"
import { SqlClient, type Statement } from "effect/sql"
import {
  cursorOf,
  InvoiceRow,
  type InvoicePatch,
  type InvoiceWithLines,
  keysetAfter,
  LineRow,
  type NewInvoice,
  type NewLine,
  ownedBy,
  PaymentRow,
  type RepoError
} from "./rows.ts"

/**
 * `INSERT INTO table (columns) SELECT ...` from rows given as JSON, typed by the table's own row type: an insert a
 * WHERE can make depend on the statement's other CTEs.
 */
export const insertRowsWhere = (
  sql: SqlClient.SqlClient,
  table: string,
  rows: Arr.NonEmptyReadonlyArray<Record<string, unknown>>,
  when: Statement.Fragment
) => {
  const columns = sql.literal(Object.keys(rows[0]).map(Str.camelToSnake).join(", "))
  const json = rows.map((row) =>
    Object.fromEntries(Object.entries(row).map(([key, value]) => [Str.camelToSnake(key), value]))
  )
  return sql`INSERT INTO ${sql.literal(table)} (${columns})
    SELECT ${columns} FROM jsonb_populate_recordset(NULL::${sql.literal(table)}, ${JSON.stringify(json)}::jsonb)
    WHERE ${when}`
}

/** A new invoice as rows to insert, and as it will read back. */
export const invoiceRows = ({ lines, ...invoice }: NewInvoice, now: Date) => ({
  invoice: { ...invoice, createdAt: now, updatedAt: now },
  lines: Arr.map(lines, (line, position): Record<string, unknown> => ({
    ...line,
    invoiceId: invoice.id,
    position,
    createdAt: now
  })),
  stored: {
    row: { ...invoice, paidPaymentId: null, createdAt: now },
    lines: lines.map(({ sourceId: _, ...line }) => ({ ...line, invoiceId: invoice.id }))
  } satisfies InvoiceWithLines
})

export class InvoicesRepo extends Context.Service<InvoicesRepo, {
  /** The invoice with its lines, in one statement; returns it as stored. */
  insertInvoice(invoice: NewInvoice, now: Date): Effect.Effect<InvoiceWithLines, RepoError>
  findInvoice(
    id: InvoiceId,
    options?: { readonly owner?: UserId; readonly lock?: boolean }
  ): Effect.Effect<Option.Option<InvoiceWithLines>, RepoError>
  /** The subscription's invoices, newest period first. */
  invoicesOf(subscriptionId: SubscriptionId): Effect.Effect<ReadonlyArray<InvoiceWithLines>, RepoError>
  listInvoices(userId: UserId, page: PageRequest): Effect.Effect<Page<InvoiceWithLines>, RepoError>
  updateInvoice(id: InvoiceId, patch: InvoicePatch, now: Date): Effect.Effect<void, RepoError>
  /** Appends a line; false when a line from the same source exists already. */
  appendLine(invoiceId: InvoiceId, line: NewLine, now: Date): Effect.Effect<boolean, RepoError>
  /**
   * Locks the invoice and reads it with its lines and billing's copy of the payment `paymentId`, in one statement.
   * Call with the invoice's subscription locked: every writer of a payment copy holds that lock, so the copy read
   * here is current.
   */
  lockInvoiceWithPayment(invoiceId: InvoiceId, paymentId: PaymentId): Effect.Effect<
    Option.Option<{ readonly invoice: InvoiceWithLines; readonly payment: Option.Option<PaymentRow> }>,
    RepoError
  >
}>()("billing/InvoicesRepo") {
  static readonly layer = Layer.effect(
    InvoicesRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const decodeInvoices = Schema.decodeUnknownEffect(Schema.Array(InvoiceRow))
      const decodeLines = Schema.decodeUnknownEffect(Schema.Array(LineRow))
      const decodePayments = Schema.decodeUnknownEffect(Schema.Array(PaymentRow))

      const linesOf = (ids: ReadonlyArray<InvoiceId>) =>
        ids.length === 0
          ? Effect.succeed([] as ReadonlyArray<LineRow>)
          : sql`SELECT invoice_id, kind, description, plan_id, period_start, period_end, amount, currency
            FROM billing.invoice_lines WHERE invoice_id IN ${sql.in(ids)} ORDER BY invoice_id, position`.pipe(
            Effect.flatMap(decodeLines)
          )
      const withLines = (rows: ReadonlyArray<InvoiceRow>) =>
        Effect.map(
          linesOf(rows.map((row) => row.id)),
          (lines) => rows.map((row) => ({ row, lines: lines.filter((line) => line.invoiceId === row.id) }))
        )
      const lineColumns = sql`l.kind AS line_kind, l.description AS line_description, l.plan_id AS line_plan_id,
      l.period_start AS line_period_start, l.period_end AS line_period_end, l.amount AS line_amount,
      l.currency AS line_currency`
      const invoiceColumns = sql`i.id, i.user_id, i.subscription_id, i.status, i.amount, i.currency, i.period_start,
      i.period_end, i.paid_payment_id, i.created_at`

      const LineColumns = Schema.Struct({
        lineKind: Schema.NullOr(Schema.String),
        lineDescription: Schema.Unknown,
        linePlanId: Schema.Unknown,
        linePeriodStart: Schema.Unknown,
        linePeriodEnd: Schema.Unknown,
        lineAmount: Schema.Unknown,
        lineCurrency: Schema.Unknown
      })
      const decodeLineColumns = Schema.decodeUnknownEffect(Schema.Array(LineColumns))
      /** Rows of an invoice joined with its lines (one row per line, invoice columns repeated) → the invoice. */
      const joinedInvoice = (rows: ReadonlyArray<unknown>) =>
        Effect.gen(function*() {
          if (rows.length === 0) return Option.none<InvoiceWithLines>()
          const [row] = yield* decodeInvoices(rows.slice(0, 1))
          const lines = yield* decodeLines(
            (yield* decodeLineColumns(rows)).filter((line) => line.lineKind !== null).map((line) => ({
              invoiceId: row!.id,
              kind: line.lineKind,
              description: line.lineDescription,
              planId: line.linePlanId,
              periodStart: line.linePeriodStart,
              periodEnd: line.linePeriodEnd,
              amount: line.lineAmount,
              currency: line.lineCurrency
            }))
          )
          return Option.some({ row: row!, lines })
        })

      return InvoicesRepo.of({
        insertInvoice: (newInvoice, now) => {
          const { invoice, lines, stored } = invoiceRows(newInvoice, now)
          return sql`WITH inserted AS (INSERT INTO billing.invoices ${sql.insert(invoice)} RETURNING id)
          INSERT INTO billing.invoice_lines ${sql.insert(lines)}`.pipe(Effect.as(stored))
        },
        findInvoice: (id, options) =>
          // one statement: the invoice joined with its lines (the lock, when asked, is on the invoice row)
          sql`SELECT ${invoiceColumns}, ${lineColumns}
          FROM billing.invoices i LEFT JOIN billing.invoice_lines l ON l.invoice_id = i.id
          WHERE ${sql.and([sql`i.id = ${id}`, ...ownedBy(sql, "i.user_id", options?.owner)])}
          ORDER BY l.position
          ${options?.lock === true ? sql`FOR UPDATE OF i` : sql``}`.pipe(Effect.flatMap(joinedInvoice)),
        lockInvoiceWithPayment: (invoiceId, paymentId) =>
          Effect.gen(function*() {
            const rows = yield* sql<Record<string, unknown>>`SELECT ${invoiceColumns}, ${lineColumns},
              p.id AS payment_id, p.user_id AS payment_user_id, p.invoice_id AS payment_invoice_id,
              p.status AS payment_status, p.amount AS payment_amount, p.refunded_amount AS payment_refunded_amount,
              p.currency AS payment_currency, p.failure_code AS payment_failure_code,
              p.failure_message AS payment_failure_message, p.created_at AS payment_created_at,
              p.updated_at AS payment_updated_at, p.stray_since AS payment_stray_since
            FROM billing.invoices i LEFT JOIN billing.invoice_lines l ON l.invoice_id = i.id
              LEFT JOIN billing.payments p ON p.id = ${paymentId} AND p.invoice_id = i.id
            WHERE i.id = ${invoiceId}
            ORDER BY l.position
            FOR UPDATE OF i`
            const invoice = yield* joinedInvoice(rows)
            if (Option.isNone(invoice)) return Option.none()
            const first = rows[0]!
            const payments = first["paymentId"] === null ? [] : yield* decodePayments([{
              id: first["paymentId"],
              userId: first["paymentUserId"],
              invoiceId: first["paymentInvoiceId"],
              status: first["paymentStatus"],
              amount: first["paymentAmount"],
              refundedAmount: first["paymentRefundedAmount"],
              currency: first["paymentCurrency"],
              failureCode: first["paymentFailureCode"],
              failureMessage: first["paymentFailureMessage"],
              createdAt: first["paymentCreatedAt"],
              updatedAt: first["paymentUpdatedAt"],
              straySince: first["paymentStraySince"]
            }])
            return Option.some({ invoice: invoice.value, payment: Option.fromNullishOr(payments[0]) })
          }),
        invoicesOf: (subscriptionId) =>
          sql`SELECT ${invoiceColumns} FROM billing.invoices i WHERE i.subscription_id = ${subscriptionId}
          ORDER BY i.period_start DESC`.pipe(Effect.flatMap(decodeInvoices), Effect.flatMap(withLines)),
        listInvoices: (userId, { cursor, limit }) =>
          sql`SELECT ${invoiceColumns} FROM billing.invoices i
          WHERE ${sql.and([sql`i.user_id = ${userId}`, ...keysetAfter(sql, cursor, "i")])}
          ORDER BY i.created_at DESC, i.id DESC LIMIT ${limit + 1}`.pipe(
            Effect.flatMap(decodeInvoices),
            Effect.flatMap(withLines),
            Effect.map((rows) => toPage(rows, limit, ({ row }) => cursorOf(row)))
          ),
        updateInvoice: (id, patch, now) =>
          sql`UPDATE billing.invoices SET ${sql.update({ ...patch, updatedAt: now })} WHERE id = ${id}`.pipe(
            Effect.asVoid
          ),
        appendLine: (invoiceId, line, now) =>
          sql`INSERT INTO billing.invoice_lines (invoice_id, position, kind, description, plan_id, period_start, period_end,
            amount, currency, source_id, created_at)
          SELECT ${invoiceId}, COALESCE(MAX(position) + 1, 0), ${line.kind}, ${line.description}, ${line.planId},
            ${line.periodStart}, ${line.periodEnd}, ${line.amount}, ${line.currency}, ${line.sourceId}, ${now}
          FROM billing.invoice_lines WHERE invoice_id = ${invoiceId}
          ON CONFLICT (source_id) DO NOTHING RETURNING position`.pipe(Effect.map((rows) => rows.length === 1))
      })
    })
  )
}
