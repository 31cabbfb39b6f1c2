// Payments: the payment and refund resources, their statuses, the typed errors, the RPC group billing calls
// (effect/rpc over HTTP), its HTTP twin for operators under /v1/payments, and the callback group billing serves so
// payments can report outcomes (Stripe's webhook route is in webhooks.ts). Service-to-service calls carry the shared
// service token as a bearer token.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Rpc, RpcGroup } from "effect/rpc"
import { ServiceAuth, ServiceTokenAuth } from "./auth.ts"
import { BadRequest, NotFound, ProviderUnavailable, ServiceUnavailable } from "./errors.ts"
import { IdempotencyInFlight, IdempotencyKey, IdempotencyKeyReused } from "./idempotency.ts"
import { InvoiceId, PaymentId, RefundId, UserId } from "./ids.ts"
import { Currency, isAmountWithinCurrencyMax, MAX_AMOUNT_ANY_CURRENCY } from "./money.ts"
import { RequestValidation } from "./validation.ts"
import { UtcDateTime } from "./time.ts"

// ---- resources ---------------------------------------------------------------------------------------------

/**
 * `pending → succeeded | failed | canceled`, `succeeded → partially_refunded → refunded`, and `unknown` when the
 * provider did not answer: never treated as failed; the reconciler asks the provider what happened.
 */
export const paymentStatuses = [
  "pending",
  "succeeded",
  "failed",
  "canceled",
  "partially_refunded",
  "refunded",
  "unknown"
] as const
export const PaymentStatus = Schema.Literals(paymentStatuses).annotate({ identifier: "PaymentStatus" })
export type PaymentStatus = typeof PaymentStatus.Type

/** Statuses whose outcome is not settled yet: no new charge starts on their invoice. */
export const openPaymentStatuses: ReadonlyArray<PaymentStatus> = ["pending", "unknown"]

export const RefundStatus = Schema.Literals(["pending", "succeeded", "failed"]).annotate({ identifier: "RefundStatus" })
export type RefundStatus = typeof RefundStatus.Type

export const RefundReason = Schema.Literals(["requested_by_customer", "duplicate", "fraudulent"]).annotate({
  identifier: "RefundReason"
})
export type RefundReason = typeof RefundReason.Type

/** Integer minor units, at least 1 and at most the largest charge of any currency (the currency's own is checked beside it). */
export const PositiveAmount = Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_AMOUNT_ANY_CURRENCY }))
  .annotate({
    description: "integer minor units of the currency, 1..99999999 (IDR: 999999999999)"
  })

/** Minor units already refunded, 0 up to the amount. */
const RefundedAmount = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))

/** A Stripe payment method id (`pm_…`) or one of Stripe's test ids such as `pm_card_visa`. */
export const PaymentMethodId = Schema.String.check(
  Schema.isPattern(/^pm_[A-Za-z0-9_]{1,252}$/u, { message: "payment method must be a Stripe id such as pm_card_visa" })
).annotate({ identifier: "PaymentMethodId" })

export const Payment = Schema.Struct({
  id: PaymentId,
  userId: UserId,
  invoiceId: InvoiceId,
  status: PaymentStatus,
  amount: PositiveAmount,
  refundedAmount: RefundedAmount,
  currency: Currency,
  failureCode: Schema.optionalKey(Schema.String.annotate({
    description: "when failed: Stripe's decline code (insufficient_funds, expired_card, authentication_required, …)"
  })),
  failureMessage: Schema.optionalKey(Schema.String),
  createdAt: UtcDateTime,
  updatedAt: UtcDateTime
}).annotate({ identifier: "Payment" })
export type Payment = typeof Payment.Type

export const Refund = Schema.Struct({
  id: RefundId,
  paymentId: PaymentId,
  amount: PositiveAmount,
  currency: Currency,
  status: RefundStatus,
  reason: Schema.optionalKey(RefundReason),
  failureCode: Schema.optionalKey(Schema.String),
  createdAt: UtcDateTime
}).annotate({ identifier: "Refund" })
export type Refund = typeof Refund.Type

export const Customer = Schema.Struct({
  userId: UserId,
  /** Stripe's customer id (`cus_…`). */
  providerCustomerId: Schema.String,
  defaultPaymentMethod: Schema.NullOr(Schema.String)
}).annotate({ identifier: "Customer" })
export type Customer = typeof Customer.Type

export const PaymentMethod = Schema.Struct({
  /** The attached method's own id (attaching a test id such as `pm_card_visa` yields a new `pm_…`). */
  id: Schema.String,
  brand: Schema.NullOr(Schema.String),
  last4: Schema.NullOr(Schema.String),
  /** The card's expiry (month 1..12, four-digit year), when the provider reports one. */
  expMonth: Schema.NullOr(Schema.Int),
  expYear: Schema.NullOr(Schema.Int),
  /** Charged for renewals and for payments that name no method. */
  isDefault: Schema.Boolean
}).annotate({ identifier: "PaymentMethod" })
export type PaymentMethod = typeof PaymentMethod.Type

/** A customer's saved payment methods, newest first (all of them: at most 100). */
export const PaymentMethods = Schema.Struct({ items: Schema.Array(PaymentMethod) }).annotate({
  identifier: "PaymentMethods"
})
export type PaymentMethods = typeof PaymentMethods.Type

// ---- requests ----------------------------------------------------------------------------------------------

export const CreatePaymentFields = {
  invoiceId: InvoiceId,
  userId: UserId,
  amount: PositiveAmount,
  currency: Currency,
  /** Charged instead of the customer's default payment method. */
  paymentMethod: Schema.optionalKey(PaymentMethodId),
  /** true for renewals: the customer is not present (no 3-D Secure challenge is possible). */
  offSession: Schema.optionalKey(Schema.Boolean),
  description: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(500)))
}
export const CreatePaymentBody = Schema.Struct(CreatePaymentFields).check(isAmountWithinCurrencyMax()).annotate({
  identifier: "CreatePaymentBody"
})
export const CreatePaymentInput = Schema.Struct({ idempotencyKey: IdempotencyKey, ...CreatePaymentFields }).check(
  isAmountWithinCurrencyMax()
)
export type CreatePaymentInput = typeof CreatePaymentInput.Type

export const CancelPaymentFields = {
  /** Partial refund of a succeeded payment; omitted → everything not yet refunded. */
  amount: Schema.optionalKey(PositiveAmount),
  reason: Schema.optionalKey(RefundReason),
  /** Operators only: refund a payment older than the refund window. */
  ignoreRefundWindow: Schema.optionalKey(Schema.Boolean)
}
export const CancelPaymentBody = Schema.Struct(CancelPaymentFields).annotate({ identifier: "CancelPaymentBody" })
export const CancelPaymentInput = Schema.Struct({
  paymentId: PaymentId,
  idempotencyKey: IdempotencyKey,
  ...CancelPaymentFields
})
export type CancelPaymentInput = typeof CancelPaymentInput.Type

/** The payment after the cancel, and the refund it made (null when a pending payment was canceled). */
export const CancelPaymentResult = Schema.Struct({ payment: Payment, refund: Schema.NullOr(Refund) }).annotate({
  identifier: "CancelPaymentResult"
})
export type CancelPaymentResult = typeof CancelPaymentResult.Type

export const EnsureCustomerInput = Schema.Struct({
  userId: UserId,
  email: Schema.optionalKey(Schema.String.check(Schema.isMaxLength(254)))
}).annotate({ identifier: "EnsureCustomerInput" })
export type EnsureCustomerInput = typeof EnsureCustomerInput.Type

export const AttachPaymentMethodFields = {
  paymentMethod: PaymentMethodId,
  /** Default true: later charges without an explicit method use this one. */
  makeDefault: Schema.optionalKey(Schema.Boolean)
}
export const AttachPaymentMethodBody = Schema.Struct(AttachPaymentMethodFields).annotate({
  identifier: "AttachPaymentMethodBody"
})
export const AttachPaymentMethodInput = Schema.Struct({ userId: UserId, ...AttachPaymentMethodFields })
export type AttachPaymentMethodInput = typeof AttachPaymentMethodInput.Type

export const DetachPaymentMethodInput = Schema.Struct({ userId: UserId, paymentMethod: PaymentMethodId })
export type DetachPaymentMethodInput = typeof DetachPaymentMethodInput.Type

// ---- errors ------------------------------------------------------------------------------------------------

/** 409: the invoice has a payment whose outcome is still open (pending or unknown); wait for it. */
export class PaymentInProgress extends Schema.TaggedError<PaymentInProgress>()(
  "PaymentInProgress",
  { message: Schema.String, invoiceId: InvoiceId, paymentId: PaymentId },
  { httpApiStatus: 409 }
) {}

/** 409: a payment of this invoice already took the money. */
export class InvoiceAlreadyPaid extends Schema.TaggedError<InvoiceAlreadyPaid>()(
  "InvoiceAlreadyPaid",
  { message: Schema.String, invoiceId: InvoiceId, paymentId: PaymentId },
  { httpApiStatus: 409 }
) {}

/** 422: the charge names no payment method and the user has no default one. */
export class NoPaymentMethod extends Schema.TaggedError<NoPaymentMethod>()(
  "NoPaymentMethod",
  { message: Schema.String, userId: UserId },
  { httpApiStatus: 422 }
) {}

/** 409: the payment is refunded in full already. */
export class AlreadyRefunded extends Schema.TaggedError<AlreadyRefunded>()(
  "AlreadyRefunded",
  { message: Schema.String, paymentId: PaymentId },
  { httpApiStatus: 409 }
) {}

/** 409: what is left of the payment is being refunded by an earlier request; its outcome decides. */
export class RefundInProgress extends Schema.TaggedError<RefundInProgress>()(
  "RefundInProgress",
  { message: Schema.String, paymentId: PaymentId },
  { httpApiStatus: 409 }
) {}

/**
 * 409: the payment's status leaves nothing to cancel or refund: `canceled` or `failed` for good, `unknown` until the
 * provider has said how it ended (retry then).
 */
export class PaymentNotRefundable extends Schema.TaggedError<PaymentNotRefundable>()(
  "PaymentNotRefundable",
  { message: Schema.String, paymentId: PaymentId, status: PaymentStatus },
  { httpApiStatus: 409 }
) {}

/** 422: the payment is older than the refund window (`PAYMENTS_REFUND_WINDOW`); only an operator may refund it. */
export class RefundWindowClosed extends Schema.TaggedError<RefundWindowClosed>()(
  "RefundWindowClosed",
  { message: Schema.String, paymentId: PaymentId, closedAt: UtcDateTime },
  { httpApiStatus: 422 }
) {}

/** 422: the amount asked is more than the payment's part not refunded yet. */
export class RefundExceedsPayment extends Schema.TaggedError<RefundExceedsPayment>()(
  "RefundExceedsPayment",
  { message: Schema.String, paymentId: PaymentId, requested: Schema.Int, refundable: Schema.Int },
  { httpApiStatus: 422 }
) {}

/** 422: the provider refused the refund; `code` is its reason. */
export class RefundRefused extends Schema.TaggedError<RefundRefused>()(
  "RefundRefused",
  { message: Schema.String, paymentId: PaymentId, code: Schema.String },
  { httpApiStatus: 422 }
) {}

// ServiceUnavailable: payments' own database is down (retry later); ProviderUnavailable: Stripe did not answer.
export const CreatePaymentError = [
  BadRequest,
  PaymentInProgress,
  InvoiceAlreadyPaid,
  NoPaymentMethod,
  IdempotencyKeyReused,
  ProviderUnavailable,
  ServiceUnavailable
] as const
export type CreatePaymentError = (typeof CreatePaymentError)[number]["Type"]
export const CancelPaymentError = [
  NotFound,
  AlreadyRefunded,
  RefundInProgress,
  PaymentNotRefundable,
  RefundWindowClosed,
  RefundExceedsPayment,
  RefundRefused,
  IdempotencyKeyReused,
  IdempotencyInFlight,
  ProviderUnavailable,
  ServiceUnavailable
] as const
export type CancelPaymentError = (typeof CancelPaymentError)[number]["Type"]
export const GetPaymentError = [NotFound, ServiceUnavailable] as const
export const CustomerError = [BadRequest, ProviderUnavailable, ServiceUnavailable] as const
export const ListPaymentMethodsError = [ProviderUnavailable, ServiceUnavailable] as const
/** NotFound: the method is not attached to this user's customer (never was, someone else's, or already removed). */
export const DetachPaymentMethodError = [NotFound, ProviderUnavailable, ServiceUnavailable] as const

// ---- RPC: billing → payments -------------------------------------------------------------------------------

export class PaymentsRpcs extends RpcGroup.make(
  /** Charges the customer (created on first use) for an invoice; a retry with the same key never charges twice. */
  Rpc.make("CreatePayment", { payload: CreatePaymentInput, success: Payment, error: Schema.Union(CreatePaymentError) }),
  /** Cancels a pending payment, or refunds a succeeded one (in part when `amount` is given). */
  Rpc.make("CancelPayment", {
    payload: CancelPaymentInput,
    success: CancelPaymentResult,
    error: Schema.Union(CancelPaymentError)
  }),
  /** The payment as the provider last reported it (an open one is re-read first). */
  Rpc.make("GetPayment", { payload: { paymentId: PaymentId }, success: Payment, error: Schema.Union(GetPaymentError) }),
  Rpc.make("EnsureCustomer", { payload: EnsureCustomerInput, success: Customer, error: Schema.Union(CustomerError) }),
  Rpc.make("AttachPaymentMethod", {
    payload: AttachPaymentMethodInput,
    success: PaymentMethod,
    error: Schema.Union(CustomerError)
  }),
  /** The methods attached to the user's customer (none when there is no customer yet). */
  Rpc.make("ListPaymentMethods", {
    payload: { userId: UserId },
    success: PaymentMethods,
    error: Schema.Union(ListPaymentMethodsError)
  }),
  /**
   * Detaches one of the user's methods and answers it as it was. When it was the default there is no default any
   * more: payments that name no method (renewals) fail until another method is attached as the default.
   */
  Rpc.make("DetachPaymentMethod", {
    payload: DetachPaymentMethodInput,
    success: PaymentMethod,
    error: Schema.Union(DetachPaymentMethodError)
  })
).middleware(ServiceAuth) {}

// ---- RPC: payments → billing (billing serves it) -----------------------------------------------------------

export const paymentOutcomeTypes = [
  "payment.succeeded",
  "payment.failed",
  "payment.refunded",
  "payment.canceled"
] as const
export const PaymentOutcomeType = Schema.Literals(paymentOutcomeTypes).annotate({ identifier: "PaymentOutcomeType" })
export type PaymentOutcomeType = typeof PaymentOutcomeType.Type

export const PaymentOutcome = Schema.Struct({
  /** Unique per outcome and equal to the id of the matching outbox event: billing dedupes on it. */
  id: Schema.String,
  type: PaymentOutcomeType,
  payment: Payment
}).annotate({ identifier: "PaymentOutcome" })
export type PaymentOutcome = typeof PaymentOutcome.Type

/** Payments calls this until it succeeds (at least once); billing must apply each `id` once. */
export class BillingCallbackRpcs extends RpcGroup.make(
  Rpc.make("PaymentOutcome", { payload: PaymentOutcome })
).middleware(ServiceAuth) {}

// ---- HTTP ----------------------------------------------------------------------------------------------------

const idempotencyHeader = { "idempotency-key": IdempotencyKey }

/** The RPC group's HTTP twin for operators and scripts; every route needs the service token. */
export class PaymentsGroup extends HttpApiGroup.make("payments")
  .add(
    HttpApiEndpoint.post("create", "/", {
      headers: idempotencyHeader,
      payload: CreatePaymentBody,
      success: Payment.pipe(HttpApiSchema.status(201)),
      error: CreatePaymentError
    }).annotate(OpenApi.Summary, "Charge a user for an invoice"),
    HttpApiEndpoint.get("get", "/:id", { params: { id: PaymentId }, success: Payment, error: GetPaymentError })
      .annotate(OpenApi.Summary, "A payment (asks Stripe while its outcome is open)"),
    HttpApiEndpoint.post("cancel", "/:id/cancel", {
      params: { id: PaymentId },
      headers: idempotencyHeader,
      payload: CancelPaymentBody,
      success: CancelPaymentResult,
      error: CancelPaymentError
    }).annotate(OpenApi.Summary, "Cancel a pending payment or refund a succeeded one"),
    HttpApiEndpoint.post("ensureCustomer", "/customers", {
      payload: EnsureCustomerInput,
      success: Customer,
      error: CustomerError
    }).annotate(OpenApi.Summary, "Create a user's Stripe customer (idempotent)"),
    HttpApiEndpoint.post("attachPaymentMethod", "/customers/:userId/payment-methods", {
      params: { userId: UserId },
      payload: AttachPaymentMethodBody,
      success: PaymentMethod,
      error: CustomerError
    }).annotate(OpenApi.Summary, "Save a card for a user as the default"),
    HttpApiEndpoint.get("listPaymentMethods", "/customers/:userId/payment-methods", {
      params: { userId: UserId },
      success: PaymentMethods,
      error: ListPaymentMethodsError
    }).annotate(OpenApi.Summary, "List a user's saved cards"),
    HttpApiEndpoint.delete("detachPaymentMethod", "/customers/:userId/payment-methods/:paymentMethod", {
      params: { userId: UserId, paymentMethod: PaymentMethodId },
      success: PaymentMethod,
      error: DetachPaymentMethodError
    }).annotate(OpenApi.Summary, "Detach one of a user's saved cards")
  )
  .middleware(RequestValidation)
  .middleware(ServiceTokenAuth)
  .prefix("/v1/payments")
  .annotateMerge(OpenApi.annotations({
    title: "Payments",
    description: "Operator twin of the payments RPC group; `Authorization: Bearer <SERVICE_TOKEN>`"
  }))
{}
