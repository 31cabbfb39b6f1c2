// Stripe, as payments needs it. Every call goes through StripeClient with a key derived from our own ids
// (`payment:<id>`, `refund:<id>`, …), through a client-side rate limiter, and is retried on 409/429/5xx/no
// answer (PAYMENTS_PROVIDER_RETRIES times) with jittered backoff and the same key. Answers become outcomes;
// "no answer" is `Unknown`, never a failure, because the provider may have acted on the request.
import { BadRequest, ProviderUnavailable, type UserId } from "@kassa/domain"
import { RateLimit } from "@kassa/platform/rate-limit"
import { PaymentsConfig } from "../config.ts"
import { type StripeCallError, StripeClient } from "../stripe.ts"
import { createHash, randomUUID } from "node:crypto"
import { Context, DateTime, Duration, Effect, Layer, Option, Schedule } from "effect"
import type Stripe from "stripe"
import type { PaymentRow, RefundRow } from "./rows.ts"

/** What the provider says about a payment intent. */
export type IntentOutcome =
  | { readonly _tag: "Succeeded"; readonly providerPaymentId: string }
  | { readonly _tag: "Failed"; readonly providerPaymentId?: string; readonly code: string; readonly message: string }
  | { readonly _tag: "Canceled"; readonly providerPaymentId: string }
  /** Still open at the provider: `processing` settles by itself; `needsCancel` is a state we never complete. */
  | {
    readonly _tag: "Pending"
    readonly providerPaymentId: string
    readonly needsCancel: boolean
    readonly status: string
  }
  | { readonly _tag: "Unknown"; readonly reason: string }

export type RefundOutcome =
  | { readonly _tag: "Succeeded"; readonly providerRefundId: string }
  | { readonly _tag: "Failed"; readonly code: string; readonly message: string }
  | { readonly _tag: "Unknown"; readonly reason: string }

/** A payment method as Kassa shows it. */
export interface MethodSummary {
  readonly id: string
  readonly brand: string | null
  readonly last4: string | null
  readonly expMonth: number | null
  readonly expYear: number | null
}

const summary = (pm: Stripe.PaymentMethod): MethodSummary => ({
  id: pm.id,
  brand: pm.card?.brand ?? null,
  last4: pm.card?.last4 ?? null,
  expMonth: pm.card?.exp_month ?? null,
  expYear: pm.card?.exp_year ?? null
})

/** Our ids in the intent's metadata: webhooks and the reconciler find the payment by them. */
export const metadataKey = "kassa_payment_id"

/** The provider keeps idempotency keys for 24 hours; a resend is only safe well inside that. */
export const idempotencyWindow = Duration.hours(23)

/** The part of a PaymentIntent the outcome depends on (a webhook's payload is checked against it). */
export interface IntentState {
  readonly id: string
  readonly status: string
  readonly last_payment_error?:
    {
      readonly code?: string | null | undefined
      readonly decline_code?: string | null | undefined
      readonly message?: string | null | undefined
    } |
    null |
    undefined
}

/** Maps an intent (from an answer, a retrieve or a webhook) to our outcome. */
export const intentOutcome = (intent: IntentState): IntentOutcome => {
  switch (intent.status) {
    case "succeeded":
      return { _tag: "Succeeded", providerPaymentId: intent.id }
    case "canceled":
      return { _tag: "Canceled", providerPaymentId: intent.id }
    case "processing":
      return { _tag: "Pending", providerPaymentId: intent.id, needsCancel: false, status: intent.status }
    case "requires_payment_method": {
      const error = intent.last_payment_error
      return {
        _tag: "Failed",
        providerPaymentId: intent.id,
        code: error?.decline_code ?? error?.code ?? "payment_method_required",
        message: error?.message ?? "The payment needs another payment method."
      }
    }
    default:
      // requires_action / requires_confirmation / requires_capture: a step our flows never take (no customer at
      // hand for 3-D Secure, no manual capture), so the intent is canceled rather than left to succeed later
      return { _tag: "Pending", providerPaymentId: intent.id, needsCancel: true, status: intent.status }
  }
}

const describe = (error: StripeCallError) =>
  error._tag === "StripeConnectionError"
    ? `no answer from Stripe (${error.reason})`
    : `Stripe ${error.statusCode}: ${error.message}`

/** A definite refusal (4xx other than 409/429) as a failure; anything else as unknown. */
const chargeFailure = (error: StripeCallError): IntentOutcome =>
  error._tag === "StripeError" && !error.retryable
    ? { _tag: "Failed", code: error.declineCode ?? error.code ?? error.type, message: error.message }
    : { _tag: "Unknown", reason: describe(error) }

const shortHash = (text: string) => createHash("sha256").update(text).digest("hex").slice(0, 16)

export class Provider extends Context.Service<Provider, {
  /** Creates and confirms the intent for the payment (`payment:<id>`); resending is safe and replays. */
  charge(payment: PaymentRow): Effect.Effect<IntentOutcome>
  retrieve(providerPaymentId: string): Effect.Effect<IntentOutcome>
  /** Looks for the payment's intent among its customer's recent intents (when we never learned its id). */
  find(payment: PaymentRow): Effect.Effect<Option.Option<IntentOutcome>, StripeCallError>
  /** Cancels the payment's open intent (`payment:<id>:cancel`), answering the intent's state afterwards. */
  cancel(payment: PaymentRow): Effect.Effect<IntentOutcome>
  /** Refunds (`refund:<id>`); resending is safe and replays. */
  refund(refund: RefundRow, providerPaymentId: string): Effect.Effect<RefundOutcome>
  createCustomer(userId: UserId, email: string | undefined): Effect.Effect<string, ProviderUnavailable>
  attach(
    userId: UserId,
    customerId: string,
    paymentMethod: string
  ): Effect.Effect<MethodSummary, ProviderUnavailable | BadRequest>
  setDefault(
    userId: UserId,
    customerId: string,
    paymentMethod: string
  ): Effect.Effect<void, ProviderUnavailable | BadRequest>
  /** The methods attached to the customer, newest first (at most 100). */
  listMethods(customerId: string): Effect.Effect<ReadonlyArray<MethodSummary>, ProviderUnavailable>
  /** The method and the customer it is attached to (null: none); None when the provider has no such method. */
  findMethod(
    paymentMethod: string
  ): Effect.Effect<Option.Option<MethodSummary & { readonly customer: string | null }>, ProviderUnavailable>
  /** Detaches; false when the provider says it is not attached any more. */
  detach(userId: UserId, paymentMethod: string): Effect.Effect<boolean, ProviderUnavailable>
}>()("payments/Provider") {
  static readonly layer = Layer.effect(
    Provider,
    Effect.gen(function*() {
      const stripe = yield* StripeClient
      const config = yield* PaymentsConfig
      const budget = yield* RateLimit
      // one budget for every payments replica (through Redis): `rate` calls a second in all
      const limited = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
        Effect.andThen(budget.take("stripe", config.providerRateLimit), effect)

      // each attempt passes the limiter again and resends the caller's key, so a retry applies at most once
      const retried = <A>(effect: Effect.Effect<A, StripeCallError>) =>
        Effect.retry(limited(effect), {
          schedule: Schedule.exponential("200 millis").pipe(Schedule.jittered),
          times: config.providerRetries,
          while: (error) => error.retryable
        })
      const call = <A>(key: string, f: (sdk: Stripe, opts: Stripe.RequestOptions) => Promise<A>) =>
        retried(stripe.call(key, f))
      const read = <A>(f: (sdk: Stripe) => Promise<A>) => retried(stripe.read(f))

      const intentParams = (p: PaymentRow): Stripe.PaymentIntentCreateParams => ({
        amount: p.amount,
        currency: p.currency.toLowerCase(),
        customer: p.providerCustomerId,
        payment_method: p.paymentMethod,
        // no redirect-based methods: the charge completes (or fails) within this request, no return_url needed
        automatic_payment_methods: { enabled: true, allow_redirects: "never" },
        confirm: true,
        ...(p.offSession ? { off_session: true } : {}),
        ...(p.description === null ? {} : { description: p.description }),
        metadata: { [metadataKey]: p.id, kassa_invoice_id: p.invoiceId, kassa_user_id: p.userId }
      })

      const charge = (p: PaymentRow) =>
        call(`payment:${p.id}`, (sdk, opts) => sdk.paymentIntents.create(intentParams(p), opts)).pipe(
          Effect.map(intentOutcome),
          Effect.catch((error) => Effect.succeed(chargeFailure(error))),
          Effect.withSpan("Provider.charge", { attributes: { paymentId: p.id } }, { captureStackTrace: false })
        )

      const retrieve = (providerPaymentId: string) =>
        read((sdk) => sdk.paymentIntents.retrieve(providerPaymentId)).pipe(
          Effect.map(intentOutcome),
          Effect.catch((error): Effect.Effect<IntentOutcome> =>
            Effect.succeed({ _tag: "Unknown", reason: describe(error) })
          )
        )

      const find = (p: PaymentRow) =>
        Effect.gen(function*() {
          // intents are created right after the attempt row; a minute of slack covers clock differences
          const since = Math.floor(DateTime.toEpochMillis(p.createdAt) / 1000) - 60
          const page = yield* read((sdk) =>
            sdk.paymentIntents.list({ customer: p.providerCustomerId, created: { gte: since }, limit: 100 })
          )
          const intent = page.data.find((pi) => pi.metadata[metadataKey] === p.id)
          return Option.map(Option.fromNullishOr(intent), intentOutcome)
        })

      const cancel = (p: PaymentRow): Effect.Effect<IntentOutcome> => {
        const id = p.providerPaymentId
        if (id === null) return Effect.succeed({ _tag: "Unknown", reason: "the intent's id is not known yet" })
        return call(`payment:${p.id}:cancel`, (sdk, opts) => sdk.paymentIntents.cancel(id, {}, opts)).pipe(
          Effect.map(intentOutcome),
          // refused because the intent moved on (succeeded meanwhile, say): its current state is the answer
          Effect.catch((error) =>
            error._tag === "StripeError" && !error.retryable ? retrieve(id) : Effect.succeed(chargeFailure(error))
          )
        )
      }

      const refund = (r: RefundRow, providerPaymentId: string): Effect.Effect<RefundOutcome> =>
        call(`refund:${r.id}`, (sdk, opts) =>
          sdk.refunds.create({
            payment_intent: providerPaymentId,
            amount: r.amount,
            ...(r.reason === null ? {} : { reason: r.reason as Stripe.RefundCreateParams.Reason }),
            metadata: { kassa_refund_id: r.id, [metadataKey]: r.paymentId }
          }, opts)).pipe(
            Effect.map((created): RefundOutcome =>
              created.status === "failed" || created.status === "canceled"
                ? {
                  _tag: "Failed",
                  code: created.failure_reason ?? created.status,
                  message: `refund ${created.status}`
                }
                : { _tag: "Succeeded", providerRefundId: created.id }
            ),
            Effect.catch((error): Effect.Effect<RefundOutcome> =>
              Effect.succeed(
                error._tag === "StripeError" && !error.retryable
                  ? { _tag: "Failed", code: error.code ?? error.type, message: error.message }
                  : { _tag: "Unknown", reason: describe(error) }
              )
            ),
            Effect.withSpan("Provider.refund", { attributes: { refundId: r.id } }, { captureStackTrace: false })
          )

      const unavailable = (error: StripeCallError) => new ProviderUnavailable({ message: describe(error) })
      const refused = (error: StripeCallError) => error._tag === "StripeError" && !error.retryable
      const refusedOr =
        (field: string) => (error: StripeCallError): Effect.Effect<never, BadRequest | ProviderUnavailable> =>
          error._tag === "StripeError" && !error.retryable
            ? Effect.fail(new BadRequest({
              // a card refused by the provider's check names why (card_declined/insufficient_funds, …)
              message: error.declineCode === undefined
                ? error.message
                : `${error.message} (${error.code ?? error.type}/${error.declineCode})`,
              field
            }))
            : Effect.fail(unavailable(error))

      return Provider.of({
        charge,
        retrieve,
        find,
        cancel,
        refund,
        createCustomer: (userId, email) =>
          call(
            `customer:${userId}:${shortHash(email ?? "")}`,
            (sdk, opts) =>
              sdk.customers.create(
                { ...(email === undefined ? {} : { email }), metadata: { kassa_user_id: userId } },
                opts
              )
          ).pipe(
            Effect.map((customer) => customer.id),
            Effect.mapError(unavailable)
          ),
        attach: (userId, customerId, paymentMethod) =>
          call(
            `attach:${userId}:${paymentMethod}`,
            (sdk, opts) => sdk.paymentMethods.attach(paymentMethod, { customer: customerId }, opts)
          ).pipe(
            Effect.map(summary),
            Effect.catch(refusedOr("paymentMethod"))
          ),
        listMethods: (customerId) =>
          read((sdk) => sdk.customers.listPaymentMethods(customerId, { limit: 100 })).pipe(
            Effect.map((page) => page.data.map(summary)),
            Effect.mapError(unavailable)
          ),
        findMethod: (paymentMethod) =>
          read((sdk) => sdk.paymentMethods.retrieve(paymentMethod)).pipe(
            Effect.map((pm) =>
              Option.some({
                ...summary(pm),
                customer: typeof pm.customer === "string" ? pm.customer : pm.customer?.id ?? null
              })
            ),
            Effect.catch((error) =>
              error._tag === "StripeError" && error.statusCode === 404
                ? Effect.succeedNone
                : Effect.fail(unavailable(error))
            )
          ),
        detach: (userId, paymentMethod) =>
          // a key of its own per removal (its retries resend it): a card attached again later can be removed again
          call(
            `detach:${userId}:${paymentMethod}:${randomUUID()}`,
            (sdk, opts) => sdk.paymentMethods.detach(paymentMethod, {}, opts)
          ).pipe(
            Effect.as(true),
            // refused: it is not attached (any more), which is what the caller wanted
            Effect.catch((error) => refused(error) ? Effect.succeed(false) : Effect.fail(unavailable(error)))
          ),
        setDefault: (userId, customerId, paymentMethod) =>
          call(
            `default:${userId}:${paymentMethod}`,
            (sdk, opts) =>
              sdk.customers.update(customerId, { invoice_settings: { default_payment_method: paymentMethod } }, opts)
          ).pipe(
            Effect.asVoid,
            Effect.catch(refusedOr("paymentMethod"))
          )
      })
    })
  ).pipe(Layer.provide(RateLimit.layer))
}
