// How billing learns a payment's outcome: an outbox event (`payment.succeeded|failed|refunded|canceled`) and,
// when BILLING_RPC_URL is set, a callback row; both are written in the statement that changed the payment.
// A delivery fiber calls billing's PaymentOutcome RPC for each callback until billing acknowledges it.
import { randomUUID } from "node:crypto"
import { Payment, PaymentOutcome, type PaymentOutcomeType } from "@kassa/domain/payments"
import { PaymentsConfig } from "../config.ts"
import { Outbox } from "@kassa/platform/outbox"
import { Cause, Context, DateTime, Duration, Effect, Exit, Layer, Option, Queue, Schema } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { ServiceToken } from "@kassa/platform/service-token"
import { BillingCallbackClient } from "@kassa/clients"
import { type PaymentRow, toPayment } from "../payments/rows.ts"
import { makeWorkQueue } from "@kassa/platform/work-queue"

const encodePayment = Schema.encodeSync(Payment)
const decodeOutcome = Schema.decodeUnknownEffect(PaymentOutcome)

export interface Outcome {
  readonly type: PaymentOutcomeType
  /** The payment as the change leaves it. */
  readonly payment: PaymentRow
}

export class Outcomes extends Context.Service<Outcomes, {
  /**
   * Runs `change` (a data-modifying statement that returns the id of the payment it changed) and, when it changed
   * the payment, writes `outcome` beside it, all in one statement: no transaction is needed around it. True when
   * the payment changed.
   */
  change(change: Statement.Fragment, outcome?: Outcome): Effect.Effect<boolean, SqlError.SqlError>
  /** Call inside the transaction that moved the payment: the outcome goes out iff that transaction commits. */
  record(type: PaymentOutcomeType, payment: PaymentRow): Effect.Effect<void, SqlError.SqlError>
}>()("payments/Outcomes") {
  static readonly layer = Layer.effect(
    Outcomes,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outbox = yield* Outbox
      const callbacks = Option.isSome((yield* PaymentsConfig).billingRpcUrl)
      const wake = yield* CallbackWake
      const changed = sql`EXISTS (SELECT 1 FROM changed)`

      const change = (change: Statement.Fragment, outcome?: Outcome) =>
        Effect.gen(function*() {
          if (outcome === undefined) {
            return (yield* sql`WITH changed AS (${change}) SELECT id FROM changed`).length > 0
          }
          const id = randomUUID()
          const payment = encodePayment(toPayment(outcome.payment))
          const now = DateTime.toDate(yield* DateTime.now)
          const payload = JSON.stringify({ id, type: outcome.type, payment })
          // the callback row names the event by its id, so billing can tell a callback and the event apart
          const callback = sql`callback AS (
            INSERT INTO payments.billing_callbacks (id, payment_id, type, payload, created_at, next_attempt_at)
            SELECT ${id}::uuid, ${outcome.payment.id}, ${outcome.type}, ${payload}::jsonb, ${now}, ${now} WHERE ${changed}
          )`
          const rows = yield* outbox.withEvents(
            [{ id, type: outcome.type, aggregateId: outcome.payment.id, data: payment }],
            changed,
            (events) =>
              sql`WITH changed AS (${change}), ${
                sql.csv([...(callbacks ? [callback] : []), events])
              } SELECT id FROM changed`
          )
          if (rows.length > 0 && callbacks) yield* sql.afterCommit(Effect.sync(wake.notify))
          return rows.length > 0
        })

      return Outcomes.of({
        change,
        record: (type, payment) => Effect.asVoid(change(sql`SELECT ${payment.id}::text AS id`, { type, payment }))
      })
    })
  )
}

/** Lets a commit with new callbacks wake this process's delivery fiber at once. */
export class CallbackWake extends Context.Service<CallbackWake, {
  readonly notify: () => void
  readonly wait: (timeout: Duration.Input) => Effect.Effect<void>
}>()("payments/CallbackWake") {
  static readonly layer = Layer.effect(
    CallbackWake,
    Effect.map(Queue.dropping<void>(1), (queue) =>
      CallbackWake.of({
        notify: () => {
          Queue.offerUnsafe(queue, undefined)
        },
        wait: (timeout) => Effect.raceFirst(Queue.take(queue), Effect.sleep(timeout))
      }))
  )
}

interface DueCallback {
  readonly id: string
  readonly attempts: number
  readonly payload: unknown
}

const lease = Duration.seconds(30)
const pollInterval = Duration.seconds(1)
const batchSize = 20

/**
 * Delivers due callbacks to billing; with BILLING_RPC_URL unset it only logs that outcomes go out as events.
 * Safe in every replica: a callback is leased before it is sent.
 */
export const CallbackDeliveryLive = Layer.effectDiscard(Effect.gen(function*() {
  const config = yield* PaymentsConfig
  if (Option.isNone(config.billingRpcUrl)) {
    return yield* Effect.logInfo("BILLING_RPC_URL not set: payment outcomes go out as events only")
  }
  const sql = yield* SqlClient.SqlClient
  const wake = yield* CallbackWake
  const token = (yield* ServiceToken).token
  const context = yield* Layer.build(BillingCallbackClient.layer(config.billingRpcUrl.value.toString(), token))
  const client = Context.get(context, BillingCallbackClient)

  const callbacks = makeWorkQueue(sql, {
    table: "payments.billing_callbacks",
    key: "id",
    keyType: "uuid",
    lease: "next_attempt_at",
    doneAt: "acknowledged_at",
    // between attempts: 1 s doubling to 5 min; attempts never stop (billing must hear every outcome)
    retry: { base: "1 second", cap: "5 minutes" }
  })
  const claimDue = Effect.gen(function*() {
    const now = DateTime.toDate(yield* DateTime.now)
    return yield* sql<DueCallback>`${
      callbacks.claim({
        where: sql`acknowledged_at IS NULL`,
        orderBy: sql`created_at`,
        limit: batchSize,
        now,
        lease,
        returning: sql`id::text AS "id", attempts, payload`
      })
    }`
  })

  const deliver = (callback: DueCallback) =>
    Effect.gen(function*() {
      const outcome = yield* decodeOutcome(callback.payload).pipe(Effect.orDie)
      // any failure counts, a defect included (billing's handler crashing reaches us as one)
      const sent = yield* Effect.exit(client.PaymentOutcome(outcome).pipe(Effect.timeout("10 seconds")))
      const now = yield* DateTime.now
      if (Exit.isSuccess(sent)) return yield* callbacks.done([callback.id], now)
      const error = Cause.pretty(sent.cause).split("\n")[0] ?? "failed"
      yield* callbacks.retry([callback.id], error, callback.attempts, now)
      yield* Effect.logWarning("billing did not acknowledge a payment outcome; will retry").pipe(
        Effect.annotateLogs({ callback: callback.id, attempts: callback.attempts + 1, error })
      )
    })

  const step = Effect.gen(function*() {
    const due = yield* claimDue
    yield* Effect.forEach(due, deliver, { concurrency: 4, discard: true })
    if (due.length < batchSize) yield* wake.wait(pollInterval)
  }).pipe(
    Effect.catchCause((cause) =>
      Effect.logWarning("billing callback delivery step failed", cause).pipe(Effect.andThen(Effect.sleep(pollInterval)))
    )
  )
  yield* Effect.forkScoped(Effect.forever(step))
}))
