// Subscriptions, invoices (with their lines) and billing's mirror of payments, in the billing schema. Reads that
// serve a viewer always filter by owner, so someone else's object is indistinguishable from a missing one.
import { type Invoice, type InvoiceLine, type Subscription, SubscriptionStatus } from "@kassa/domain/billing"
import { PlanInterval } from "@kassa/domain/catalog"
import { InvoiceId, PaymentId, PlanId, ProductId, SubscriptionId, UserId } from "@kassa/domain/ids"
import { Currency } from "@kassa/domain/money"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { type Payment, PaymentStatus } from "@kassa/domain/payments"
import { type NewEvent, Outbox } from "@kassa/platform/outbox"
import { lockEntitlements } from "../entitlements/repo.ts"
import { Array as Arr, Context, DateTime, Effect, Layer, Option, Schema, String as Str } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"

export type RepoError = SqlError.SqlError | Schema.SchemaError

const utc = (date: Date) => DateTime.fromDateUnsafe(date)
const utcOrNull = (date: Date | null) => date === null ? null : utc(date)

export const SubscriptionRow = Schema.Struct({
  id: SubscriptionId,
  userId: UserId,
  productId: ProductId,
  planId: PlanId,
  status: SubscriptionStatus,
  currentPeriodStart: Schema.NullOr(Schema.Date),
  currentPeriodEnd: Schema.NullOr(Schema.Date),
  cancelAtPeriodEnd: Schema.Boolean,
  failureCode: Schema.NullOr(Schema.String),
  createdAt: Schema.Date,
  /** the plan's interval, joined in: periods need it */
  interval: PlanInterval,
  /** the account's time zone, joined in */
  timeZone: Schema.String
})
export type SubscriptionRow = typeof SubscriptionRow.Type

export const toSubscription = (row: SubscriptionRow): Subscription => ({
  id: row.id,
  userId: row.userId,
  productId: row.productId,
  planId: row.planId,
  status: row.status,
  currentPeriodStart: utcOrNull(row.currentPeriodStart),
  currentPeriodEnd: utcOrNull(row.currentPeriodEnd),
  cancelAtPeriodEnd: row.cancelAtPeriodEnd,
  failureCode: row.failureCode,
  createdAt: utc(row.createdAt)
})

const InvoiceRow = Schema.Struct({
  id: InvoiceId,
  userId: UserId,
  subscriptionId: SubscriptionId,
  status: Schema.Literals(["draft", "open", "paid", "void", "uncollectible"]),
  amount: Schema.Int,
  currency: Currency,
  periodStart: Schema.Date,
  periodEnd: Schema.Date,
  paidPaymentId: Schema.NullOr(PaymentId),
  createdAt: Schema.Date
})
export type InvoiceRow = typeof InvoiceRow.Type

const LineRow = Schema.Struct({
  invoiceId: InvoiceId,
  kind: Schema.Literals(["plan", "credit"]),
  description: Schema.String,
  planId: Schema.NullOr(PlanId),
  periodStart: Schema.NullOr(Schema.Date),
  periodEnd: Schema.NullOr(Schema.Date),
  amount: Schema.Int,
  currency: Currency
})
type LineRow = typeof LineRow.Type

export interface InvoiceWithLines {
  readonly row: InvoiceRow
  readonly lines: ReadonlyArray<LineRow>
}

export const toInvoice = ({ lines, row }: InvoiceWithLines): Invoice => ({
  id: row.id,
  userId: row.userId,
  subscriptionId: row.subscriptionId,
  status: row.status,
  amount: row.amount,
  creditedAmount: lines.reduce((sum, line) => line.kind === "credit" ? sum - line.amount : sum, 0),
  currency: row.currency,
  periodStart: utc(row.periodStart),
  periodEnd: utc(row.periodEnd),
  lines: lines.map((line): InvoiceLine => ({
    kind: line.kind,
    description: line.description,
    planId: line.planId,
    periodStart: utcOrNull(line.periodStart),
    periodEnd: utcOrNull(line.periodEnd),
    amount: line.amount,
    currency: line.currency
  })),
  createdAt: utc(row.createdAt)
})

const PaymentRow = Schema.Struct({
  id: PaymentId,
  userId: UserId,
  invoiceId: InvoiceId,
  status: PaymentStatus,
  amount: Schema.Int,
  refundedAmount: Schema.Int,
  currency: Currency,
  failureCode: Schema.NullOr(Schema.String),
  failureMessage: Schema.NullOr(Schema.String),
  createdAt: Schema.Date,
  updatedAt: Schema.Date
})
export type PaymentRow = typeof PaymentRow.Type

export const toPayment = (row: PaymentRow): Payment => ({
  id: row.id,
  userId: row.userId,
  invoiceId: row.invoiceId,
  status: row.status,
  amount: row.amount,
  refundedAmount: row.refundedAmount,
  currency: row.currency,
  ...(row.failureCode === null ? {} : { failureCode: row.failureCode }),
  ...(row.failureMessage === null ? {} : { failureMessage: row.failureMessage }),
  createdAt: utc(row.createdAt),
  updatedAt: utc(row.updatedAt)
})

export interface NewSubscription {
  readonly id: SubscriptionId
  readonly userId: UserId
  readonly productId: ProductId
  readonly planId: PlanId
  readonly status: SubscriptionStatus
  readonly currentPeriodStart: Date | null
  readonly currentPeriodEnd: Date | null
}

export interface NewLine {
  readonly kind: "plan" | "credit"
  readonly description: string
  readonly planId: PlanId | null
  readonly periodStart: Date | null
  readonly periodEnd: Date | null
  readonly amount: number
  readonly currency: Currency
  /** what the line comes from (e.g. a refund); unique, so a line is never added twice */
  readonly sourceId: string | null
}

export interface NewInvoice {
  readonly id: InvoiceId
  readonly userId: UserId
  readonly subscriptionId: SubscriptionId
  readonly status: "open" | "paid"
  readonly amount: number
  readonly currency: Currency
  readonly periodStart: Date
  readonly periodEnd: Date
  readonly lines: Arr.NonEmptyReadonlyArray<NewLine>
}

export interface InvoicePatch {
  readonly status?: "open" | "paid" | "void" | "uncollectible"
  readonly paidPaymentId?: PaymentId
  readonly periodStart?: Date
  readonly periodEnd?: Date
}

export interface Opened {
  readonly subscription: SubscriptionRow
  readonly invoice: InvoiceWithLines
}

/** Keyset order of every list: newest first. */
const cursorOf = (row: { readonly createdAt: Date; readonly id: string }) => ({ key: row.createdAt.getTime(), id: row.id })

export class BillingRepo extends Context.Service<BillingRepo, {
  /** Locks the row (FOR UPDATE) when `lock` is set; `owner` limits the read to that user's subscription. */
  findSubscription(id: SubscriptionId, options?: { readonly owner?: UserId; readonly lock?: boolean }): Effect.Effect<Option.Option<SubscriptionRow>, RepoError>
  /** The user's live subscription to the product, if any. */
  findLiveSubscription(userId: UserId, productId: ProductId): Effect.Effect<Option.Option<SubscriptionRow>, RepoError>
  listSubscriptions(userId: UserId, page: PageRequest): Effect.Effect<Page<SubscriptionRow>, RepoError>
  /** The invoice's subscription (locked when `lock` is set); `owner` limits the read to that user's invoice. */
  findSubscriptionOfInvoice(invoiceId: InvoiceId, options?: { readonly owner?: UserId; readonly lock?: boolean }): Effect.Effect<Option.Option<SubscriptionRow>, RepoError>
  /** Takes the owner's entitlement lock in the same statement (see `lockEntitlements`). */
  updateSubscription(id: SubscriptionId, patch: {
    readonly status?: SubscriptionStatus
    readonly currentPeriodStart?: Date | null
    readonly currentPeriodEnd?: Date | null
    readonly cancelAtPeriodEnd?: boolean
    readonly failureCode?: string | null
  }, now: Date): Effect.Effect<SubscriptionRow, RepoError>
  /**
   * A new subscription with its first invoice, the invoice's lines and the events of all that, in one statement,
   * so no transaction is needed; `events` gets the rows as they are stored. None when the subscription conflicts
   * (the user's live subscription to the product, by the partial unique index, or the id exists): then nothing at
   * all is written.
   */
  openSubscription(
    subscription: NewSubscription & Pick<SubscriptionRow, "interval" | "timeZone">,
    invoice: NewInvoice,
    events: (opened: Opened) => ReadonlyArray<NewEvent<unknown>>,
    now: Date
  ): Effect.Effect<Option.Option<Opened>, RepoError>
  /** The invoice with its lines, in one statement; returns it as stored. */
  insertInvoice(invoice: NewInvoice, now: Date): Effect.Effect<InvoiceWithLines, RepoError>
  findInvoice(id: InvoiceId, options?: { readonly owner?: UserId; readonly lock?: boolean }): Effect.Effect<Option.Option<InvoiceWithLines>, RepoError>
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
  findPayment(id: PaymentId, options?: { readonly owner?: UserId }): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  paymentsOf(invoiceId: InvoiceId): Effect.Effect<ReadonlyArray<PaymentRow>, RepoError>
  listPayments(userId: UserId, page: PageRequest): Effect.Effect<Page<PaymentRow>, RepoError>
  /**
   * Inserts or overwrites billing's copy of a payment; with `invoice`, updates that in the same statement (a new
   * period also on its plan line).
   */
  savePayment(
    payment: Payment,
    invoice?: { readonly id: InvoiceId; readonly patch: InvoicePatch; readonly now: Date }
  ): Effect.Effect<void, RepoError>
  /** Records that an outcome id was applied; false when it was already. */
  claimOutcome(id: string, paymentId: PaymentId, type: string, now: Date): Effect.Effect<boolean, RepoError>
}>()("billing/BillingRepo") {
  static readonly layer = Layer.effect(BillingRepo, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const outbox = yield* Outbox
    const decodeSubscriptions = Schema.decodeUnknownEffect(Schema.Array(SubscriptionRow))
    const decodeInvoices = Schema.decodeUnknownEffect(Schema.Array(InvoiceRow))
    const decodeLines = Schema.decodeUnknownEffect(Schema.Array(LineRow))
    const decodePayments = Schema.decodeUnknownEffect(Schema.Array(PaymentRow))

    // `changed`: a data-modifying statement whose RETURNING rows stand in for the table (one round trip)
    const selectSubscriptions = (
      where: Statement.Fragment,
      tail: Statement.Fragment = sql``,
      changed?: Statement.Fragment,
      extra: Statement.Fragment = sql``
    ) =>
      sql`${changed === undefined ? sql`` : sql`WITH changed AS (${changed})`}
        SELECT s.id, s.user_id, s.product_id, s.plan_id, s.status, s.current_period_start, s.current_period_end,
          s.cancel_at_period_end, s.failure_code, s.created_at, pl.interval, u.time_zone ${extra}
        FROM ${changed === undefined ? sql`billing.subscriptions` : sql`changed`} s JOIN billing.plans pl ON pl.id = s.plan_id JOIN billing.users u ON u.id = s.user_id
        WHERE ${where} ${tail}`.pipe(Effect.flatMap(decodeSubscriptions))

    const ownedBy = (column: string, owner: UserId | undefined) =>
      owner === undefined ? [] : [sql`${sql(column)} = ${owner}`]
    const after = (cursor: PageRequest["cursor"], alias: string) =>
      cursor === undefined
        ? []
        : [sql`(${sql(`${alias}.created_at`)}, ${sql(`${alias}.id`)}) < (${new Date(Number(cursor.key))}, ${cursor.id})`]

    const findSubscription: BillingRepo["Service"]["findSubscription"] = (id, options) =>
      Effect.map(
        selectSubscriptions(
          sql.and([sql`s.id = ${id}`, ...ownedBy("s.user_id", options?.owner)]),
          options?.lock === true ? sql`FOR UPDATE OF s` : sql``
        ),
        (rows) => Option.fromNullishOr(rows[0])
      )

    const linesOf = (ids: ReadonlyArray<InvoiceId>) =>
      ids.length === 0
        ? Effect.succeed([] as ReadonlyArray<LineRow>)
        : sql`SELECT invoice_id, kind, description, plan_id, period_start, period_end, amount, currency
            FROM billing.invoice_lines WHERE invoice_id IN ${sql.in(ids)} ORDER BY invoice_id, position`.pipe(
            Effect.flatMap(decodeLines)
          )
    const withLines = (rows: ReadonlyArray<InvoiceRow>) =>
      Effect.map(linesOf(rows.map((row) => row.id)), (lines) =>
        rows.map((row) => ({ row, lines: lines.filter((line) => line.invoiceId === row.id) })))
    const lineColumns = sql`l.kind AS line_kind, l.description AS line_description, l.plan_id AS line_plan_id,
      l.period_start AS line_period_start, l.period_end AS line_period_end, l.amount AS line_amount,
      l.currency AS line_currency`
    const invoiceColumns = sql`i.id, i.user_id, i.subscription_id, i.status, i.amount, i.currency, i.period_start,
      i.period_end, i.paid_payment_id, i.created_at`
    const paymentColumns = sql`p.id, p.user_id, p.invoice_id, p.status, p.amount, p.refunded_amount, p.currency,
      p.failure_code, p.failure_message, p.created_at, p.updated_at`

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

    // `INSERT INTO table (columns) SELECT ...` from rows given as JSON, typed by the table's own row type: an insert
    // a WHERE can make depend on the statement's other CTEs
    const insertRowsWhere = (table: string, rows: Arr.NonEmptyReadonlyArray<Record<string, unknown>>, when: Statement.Fragment) => {
      const columns = sql.literal(Object.keys(rows[0]).map(Str.camelToSnake).join(", "))
      const json = rows.map((row) => Object.fromEntries(Object.entries(row).map(([key, value]) => [Str.camelToSnake(key), value])))
      return sql`INSERT INTO ${sql.literal(table)} (${columns})
        SELECT ${columns} FROM jsonb_populate_recordset(NULL::${sql.literal(table)}, ${JSON.stringify(json)}::jsonb)
        WHERE ${when}`
    }
    const invoiceRows = ({ lines, ...invoice }: NewInvoice, now: Date) => ({
      invoice: { ...invoice, createdAt: now, updatedAt: now },
      lines: Arr.map(lines, (line, position): Record<string, unknown> => ({ ...line, invoiceId: invoice.id, position, createdAt: now })),
      stored: {
        row: { ...invoice, paidPaymentId: null, createdAt: now },
        lines: lines.map(({ sourceId: _, ...line }) => ({ ...line, invoiceId: invoice.id }))
      } satisfies InvoiceWithLines
    })

    return BillingRepo.of({
      openSubscription: ({ interval, timeZone, ...subscription }, newInvoice, events, now) =>
        Effect.gen(function*() {
          const { invoice, lines, stored } = invoiceRows(newInvoice, now)
          const opened: Opened = {
            subscription: { ...subscription, cancelAtPeriodEnd: false, failureCode: null, createdAt: now, interval, timeZone },
            invoice: stored
          }
          const inserted = sql`EXISTS (SELECT 1 FROM opened)`
          // the unique indexes are the arbiters: on a conflict `opened` is empty, and so is everything after it
          const rows = yield* outbox.withEvents(events(opened), inserted, (eventCtes) =>
            sql<{ readonly id: string }>`WITH opened AS (
                INSERT INTO billing.subscriptions ${sql.insert({ ...subscription, cancelAtPeriodEnd: false, createdAt: now, updatedAt: now })}
                ON CONFLICT DO NOTHING RETURNING id
              ),
              invoice AS (${insertRowsWhere("billing.invoices", [invoice], inserted)} RETURNING id),
              lines AS (${insertRowsWhere("billing.invoice_lines", lines, sql`EXISTS (SELECT 1 FROM invoice)`)}),
              ${eventCtes}
              SELECT id FROM opened`)
          return rows.length === 1 ? Option.some(opened) : Option.none()
        }),
      findSubscription,
      findSubscriptionOfInvoice: (invoiceId, options) =>
        Effect.map(
          selectSubscriptions(
            sql.and([
              sql`s.id = (SELECT i.subscription_id FROM billing.invoices i WHERE ${
                sql.and([sql`i.id = ${invoiceId}`, ...ownedBy("i.user_id", options?.owner)])
              })`
            ]),
            options?.lock === true ? sql`FOR UPDATE OF s` : sql``
          ),
          (rows) => Option.fromNullishOr(rows[0])
        ),
      findLiveSubscription: (userId, productId) =>
        Effect.map(
          selectSubscriptions(sql.and([
            sql`s.user_id = ${userId}`,
            sql`s.product_id = ${productId}`,
            sql`s.status IN ('incomplete', 'trialing', 'active', 'past_due')`
          ])),
          (rows) => Option.fromNullishOr(rows[0])
        ),
      listSubscriptions: (userId, { cursor, limit }) =>
        Effect.map(
          selectSubscriptions(
            sql.and([sql`s.user_id = ${userId}`, ...after(cursor, "s")]),
            sql`ORDER BY s.created_at DESC, s.id DESC LIMIT ${limit + 1}`
          ),
          (rows) => toPage(rows, limit, cursorOf)
        ),
      updateSubscription: (id, patch, now) =>
        Effect.flatMap(
          selectSubscriptions(
            sql`true`,
            sql``,
            sql`UPDATE billing.subscriptions SET ${sql.update({ ...patch, updatedAt: now })} WHERE id = ${id} RETURNING *`,
            // every change is followed by the owner's entitlement sync, which needs this lock first
            sql`, ${lockEntitlements(sql, sql`s.user_id`)} IS NULL AS entitlements_locked`
          ),
          (rows) => rows[0] === undefined ? Effect.die(new Error(`subscription ${id} vanished`)) : Effect.succeed(rows[0])
        ),
      insertInvoice: (newInvoice, now) => {
        const { invoice, lines, stored } = invoiceRows(newInvoice, now)
        return sql`WITH inserted AS (INSERT INTO billing.invoices ${sql.insert(invoice)} RETURNING id)
          INSERT INTO billing.invoice_lines ${sql.insert(lines)}`.pipe(Effect.as(stored))
      },
      findInvoice: (id, options) =>
        // one statement: the invoice joined with its lines (the lock, when asked, is on the invoice row)
        sql`SELECT ${invoiceColumns}, ${lineColumns}
          FROM billing.invoices i LEFT JOIN billing.invoice_lines l ON l.invoice_id = i.id
          WHERE ${sql.and([sql`i.id = ${id}`, ...ownedBy("i.user_id", options?.owner)])}
          ORDER BY l.position
          ${options?.lock === true ? sql`FOR UPDATE OF i` : sql``}`.pipe(Effect.flatMap(joinedInvoice)),
      lockInvoiceWithPayment: (invoiceId, paymentId) =>
        Effect.gen(function*() {
          const rows = yield* sql<Record<string, unknown>>`SELECT ${invoiceColumns}, ${lineColumns},
              p.id AS payment_id, p.user_id AS payment_user_id, p.invoice_id AS payment_invoice_id,
              p.status AS payment_status, p.amount AS payment_amount, p.refunded_amount AS payment_refunded_amount,
              p.currency AS payment_currency, p.failure_code AS payment_failure_code,
              p.failure_message AS payment_failure_message, p.created_at AS payment_created_at,
              p.updated_at AS payment_updated_at
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
            updatedAt: first["paymentUpdatedAt"]
          }])
          return Option.some({ invoice: invoice.value, payment: Option.fromNullishOr(payments[0]) })
        }),
      invoicesOf: (subscriptionId) =>
        sql`SELECT ${invoiceColumns} FROM billing.invoices i WHERE i.subscription_id = ${subscriptionId}
          ORDER BY i.period_start DESC`.pipe(Effect.flatMap(decodeInvoices), Effect.flatMap(withLines)),
      listInvoices: (userId, { cursor, limit }) =>
        sql`SELECT ${invoiceColumns} FROM billing.invoices i
          WHERE ${sql.and([sql`i.user_id = ${userId}`, ...after(cursor, "i")])}
          ORDER BY i.created_at DESC, i.id DESC LIMIT ${limit + 1}`.pipe(
          Effect.flatMap(decodeInvoices),
          Effect.flatMap(withLines),
          Effect.map((rows) => toPage(rows, limit, ({ row }) => cursorOf(row)))
        ),
      updateInvoice: (id, patch, now) =>
        sql`UPDATE billing.invoices SET ${sql.update({ ...patch, updatedAt: now })} WHERE id = ${id}`.pipe(Effect.asVoid),
      appendLine: (invoiceId, line, now) =>
        sql`INSERT INTO billing.invoice_lines (invoice_id, position, kind, description, plan_id, period_start, period_end,
            amount, currency, source_id, created_at)
          SELECT ${invoiceId}, COALESCE(MAX(position) + 1, 0), ${line.kind}, ${line.description}, ${line.planId},
            ${line.periodStart}, ${line.periodEnd}, ${line.amount}, ${line.currency}, ${line.sourceId}, ${now}
          FROM billing.invoice_lines WHERE invoice_id = ${invoiceId}
          ON CONFLICT (source_id) DO NOTHING RETURNING position`.pipe(Effect.map((rows) => rows.length === 1)),
      findPayment: (id, options) =>
        sql`SELECT ${paymentColumns} FROM billing.payments p
          WHERE ${sql.and([sql`p.id = ${id}`, ...ownedBy("p.user_id", options?.owner)])}`.pipe(
          Effect.flatMap(decodePayments),
          Effect.map((rows) => Option.fromNullishOr(rows[0]))
        ),
      paymentsOf: (invoiceId) =>
        sql`SELECT ${paymentColumns} FROM billing.payments p WHERE p.invoice_id = ${invoiceId}
          ORDER BY p.created_at, p.id`.pipe(Effect.flatMap(decodePayments)),
      listPayments: (userId, { cursor, limit }) =>
        sql`SELECT ${paymentColumns} FROM billing.payments p
          WHERE ${sql.and([sql`p.user_id = ${userId}`, ...after(cursor, "p")])}
          ORDER BY p.created_at DESC, p.id DESC LIMIT ${limit + 1}`.pipe(
          Effect.flatMap(decodePayments),
          Effect.map((rows) => toPage(rows, limit, cursorOf))
        ),
      savePayment: (payment, invoice) => {
        const row = {
          id: payment.id,
          userId: payment.userId,
          invoiceId: payment.invoiceId,
          status: payment.status,
          amount: payment.amount,
          refundedAmount: payment.refundedAmount,
          currency: payment.currency,
          failureCode: payment.failureCode ?? null,
          failureMessage: payment.failureMessage ?? null,
          createdAt: DateTime.toDateUtc(payment.createdAt),
          updatedAt: DateTime.toDateUtc(payment.updatedAt)
        }
        const save = sql`INSERT INTO billing.payments ${sql.insert(row)}
          ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, refunded_amount = EXCLUDED.refunded_amount,
            failure_code = EXCLUDED.failure_code, failure_message = EXCLUDED.failure_message,
            updated_at = EXCLUDED.updated_at`
        if (invoice === undefined) return Effect.asVoid(save)
        const { periodEnd, periodStart } = invoice.patch
        // a period moved on the invoice moves on its plan line too, so the two never disagree
        const line = periodStart === undefined || periodEnd === undefined ? sql`` : sql`, line AS (
            UPDATE billing.invoice_lines SET period_start = ${periodStart}, period_end = ${periodEnd}
            WHERE invoice_id = ${invoice.id} AND kind = 'plan')`
        return Effect.asVoid(sql`WITH saved AS (${save}) ${line}
          UPDATE billing.invoices SET ${sql.update({ ...invoice.patch, updatedAt: invoice.now })} WHERE id = ${invoice.id}`)
      },
      claimOutcome: (id, paymentId, type, now) =>
        sql`INSERT INTO billing.payment_outcomes (id, payment_id, type, applied_at) VALUES (${id}, ${paymentId}, ${type}, ${now})
          ON CONFLICT (id) DO NOTHING RETURNING id`.pipe(Effect.map((rows) => rows.length === 1))
    })
  }))
}
