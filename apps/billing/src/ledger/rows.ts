// The rows of billing's ledger — subscriptions, invoices with their lines, and billing's copy of payments — as the
// repositories read them, and their API shapes. Reads that serve a viewer filter by owner, so someone else's object
// is indistinguishable from a missing one.
import { type Invoice, type InvoiceLine, type Subscription, SubscriptionStatus } from "@kassa/domain/billing"
import { PlanInterval } from "@kassa/domain/catalog"
import { InvoiceId, PaymentId, PlanId, ProductId, SubscriptionId, UserId } from "@kassa/domain/ids"
import { Currency } from "@kassa/domain/money"
import type { PageRequest } from "@kassa/domain/pagination"
import { type Payment, PaymentStatus } from "@kassa/domain/payments"
import { paymentOf } from "@kassa/domain/stored-payment"
import { type Array as Arr, DateTime, Schema } from "effect"
import type { SqlClient, SqlError } from "effect/sql"

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
  /** where its periods are counted from: the start of its first paid period */
  billingAnchor: Schema.NullOr(Schema.Date),
  parkedAt: Schema.NullOr(Schema.Date),
  parkedReason: Schema.NullOr(Schema.String),
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
  parkedAt: utcOrNull(row.parkedAt),
  parkedReason: row.parkedReason,
  createdAt: utc(row.createdAt)
})

export const InvoiceRow = Schema.Struct({
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

export const LineRow = Schema.Struct({
  invoiceId: InvoiceId,
  kind: Schema.Literals(["plan", "credit"]),
  description: Schema.String,
  planId: Schema.NullOr(PlanId),
  periodStart: Schema.NullOr(Schema.Date),
  periodEnd: Schema.NullOr(Schema.Date),
  amount: Schema.Int,
  currency: Currency
})
export type LineRow = typeof LineRow.Type

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

export const PaymentRow = Schema.Struct({
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
  updatedAt: Schema.Date,
  /** set when it succeeded on an invoice closed meanwhile: it is to be refunded */
  straySince: Schema.NullOr(Schema.Date)
})
export type PaymentRow = typeof PaymentRow.Type

/** The resource of billing's copy of a payment. */
export const toPayment = (row: PaymentRow): Payment =>
  paymentOf({ ...row, createdAt: utc(row.createdAt), updatedAt: utc(row.updatedAt) })

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
export const cursorOf = (row: { readonly createdAt: Date; readonly id: string }) => ({
  key: row.createdAt.getTime(),
  id: row.id
})

/** The keyset condition of the page after `cursor` on table alias `alias` (none for the first page). */
export const keysetAfter = (sql: SqlClient.SqlClient, cursor: PageRequest["cursor"], alias: string) =>
  cursor === undefined
    ? []
    : [sql`(${sql(`${alias}.created_at`)}, ${sql(`${alias}.id`)}) < (${new Date(Number(cursor.key))}, ${cursor.id})`]

/** `column = owner` when an owner is given: viewer reads see only their own rows. */
export const ownedBy = (sql: SqlClient.SqlClient, column: string, owner: UserId | undefined) =>
  owner === undefined ? [] : [sql`${sql(column)} = ${owner}`]
