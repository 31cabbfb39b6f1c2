// The admin view of billing ("View invoices and payments", «Просмотр счетов и оплат»): every invoice, payment and
// subscription with filters, any user's statement, refunds recorded in the audit log, scheduler cycles by hand.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiSchema, OpenApi } from "effect/http-api"
import { adminGroup } from "./auth.ts"
import { Invoice, InvoiceStatus, RefundPaymentError, Subscription, SubscriptionStatus } from "./billing.ts"
import { Dashboard, DashboardQuery } from "./dashboard.ts"
import { BadRequest, NotFound, ServiceUnavailable } from "./errors.ts"
import { IdempotencyKey } from "./idempotency.ts"
import { InvoiceId, PaymentId, ProductId, SubscriptionId, UserId } from "./ids.ts"
import { Page, PageQuery } from "./pagination.ts"
import { Payment, PaymentStatus, PositiveAmount } from "./payments.ts"
import { Statement } from "./statement.ts"
import { CalendarDate, Instant, UtcDateTime } from "./time.ts"

const idempotencyHeader = { "idempotency-key": IdempotencyKey }

/** Filters shared by the admin lists; `from`/`to` bound the creation time (ISO 8601, `to` exclusive). */
const adminFilters = {
  userId: Schema.optionalKey(UserId),
  productId: Schema.optionalKey(ProductId),
  from: Schema.optionalKey(Instant),
  to: Schema.optionalKey(Instant),
  ...PageQuery
}

/** One admin write: who, when, what, why. */
export const AuditEntry = Schema.Struct({
  id: Schema.String,
  actorId: UserId,
  action: Schema.String,
  objectType: Schema.String,
  objectId: Schema.String,
  reason: Schema.String,
  details: Schema.Record(Schema.String, Schema.Unknown),
  at: UtcDateTime
}).annotate({ identifier: "AuditEntry" })
export type AuditEntry = typeof AuditEntry.Type

export const AdminInvoiceDetail = Schema.Struct({
  invoice: Invoice,
  payments: Schema.Array(Payment),
  /** admin writes on the invoice and its payments, oldest first */
  audit: Schema.Array(AuditEntry)
}).annotate({ identifier: "AdminInvoiceDetail" })
export type AdminInvoiceDetail = typeof AdminInvoiceDetail.Type

export const AdminRefundRequest = Schema.Struct({
  /** minor units; omitted → everything not yet refunded */
  amount: Schema.optionalKey(PositiveAmount),
  reason: Schema.Trim.check(Schema.isMinLength(1), Schema.isMaxLength(500)).annotate({
    description: "why; kept in the audit log"
  })
}).annotate({ identifier: "AdminRefundRequest" })

export const UnparkRequest = Schema.Struct({
  reason: Schema.Trim.check(Schema.isMinLength(1), Schema.isMaxLength(500)).annotate({
    description: "why; kept in the audit log"
  })
}).annotate({ identifier: "UnparkRequest" })

/** The subscription is not parked (never was, or an admin unparked it already). */
export class SubscriptionNotParked extends Schema.TaggedError<SubscriptionNotParked>()(
  "SubscriptionNotParked",
  { message: Schema.String },
  { httpApiStatus: 409 }
) {}

export const AdminRefundResult = Schema.Struct({ payment: Payment, audit: AuditEntry }).annotate({
  identifier: "AdminRefundResult"
})
export type AdminRefundResult = typeof AdminRefundResult.Type

// ---- scheduler runs ----------------------------------------------------------------------------------------

/** What one scheduler cycle did. */
export const SchedulerRun = Schema.Struct({
  /** incomplete subscriptions not paid within 23 h, now incomplete_expired */
  expiredIncomplete: Schema.Int,
  /** subscriptions (and trials) canceled at period end whose period is over, now expired */
  expiredAtPeriodEnd: Schema.Int,
  /** trials that ended: their first paid period invoiced */
  trialsEnded: Schema.Int,
  /** active subscriptions whose period ended: the period that contains now invoiced (one, however many were missed) */
  renewals: Schema.Int,
  /** subscriptions a safety bound stopped (too many invoices in a day): parked for an admin, not invoiced */
  parked: Schema.Int,
  /** charges of open invoices made (renewals, ended trials, dunning retries) */
  charged: Schema.Int,
  /** of those: paid, declined (or no card to charge), and not known yet (the provider has not answered) */
  paid: Schema.Int,
  failed: Schema.Int,
  pending: Schema.Int,
  /** charges of past-due invoices on the dunning schedule (counted in `charged` too) */
  dunningRetries: Schema.Int,
  /** past-due subscriptions whose last retry failed: canceled, invoice uncollectible, access revoked */
  canceledUnpaid: Schema.Int,
  /** payments that succeeded on an invoice closed meanwhile (voided by a cancel or an expiry): refunded */
  strayRefunds: Schema.Int
}).annotate({ identifier: "SchedulerRun" })
export type SchedulerRun = typeof SchedulerRun.Type

/** One scheduler cycle started by hand: it runs apart from the request that started it. */
export const SchedulerRunRecord = Schema.Struct({
  id: Schema.String,
  status: Schema.Literals(["running", "succeeded", "failed"]),
  startedAt: UtcDateTime,
  finishedAt: Schema.NullOr(UtcDateTime),
  /** what the cycle did, once it succeeded */
  result: Schema.NullOr(SchedulerRun),
  /** why it failed */
  error: Schema.NullOr(Schema.String)
}).annotate({ identifier: "SchedulerRunRecord" })
export type SchedulerRunRecord = typeof SchedulerRunRecord.Type

export class AdminBillingGroup extends adminGroup(
  "adminBilling",
  HttpApiEndpoint.get("invoices", "/invoices", {
    query: { ...adminFilters, status: Schema.optionalKey(InvoiceStatus) },
    success: Page(Invoice),
    error: [BadRequest, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "All invoices, filtered"),
  HttpApiEndpoint.get("invoice", "/invoices/:id", {
    params: { id: InvoiceId },
    success: AdminInvoiceDetail,
    error: [NotFound, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "An invoice with its payments and audit trail"),
  HttpApiEndpoint.get("payments", "/payments", {
    query: { ...adminFilters, status: Schema.optionalKey(PaymentStatus) },
    success: Page(Payment),
    error: [BadRequest, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "All payments, filtered"),
  HttpApiEndpoint.get("subscriptions", "/subscriptions", {
    query: {
      ...adminFilters,
      status: Schema.optionalKey(SubscriptionStatus),
      parked: Schema.optionalKey(
        Schema.Literals(["true", "false"]).annotate({ description: "only parked (or unparked) ones" })
      )
    },
    success: Page(Subscription),
    error: [BadRequest, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "All subscriptions, filtered"),
  /** Lets the scheduler bill a parked subscription again (the reason goes to the audit log). */
  HttpApiEndpoint.post("unpark", "/subscriptions/:id/unpark", {
    params: { id: SubscriptionId },
    payload: UnparkRequest,
    success: Subscription,
    error: [NotFound, SubscriptionNotParked, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "Unpark a subscription a safety bound stopped"),
  /** Revenue per day and month, active subscriptions, MRR, churn and the failed-payment rate, computed in SQL. */
  HttpApiEndpoint.get("dashboard", "/dashboard", {
    query: DashboardQuery,
    success: Dashboard,
    error: [BadRequest, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "Dashboard figures for a date range"),
  HttpApiEndpoint.get("statement", "/users/:id/statement", {
    params: { id: UserId },
    query: { from: CalendarDate, to: CalendarDate },
    success: Statement,
    error: [BadRequest, NotFound, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "A user's statement"),
  HttpApiEndpoint.post("refund", "/payments/:id/refund", {
    params: { id: PaymentId },
    headers: idempotencyHeader,
    payload: AdminRefundRequest,
    success: AdminRefundResult,
    error: RefundPaymentError
  }).annotate(OpenApi.Summary, "Refund a payment (partial allowed)"),
  /** Starts one scheduler cycle and answers at once (202); the cycle runs apart from the request, to its end. */
  HttpApiEndpoint.post("run", "/billing/run", {
    success: SchedulerRunRecord.pipe(HttpApiSchema.status(202)),
    error: ServiceUnavailable
  }).annotate(OpenApi.Summary, "Start a scheduler cycle now"),
  HttpApiEndpoint.get("runStatus", "/billing/runs/:id", {
    params: { id: Schema.String.check(Schema.isMaxLength(64)) },
    success: SchedulerRunRecord,
    error: [NotFound, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "Read a scheduler run started by hand")
).annotateMerge(OpenApi.annotations({
  title: "Admin: billing",
  description: "View invoices and payments («Просмотр счетов и оплат»): every invoice, payment and subscription with " +
    "filters; statements of any user; refunds (partial allowed, recorded in the audit log); a scheduler cycle on " +
    "demand and its outcome"
})) {}
