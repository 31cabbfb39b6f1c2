// Billing's viewer resources: subscriptions, invoices and billing's view of payments, the
// HttpApi groups under /v1 that serve them (own objects only), and the typed errors of the subscribe flow.
// Payment outcomes reach billing through payments' BillingCallbackRpcs (./payments.ts).
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Authentication } from "./auth.ts"
import { BadRequest, NotFound, ProviderUnavailable, ServiceUnavailable } from "./errors.ts"
import { IdempotencyInFlight, IdempotencyKey } from "./idempotency.ts"
import { InvoiceId, PaymentId, PlanId, ProductId, SubscriptionId, UserId } from "./ids.ts"
import { Currency } from "./money.ts"
import { Page, PageQuery } from "./pagination.ts"
import {
  CancelPaymentError,
  CreatePaymentError,
  Payment,
  PaymentMethod,
  PaymentMethodId,
  PaymentMethods
} from "./payments.ts"
import { UtcDateTime } from "./time.ts"
import { RequestValidation } from "./validation.ts"

// ---- resources ---------------------------------------------------------------------------------------------

/** `incomplete → active → past_due → canceled`, `trialing → active`, `expired`. */
export const subscriptionStatuses = [
  "incomplete",
  "incomplete_expired",
  "trialing",
  "active",
  "past_due",
  "canceled",
  "expired"
] as const
export const SubscriptionStatus = Schema.Literals(subscriptionStatuses).annotate({ identifier: "SubscriptionStatus" })
export type SubscriptionStatus = typeof SubscriptionStatus.Type

/** Statuses that count as the one live subscription a user may hold per product. */
export const liveSubscriptionStatuses: ReadonlyArray<SubscriptionStatus> = [
  "incomplete",
  "trialing",
  "active",
  "past_due"
]

export const Subscription = Schema.Struct({
  id: SubscriptionId,
  userId: UserId,
  productId: ProductId,
  planId: PlanId,
  status: SubscriptionStatus,
  currentPeriodStart: Schema.NullOr(UtcDateTime).annotate({
    description: "null until the first payment succeeds (or the trial starts)"
  }),
  currentPeriodEnd: Schema.NullOr(UtcDateTime),
  cancelAtPeriodEnd: Schema.Boolean.annotate({ description: "ends at currentPeriodEnd instead of renewing" }),
  failureCode: Schema.NullOr(Schema.String).annotate({
    description: "why the last charge failed (Stripe's decline code), while the subscription is incomplete or past due"
  }),
  parkedAt: Schema.NullOr(UtcDateTime).annotate({
    description: "set when a safety bound stopped its billing (too many invoices in a day); an admin unparks it"
  }),
  parkedReason: Schema.NullOr(Schema.String),
  createdAt: UtcDateTime
}).annotate({ identifier: "Subscription" })
export type Subscription = typeof Subscription.Type

export const InvoiceStatus = Schema.Literals(["draft", "open", "paid", "void", "uncollectible"]).annotate({
  identifier: "InvoiceStatus"
})
export type InvoiceStatus = typeof InvoiceStatus.Type

export const InvoiceLineKind = Schema.Literals(["plan", "credit"]).annotate({ identifier: "InvoiceLineKind" })
export type InvoiceLineKind = typeof InvoiceLineKind.Type

/** Invoices are append-only: a refund is a new `credit` line with a negative amount, never an edit. */
export const InvoiceLine = Schema.Struct({
  kind: InvoiceLineKind,
  description: Schema.String,
  planId: Schema.NullOr(PlanId),
  periodStart: Schema.NullOr(UtcDateTime),
  periodEnd: Schema.NullOr(UtcDateTime),
  /** integer minor units; negative for credits */
  amount: Schema.Int,
  currency: Currency
}).annotate({ identifier: "InvoiceLine" })
export type InvoiceLine = typeof InvoiceLine.Type

export const Invoice = Schema.Struct({
  id: InvoiceId,
  userId: UserId,
  subscriptionId: SubscriptionId,
  status: InvoiceStatus,
  /** what is charged: the sum of the non-credit lines */
  amount: Schema.Int,
  /** sum of the credit lines (refunds), as a positive number */
  creditedAmount: Schema.Int,
  currency: Currency,
  periodStart: UtcDateTime,
  periodEnd: UtcDateTime,
  lines: Schema.Array(InvoiceLine),
  createdAt: UtcDateTime
}).annotate({ identifier: "Invoice" })
export type Invoice = typeof Invoice.Type

/** `data` of the `subscription.*` events is the `Subscription`; of the `invoice.*` events, this. */
export const InvoiceEventData = Schema.Struct({
  id: InvoiceId,
  userId: UserId,
  subscriptionId: SubscriptionId,
  amount: Schema.Int.annotate({ description: "the invoice's total in minor units" }),
  currency: Currency,
  paymentId: Schema.optionalKey(
    Schema.NullOr(PaymentId).annotate({
      description: "`invoice.paid` (null for a trial's $0 invoice) and `invoice.payment_failed`: the payment"
    })
  ),
  failureCode: Schema.optionalKey(
    Schema.NullOr(Schema.String).annotate({
      description: "`invoice.payment_failed`: Stripe's decline code"
    })
  )
}).annotate({ identifier: "InvoiceEventData" })
export type InvoiceEventData = typeof InvoiceEventData.Type

/** The answer of a subscribe (and of replays of it under the same Idempotency-Key). */
export const SubscribeResult = Schema.Struct({
  subscription: Subscription,
  invoice: Invoice,
  /** null when nothing was charged (a trial's $0 first invoice) */
  payment: Schema.NullOr(Payment)
}).annotate({ identifier: "SubscribeResult" })
export type SubscribeResult = typeof SubscribeResult.Type

export const PayResult = Schema.Struct({ invoice: Invoice, payment: Payment }).annotate({ identifier: "PayResult" })
export type PayResult = typeof PayResult.Type

// ---- requests ----------------------------------------------------------------------------------------------

// No mass assignment: unknown body fields such as `status`, `amount` or `userId` are dropped on decode, and the
// owner is always the token's user.
export const SubscribeRequest = Schema.Struct({
  planId: PlanId,
  /** charged instead of the default payment method, and made the default for renewals */
  paymentMethod: Schema.optionalKey(PaymentMethodId)
}).annotate({ identifier: "SubscribeRequest" })
export type SubscribeRequest = typeof SubscribeRequest.Type

export const AddPaymentMethodRequest = Schema.Struct({ paymentMethod: PaymentMethodId }).annotate({
  identifier: "AddPaymentMethodRequest"
})

export const CancelSubscriptionRequest = Schema.Struct({
  /** default true: access lasts to the end of the paid period */
  atPeriodEnd: Schema.optionalKey(Schema.Boolean)
}).annotate({ identifier: "CancelSubscriptionRequest" })

export const PayInvoiceRequest = Schema.Struct({ paymentMethod: Schema.optionalKey(PaymentMethodId) }).annotate({
  identifier: "PayInvoiceRequest"
})

const idempotencyHeader = { "idempotency-key": IdempotencyKey }

// ---- errors ------------------------------------------------------------------------------------------------

/** 409: the user already has a live subscription to this product. */
export class AlreadySubscribed extends Schema.TaggedError<AlreadySubscribed>()(
  "AlreadySubscribed",
  { message: Schema.String, subscriptionId: SubscriptionId },
  { httpApiStatus: 409 }
) {}

/** 409: the subscription has ended (canceled or expired); there is nothing left to cancel. */
export class SubscriptionEnded extends Schema.TaggedError<SubscriptionEnded>()(
  "SubscriptionEnded",
  { message: Schema.String, subscriptionId: SubscriptionId, status: SubscriptionStatus },
  { httpApiStatus: 409 }
) {}

/** 409: a resume of a subscription that is not set to cancel at its period's end. */
export class NoCancellationPending extends Schema.TaggedError<NoCancellationPending>()(
  "NoCancellationPending",
  { message: Schema.String, subscriptionId: SubscriptionId },
  { httpApiStatus: 409 }
) {}

/** 409: only an open invoice can be paid; this one is paid, void or uncollectible. */
export class InvoiceNotOpen extends Schema.TaggedError<InvoiceNotOpen>()(
  "InvoiceNotOpen",
  { message: Schema.String, invoiceId: InvoiceId, status: InvoiceStatus },
  { httpApiStatus: 409 }
) {}

/** 422: the plan is retired or its product archived; subscribe to a plan the product offers now. */
export class PlanNotOnSale extends Schema.TaggedError<PlanNotOnSale>()(
  "PlanNotOnSale",
  { message: Schema.String, planId: PlanId },
  { httpApiStatus: 422 }
) {}

/**
 * 202 Accepted: the request is recorded and its money movement started, but the payment provider has not said how
 * it ended (a charge or refund in flight, an answer lost). Nothing is charged or refunded twice: send the same
 * request with the same Idempotency-Key after `Retry-After` seconds for the final answer. The body shows the
 * objects as they stand now; the outcome also reaches them on its own (and the events) once the provider answers.
 */
export class OutcomePending extends Schema.TaggedError<OutcomePending>()(
  "OutcomePending",
  {
    message: Schema.String,
    retryAfterSeconds: Schema.Int,
    subscription: Schema.optionalKey(Subscription),
    invoice: Schema.optionalKey(Invoice),
    payment: Schema.optionalKey(Schema.NullOr(Payment))
  },
  { httpApiStatus: 202 }
) {}

// Every request that moves money is keyed: a replay of another request is refused, a duplicate of one still
// running waits, and one whose outcome the provider has not given yet is a 202. Payments' refusals pass through.
export const SubscribeError = [
  NotFound,
  AlreadySubscribed,
  PlanNotOnSale,
  IdempotencyInFlight,
  OutcomePending,
  ...CreatePaymentError
] as const
export type SubscribeError = (typeof SubscribeError)[number]["Type"]
export const PayInvoiceError = [
  NotFound,
  InvoiceNotOpen,
  IdempotencyInFlight,
  OutcomePending,
  ...CreatePaymentError
] as const
export type PayInvoiceError = (typeof PayInvoiceError)[number]["Type"]
/** A viewer's cancel of a payment and an admin's refund. */
export const RefundPaymentError = [OutcomePending, ...CancelPaymentError] as const
export type RefundPaymentError = (typeof RefundPaymentError)[number]["Type"]

// ---- viewer groups -----------------------------------------------------------------------------------------

export class PaymentMethodsGroup extends HttpApiGroup.make("paymentMethods")
  .add(
    HttpApiEndpoint.post("add", "/v1/payment-methods", {
      payload: AddPaymentMethodRequest,
      success: PaymentMethod.pipe(HttpApiSchema.status(201)),
      error: [BadRequest, ProviderUnavailable, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Save a card as your default payment method"),
    HttpApiEndpoint.get("list", "/v1/payment-methods", {
      success: PaymentMethods,
      error: [ProviderUnavailable, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "List your saved cards"),
    /** Detach a saved card; 404 when it is not one of yours. Removing the default leaves none (renewals then fail). */
    HttpApiEndpoint.delete("remove", "/v1/payment-methods/:id", {
      params: { id: PaymentMethodId },
      success: HttpApiSchema.NoContent,
      error: [NotFound, ProviderUnavailable, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Remove a saved card")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Payment methods",
    description: "Your saved cards. POST attaches a Stripe payment method (the customer is created on first use) " +
      "and makes it the default that renewals charge; GET lists them; DELETE removes one. Without a default card, " +
      "renewals fail until a new card is saved."
  }))
{}

export class SubscriptionsGroup extends HttpApiGroup.make("subscriptions")
  .add(
    HttpApiEndpoint.post("create", "/", {
      headers: idempotencyHeader,
      payload: SubscribeRequest,
      success: SubscribeResult.pipe(HttpApiSchema.status(201)),
      error: SubscribeError
    }).annotate(OpenApi.Summary, "Subscribe to a plan (charges the first period)"),
    HttpApiEndpoint.get("list", "/", {
      query: PageQuery,
      success: Page(Subscription),
      error: [BadRequest, ServiceUnavailable]
    })
      .annotate(OpenApi.Summary, "Your subscriptions"),
    HttpApiEndpoint.get("get", "/:id", {
      params: { id: SubscriptionId },
      success: Subscription,
      error: [NotFound, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "One of your subscriptions"),
    HttpApiEndpoint.post("cancel", "/:id/cancel", {
      params: { id: SubscriptionId },
      payload: CancelSubscriptionRequest,
      success: Subscription,
      error: [NotFound, SubscriptionEnded, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Cancel a subscription, now or at period end"),
    HttpApiEndpoint.post("resume", "/:id/resume", {
      params: { id: SubscriptionId },
      success: Subscription,
      error: [NotFound, NoCancellationPending, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Undo a cancel at period end")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .prefix("/v1/subscriptions")
  .annotateMerge(OpenApi.annotations({
    title: "Subscriptions",
    description: "Your subscriptions. POST needs an Idempotency-Key: the same key and body replay the stored answer; " +
      "the same key with another body → 422"
  }))
{}

export class InvoicesGroup extends HttpApiGroup.make("invoices")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: PageQuery,
      success: Page(Invoice),
      error: [BadRequest, ServiceUnavailable]
    })
      .annotate(OpenApi.Summary, "Your invoices"),
    HttpApiEndpoint.get("get", "/:id", {
      params: { id: InvoiceId },
      success: Invoice,
      error: [NotFound, ServiceUnavailable]
    })
      .annotate(OpenApi.Summary, "One of your invoices"),
    HttpApiEndpoint.post("pay", "/:id/pay", {
      params: { id: InvoiceId },
      headers: idempotencyHeader,
      payload: PayInvoiceRequest,
      success: PayResult,
      error: PayInvoiceError
    }).annotate(OpenApi.Summary, "Pay an open invoice")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .prefix("/v1/invoices")
  .annotateMerge(OpenApi.annotations({ title: "Invoices", description: "Your invoices, newest first" }))
{}

export class BillingPaymentsGroup extends HttpApiGroup.make("payments")
  .add(
    HttpApiEndpoint.get("list", "/", {
      query: PageQuery,
      success: Page(Payment),
      error: [BadRequest, ServiceUnavailable]
    })
      .annotate(OpenApi.Summary, "Your payments"),
    HttpApiEndpoint.get("get", "/:id", {
      params: { id: PaymentId },
      success: Payment,
      error: [NotFound, ServiceUnavailable]
    })
      .annotate(OpenApi.Summary, "One of your payments"),
    /**
     * Cancel a payment («Отменить платеж»): a pending payment is canceled; a succeeded one inside the refund window is refunded in
     * full, its period's access revoked and its subscription canceled. Outside the window 422, twice 409.
     */
    HttpApiEndpoint.post("cancel", "/:id/cancel", {
      params: { id: PaymentId },
      headers: idempotencyHeader,
      success: Payment,
      error: RefundPaymentError
    }).annotate(OpenApi.Summary, "Cancel a payment: refund it in full")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .prefix("/v1/payments")
  .annotateMerge(OpenApi.annotations({
    title: "Payments",
    description: "Your payments, newest first; cancel one (refund inside the refund window)"
  }))
{}
