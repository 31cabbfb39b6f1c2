// Stripe webhooks: `ingest` checks the signature over the raw body and stores the event (its id is the primary
// key, so replays are no-ops) before the HTTP answer; worker fibers apply stored events afterwards. Applying is
// order-independent because payments only move forward (see `changes` in the service): a late
// `payment_intent.payment_failed` finds the payment succeeded and changes nothing.
import { BadRequest, PaymentId, type ServiceUnavailable } from "@kassa/domain"
import { storableTextMessage, unstorableAt } from "@kassa/domain/text"
import { InvalidWebhookSignature } from "@kassa/domain/webhooks"
import { developmentWebhookSecret, PaymentsConfig, StripeConfig } from "../config.ts"
import { StripeClient } from "../stripe.ts"
import { Context, DateTime, Duration, Effect, Layer, Option, Queue, Redacted, Schema, SchemaIssue } from "effect"
import type { SqlError } from "effect/sql"
import { type IntentOutcome, intentOutcome, metadataKey } from "../payments/provider.ts"
import { PaymentsRepo } from "../payments/repo.ts"
import type { PaymentRow } from "../payments/rows.ts"
import { changes } from "../payments/outcome.ts"
import { Settlement } from "../payments/settlement.ts"
import { type StoredEvent, WebhookEventsRepo } from "./repo.ts"
import { orUnavailable } from "@kassa/platform/validation"

/** The event types that change a payment; every other type is stored and marked processed. */
export const handledEventTypes = [
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "payment_intent.canceled",
  "charge.refunded"
] as const

const IntentObject = Schema.Struct({
  id: Schema.String,
  status: Schema.String,
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  last_payment_error: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    code: Schema.optionalKey(Schema.NullOr(Schema.String)),
    decline_code: Schema.optionalKey(Schema.NullOr(Schema.String)),
    message: Schema.optionalKey(Schema.NullOr(Schema.String))
  })))
})

const ChargeObject = Schema.Struct({
  id: Schema.String,
  payment_intent: Schema.NullOr(Schema.String),
  amount_refunded: Schema.Int,
  metadata: Schema.optionalKey(Schema.Record(Schema.String, Schema.String))
})

/**
 * What a signed event must be for it to be stored and applied: an object with an id and a type, and a `data.object`
 * (the stored decode and the workers rely on it). Anything else can never be stored; retrying cannot change that.
 */
const Envelope = Schema.Struct({
  id: Schema.String.check(Schema.isPattern(/^evt_[A-Za-z0-9_]{1,251}$/)),
  type: Schema.String.check(Schema.isPattern(/^[a-z0-9_.]{1,255}$/)),
  data: Schema.Struct({ object: Schema.Record(Schema.String, Schema.Unknown) })
})
const decodeEnvelope = Schema.decodeUnknownEffect(Envelope)
const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const unstorable = (message: string) => new BadRequest({ message: `the event cannot be stored: ${message}` })

const decodeIntent = Schema.decodeUnknownEffect(IntentObject)
const decodeCharge = Schema.decodeUnknownEffect(ChargeObject)
const decodePaymentId = Schema.decodeUnknownOption(PaymentId)

/** Processing attempts per event before it is left for an operator (`attempts >= maxAttempts`). */
export const maxAttempts = 10
const batchSize = 20
const lease = Duration.seconds(30)

export class WebhookInbox extends Context.Service<WebhookInbox, {
  /** Verifies and stores; answers once the event is durable (duplicates included), never after applying it. */
  ingest(
    rawBody: string,
    signature: string | undefined
  ): Effect.Effect<void, InvalidWebhookSignature | BadRequest | ServiceUnavailable>
  /** Applies stored events until none is due; returns how many it handled. */
  readonly drain: Effect.Effect<number, SqlError.SqlError>
  /** Resolves when an event was stored by this process, or after `timeout`. */
  wait(timeout: Duration.Input): Effect.Effect<void>
}>()("payments/WebhookInbox") {
  static readonly layer = Layer.effect(
    WebhookInbox,
    Effect.gen(function*() {
      const events = yield* WebhookEventsRepo
      const stripe = yield* StripeClient
      const repo = yield* PaymentsRepo
      const settlement = yield* Settlement
      const stripeConfig = yield* StripeConfig
      const config = yield* PaymentsConfig
      if (Option.isNone(stripeConfig.webhookSecret)) {
        yield* Effect.logWarning(
          "STRIPE_WEBHOOK_SECRET not set: accepting webhooks signed with the development secret the bundled sandbox uses"
        )
      }
      // current first, then the previous one while a rotation is under way
      const secrets = [
        Option.getOrElse(stripeConfig.webhookSecret, () => Redacted.make(developmentWebhookSecret)),
        ...Option.toArray(config.webhookSecretPrevious)
      ]
      const stored = yield* Queue.dropping<void>(1)

      const ingest = (rawBody: string, signature: string | undefined) =>
        Effect.gen(function*() {
          const signed = yield* stripe.verifyWebhook(rawBody, signature, secrets).pipe(
            Effect.mapError((error) => new InvalidWebhookSignature({ message: error.message }))
          )
          const event = yield* decodeEnvelope(signed).pipe(
            Effect.mapError((error) => {
              const issue = formatIssues(error.issue).issues[0]
              return unstorable(
                `${(issue?.path ?? []).map(String).join(".") || "event"}: ${issue?.message ?? "invalid"}`
              )
            })
          )
          const at = unstorableAt(signed)
          if (at !== undefined) return yield* unstorable(`${at.join(".")}: ${storableTextMessage}`)
          // an outage is a 503 (Stripe resends); anything else a defect, which Stripe also resends
          yield* orUnavailable(events.insert({ id: event.id, type: event.type, rawBody }, yield* DateTime.now))
          Queue.offerUnsafe(stored, undefined)
        }).pipe(Effect.withSpan("WebhookInbox.ingest"))

      type Plan =
        | {
          readonly kind: "intent"
          readonly outcome: IntentOutcome
          readonly intentId: string
          readonly paymentId: Option.Option<PaymentId>
        }
        | {
          readonly kind: "refund"
          readonly intentId: string
          readonly amountRefunded: number
          readonly paymentId: Option.Option<PaymentId>
        }
        | { readonly kind: "ignore" }

      const plan = (event: StoredEvent): Effect.Effect<Plan, Schema.SchemaError> =>
        Effect.gen(function*() {
          const object = event.payload.data.object
          if (event.type === "charge.refunded") {
            const charge = yield* decodeCharge(object)
            if (charge.payment_intent === null) return { kind: "ignore" }
            return {
              kind: "refund",
              intentId: charge.payment_intent,
              amountRefunded: charge.amount_refunded,
              paymentId: decodePaymentId(charge.metadata?.[metadataKey])
            }
          }
          if (!event.type.startsWith("payment_intent.") || !handledEventTypes.some((t) => t === event.type)) {
            return { kind: "ignore" }
          }
          const intent = yield* decodeIntent(object)
          const outcome = intentOutcome(intent)
          // open states settle through the charge call or the reconciler, not from an event
          if (outcome._tag !== "Succeeded" && outcome._tag !== "Failed" && outcome._tag !== "Canceled") {
            return { kind: "ignore" }
          }
          return {
            kind: "intent",
            outcome,
            intentId: intent.id,
            paymentId: decodePaymentId(intent.metadata?.[metadataKey])
          }
        })

      // Most events repeat what the charge's own answer already recorded: the payments they name are read once per
      // batch, that read settles which events change nothing, and only an event that changes something locks.
      const apply = (step: Plan, payment: PaymentRow | undefined) => {
        if (step.kind === "ignore" || payment === undefined) return Effect.void
        if (step.kind === "intent") {
          return changes(payment.status, step.outcome)
            ? Effect.asVoid(settlement.applyOutcome(payment.id, step.outcome))
            : Effect.void
        }
        const open = payment.status === "pending" || payment.status === "unknown"
        return open || payment.refundedAmount < step.amountRefunded
          ? settlement.applyRefunded(payment.id, step.intentId, step.amountRefunded)
          : Effect.void
      }

      // Claims a batch by leasing it (so other workers and replicas skip it), applies each event in its own
      // transaction, and records the outcomes; a worker that dies mid-batch leaves its events to the next lease.
      const processBatch = Effect.gen(function*() {
        const now = yield* DateTime.now
        const due = yield* events.claimDue(now, lease, batchSize, maxAttempts)
        const plans = yield* Effect.forEach(due, (event) =>
          plan(event).pipe(
            // an object that is not what its type promises will never apply: kept on record, not retried
            Effect.catch((error) =>
              Effect.as(
                Effect.logWarning("ignoring a Stripe event whose object is not as documented").pipe(
                  Effect.annotateLogs({ eventId: event.id, type: event.type, error: error.message })
                ),
                { kind: "ignore" } as const
              )
            )
          ))
        const named = plans.flatMap((p) => p.kind === "ignore" ? [] : [p])
        const known = yield* repo.findPayments(
          named.flatMap((p) => Option.toArray(p.paymentId)),
          named.map((p) => p.intentId)
        )
        const paymentOf = (p: Plan) =>
          p.kind === "ignore" ?
            undefined :
            known.find((row) =>
              Option.match(p.paymentId, {
                onNone: () => row.providerPaymentId === p.intentId,
                onSome: (id) => row.id === id
              })
            )
        const applied: Array<string> = []
        for (const [i, event] of due.entries()) {
          const step = plans[i] ?? { kind: "ignore" as const }
          const exit = yield* Effect.exit(apply(step, paymentOf(step)))
          if (exit._tag === "Success") {
            applied.push(event.id)
            continue
          }
          yield* events.retryLater(event.id, String(exit.cause), event.attempts, now)
          yield* Effect.logWarning("applying a Stripe event failed; it will be retried").pipe(
            Effect.annotateLogs({ eventId: event.id, type: event.type })
          )
        }
        yield* events.markProcessed(applied, now)
        return due.length
      })

      const drain = Effect.gen(function*() {
        let handled = 0
        for (let batch = yield* processBatch; batch > 0; batch = yield* processBatch) handled += batch
        return handled
      })

      return WebhookInbox.of({
        ingest,
        drain,
        wait: (timeout) => Effect.raceFirst(Queue.take(stored), Effect.sleep(timeout))
      })
    })
  )
}

/** Worker fibers that apply stored events: woken by this process's ingests, polling for other replicas'. */
export const WebhookWorkerLive = Layer.effectDiscard(Effect.gen(function*() {
  const inbox = yield* WebhookInbox
  const worker = Effect.gen(function*() {
    yield* inbox.drain
    yield* inbox.wait("1 second")
  }).pipe(
    Effect.catchCause((cause) =>
      Effect.logWarning("webhook worker step failed", cause).pipe(Effect.andThen(Effect.sleep("1 second")))
    ),
    Effect.forever
  )
  // several workers: SKIP LOCKED hands each a different event
  yield* Effect.forEach([1, 2, 3, 4], () => Effect.forkScoped(worker), { discard: true })
}))
