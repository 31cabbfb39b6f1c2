// Postgres access for payments and customers (schema "payments"; refunds are in refunds-repo.ts).
// Status changes are conditional UPDATEs (`WHERE status IN (...)`): whoever learns an outcome first (the charge
// call, a webhook, the reconciler) moves the payment, and a stale or repeated outcome changes nothing.
import type { Currency, InvoiceId, UserId } from "@kassa/domain"
import { PaymentId } from "@kassa/domain"
import { PaymentStatus } from "@kassa/domain/payments"
import { Context, DateTime, type Duration, Effect, Layer, Option, Schema } from "effect"
import { makeWorkQueue } from "@kassa/platform/work-queue"
import { SqlClient, type SqlError, SqlSchema, type Statement } from "effect/sql"
import { CustomerRow, PaymentRow } from "./rows.ts"

export interface NewPayment {
  readonly id: PaymentId
  readonly userId: UserId
  readonly invoiceId: InvoiceId
  readonly amount: number
  readonly currency: Currency
  /** The customer and method to charge; "saved": the user's customer and default method, read in the same statement. */
  readonly charge: { readonly providerCustomerId: string; readonly paymentMethod: string } | "saved"
  readonly offSession: boolean
  readonly description: string | null
  readonly nextReconcileAt: DateTime.Utc
}

/** The invoice already has a payment whose outcome is open (the partial unique index said so). */
export class OpenPaymentExists extends Schema.TaggedError<OpenPaymentExists>()("OpenPaymentExists", {}) {}

/** What became of an attempt to start a charge. */
export type StartAttempt =
  | { readonly _tag: "Started"; readonly row: PaymentRow }
  /** The key was recorded before, with this payment: replay it (or refuse, if the request differs). */
  | { readonly _tag: "KeyUsed" }
  /** A concurrent request with the key committed first: replay it. */
  | { readonly _tag: "Raced" }
  /** The invoice has a payment that is open or took money already. */
  | { readonly _tag: "Blocked"; readonly paymentId: PaymentId; readonly status: PaymentStatus }
  /** `charge: "saved"`, and the user has no customer or no default method yet. */
  | { readonly _tag: "NoSavedMethod" }

export type RepoError = SqlError.SqlError

// a row that does not decode is corrupt data, not a condition callers can handle
export const orDieOnSchema = <A, R>(
  effect: Effect.Effect<A, RepoError | Schema.SchemaError, R>
): Effect.Effect<A, RepoError, R> => Effect.catchTag(effect, "SchemaError", (error) => Effect.die(error))

export const at = (dt: DateTime.Utc) => DateTime.toDate(dt)

/** The reconciler's queue over a table of rows whose outcome is open (payments, refunds). */
export interface ReconcileQueue<Id, Row> {
  /**
   * Claims up to `limit` open rows due for reconciliation: their next time moves past the lease, so other replicas
   * skip them while this one asks the provider.
   */
  claimDue(now: DateTime.Utc, lease: Duration.Input, limit: number): Effect.Effect<ReadonlyArray<Row>, RepoError>
  /** When to ask about the row next, and how many times it has been asked. */
  schedule(id: Id, attempts: number, next: DateTime.Utc): Effect.Effect<void, RepoError>
}

/** `table`'s rows matching `open`, as a reconcile queue on `next_reconcile_at`. */
export const reconcileQueue = <Id extends string, Row>(
  sql: SqlClient.SqlClient,
  table: string,
  open: Statement.Fragment,
  Row: Schema.Codec<Row, unknown>
): ReconcileQueue<Id, Row> => {
  const decode = Schema.decodeUnknownEffect(Schema.Array(Row))
  const queue = makeWorkQueue(sql, { table, key: "id", keyType: "text", lease: "next_reconcile_at" })
  return {
    claimDue: (now, lease, limit) =>
      sql`${
        queue.claim({ where: open, orderBy: sql`next_reconcile_at`, limit, now: at(now), lease, returning: sql`*` })
      }`.pipe(Effect.flatMap(decode), orDieOnSchema),
    schedule: (id, attempts, next) =>
      sql`UPDATE ${sql.literal(table)} SET reconcile_attempts = ${attempts}, next_reconcile_at = ${at(next)}
        WHERE id = ${id}`.pipe(Effect.asVoid)
  }
}

export class PaymentsRepo extends Context.Service<PaymentsRepo, {
  /**
   * In one statement: records the caller's key (`recordKey`, the idempotency store's insert), checks the invoice
   * has no open or paid payment (and, for a charge of the saved method, reads it) and inserts the `pending` attempt.
   * Either all of it happens or none (a refused request leaves its key free).
   */
  startAttempt(
    payment: NewPayment,
    recordKey: (when: Statement.Fragment, at: Date) => Statement.Fragment,
    now: DateTime.Utc
  ): Effect.Effect<StartAttempt, RepoError | OpenPaymentExists>
  findPayment(id: PaymentId): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  /** A payment this service holds the id of (an attempt it made, a key it recorded): its absence is a bug. */
  getPayment(id: PaymentId): Effect.Effect<PaymentRow, RepoError>
  /** Locks the row until the transaction ends. */
  lockPayment(id: PaymentId): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  findByProviderPaymentId(providerPaymentId: string): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  /** Every payment with one of `ids`, or whose provider id is one of `providerPaymentIds`, in one query. */
  findPayments(
    ids: ReadonlyArray<PaymentId>,
    providerPaymentIds: ReadonlyArray<string>
  ): Effect.Effect<ReadonlyArray<PaymentRow>, RepoError>
  /** The invoice's payment in `pending`/`unknown`, if any. */
  findOpenForInvoice(invoiceId: InvoiceId): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  /**
   * The statement that writes `next` over the payment if its outcome columns are still as in `seen` (optimistic:
   * it returns the id only then), for `Outcomes.change` to run with the outcome beside it.
   */
  replacing(seen: PaymentRow, next: PaymentRow): Statement.Fragment
  /** Raises the refunded amount to `refundedAmount` (never lowers it); None when it was already that high. */
  raiseRefunded(
    id: PaymentId,
    refundedAmount: number,
    now: DateTime.Utc
  ): Effect.Effect<Option.Option<PaymentRow>, RepoError>
  /** The payments whose outcome is still open (pending, unknown). */
  readonly reconcile: ReconcileQueue<PaymentId, PaymentRow>

  findCustomer(userId: UserId): Effect.Effect<Option.Option<CustomerRow>, RepoError>
  /** Keeps the first customer recorded for the user (a concurrent creator's row wins). */
  insertCustomer(userId: UserId, providerCustomerId: string, now: DateTime.Utc): Effect.Effect<CustomerRow, RepoError>
  setDefaultPaymentMethod(userId: UserId, paymentMethod: string, now: DateTime.Utc): Effect.Effect<void, RepoError>
  /** No default any more, if it still is `paymentMethod` (a default set meanwhile stays). */
  clearDefaultPaymentMethod(userId: UserId, paymentMethod: string, now: DateTime.Utc): Effect.Effect<void, RepoError>
}>()("payments/PaymentsRepo") {
  static readonly layer = Layer.effect(
    PaymentsRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient

      /** The one payment `where` picks out of the one value it is given. */
      const onePayment = (where: (value: string) => Statement.Fragment) =>
        SqlSchema.findOneOption({
          Request: Schema.String,
          Result: PaymentRow,
          execute: (value) => sql`SELECT * FROM payments.payments WHERE ${where(value)}`
        })
      const paymentById = onePayment((id) => sql`id = ${id}`)
      const lockById = onePayment((id) => sql`id = ${id} FOR UPDATE`)
      const byProviderId = onePayment((id) => sql`provider_payment_id = ${id}`)
      const openForInvoice = onePayment((invoiceId) =>
        sql`invoice_id = ${invoiceId} AND status IN ('pending', 'unknown')`
      )
      const decodePayments = Schema.decodeUnknownEffect(Schema.Array(PaymentRow))
      const decodePayment = Schema.decodeUnknownEffect(PaymentRow)
      const decodeCustomer = Schema.decodeUnknownEffect(CustomerRow)

      const firstPayment = (rows: ReadonlyArray<unknown>) =>
        rows.length === 0 ? Effect.succeed(Option.none<PaymentRow>()) : Effect.map(decodePayment(rows[0]), Option.some)
      // one round trip for the hot path of CreatePayment: every sub-statement sees one snapshot, and a concurrent
      // request with the same key waits at the key's unique index, then finds it taken (Raced)
      const startAttempt: PaymentsRepo["Service"]["startAttempt"] = (p, recordKey, now) =>
        sql<{
          readonly existingId: string | null
          readonly blockingId: string | null
          readonly blockingStatus: string | null
          readonly hasMethod: boolean
          readonly providerCustomerId: string | null
          readonly paymentMethod: string | null
        }>`WITH customer AS (${
          p.charge === "saved"
            ? sql`SELECT provider_customer_id, default_payment_method AS payment_method FROM payments.customers
                  WHERE user_id = ${p.userId} AND default_payment_method IS NOT NULL`
            : sql`SELECT ${p.charge.providerCustomerId}::text AS provider_customer_id, ${p.charge.paymentMethod}::text AS payment_method`
        }),
          existing AS (SELECT id FROM payments.payments WHERE id = ${p.id}),
          blocking AS (
            SELECT id, status FROM payments.payments
            WHERE invoice_id = ${p.invoiceId} AND status IN ('pending', 'unknown', 'succeeded', 'partially_refunded')
              AND NOT EXISTS (SELECT 1 FROM existing)
            ORDER BY status IN ('pending', 'unknown') DESC LIMIT 1
          ),
          recorded AS (${
            recordKey(
              sql`NOT EXISTS (SELECT 1 FROM existing) AND NOT EXISTS (SELECT 1 FROM blocking)
              AND EXISTS (SELECT 1 FROM customer)`,
              at(now)
            )
          }),
          started AS (
            INSERT INTO payments.payments (id, user_id, invoice_id, amount, currency, status, provider_customer_id,
              payment_method, off_session, description, next_reconcile_at, created_at, updated_at)
            SELECT ${p.id}, ${p.userId}, ${p.invoiceId}, ${p.amount}, ${p.currency}, 'pending', c.provider_customer_id,
              c.payment_method, ${p.offSession}, ${p.description}, ${at(p.nextReconcileAt)}, ${at(now)}, ${at(now)}
            FROM customer c
            WHERE EXISTS (SELECT 1 FROM recorded)
            RETURNING provider_customer_id, payment_method
          )
          SELECT (SELECT id FROM existing) AS existing_id,
            (SELECT id FROM blocking) AS blocking_id, (SELECT status FROM blocking) AS blocking_status,
            EXISTS (SELECT 1 FROM customer) AS has_method,
            (SELECT provider_customer_id FROM started) AS provider_customer_id,
            (SELECT payment_method FROM started) AS payment_method`.pipe(
          Effect.flatMap(([result]): Effect.Effect<StartAttempt, Schema.SchemaError> => {
            if (result?.providerCustomerId != null && result.paymentMethod != null) {
              // exactly what was inserted, without reading it back
              const { charge: _, ...payment } = p
              const row: PaymentRow = {
                ...payment,
                providerCustomerId: result.providerCustomerId,
                paymentMethod: result.paymentMethod,
                refundedAmount: 0,
                status: "pending",
                providerPaymentId: null,
                failureCode: null,
                failureMessage: null,
                reconcileAttempts: 0,
                createdAt: now,
                updatedAt: now
              }
              return Effect.succeed({ _tag: "Started", row })
            }
            if (result?.existingId != null) return Effect.succeed({ _tag: "KeyUsed" })
            if (result?.blockingId != null && result.blockingStatus != null) {
              return Effect.map(Schema.decodeUnknownEffect(PaymentStatus)(result.blockingStatus), (status) => ({
                _tag: "Blocked",
                paymentId: PaymentId.make(result.blockingId ?? ""),
                status
              }))
            }
            if (result?.hasMethod === false) return Effect.succeed({ _tag: "NoSavedMethod" })
            return Effect.succeed({ _tag: "Raced" })
          }),
          orDieOnSchema,
          // two attempts for one invoice at once: the partial unique index lets one open attempt through, and the
          // primary key one insert of an id
          Effect.catchReason("SqlError", "UniqueViolation", () => Effect.fail(new OpenPaymentExists()))
        )

      const replacing = (
        seen: PaymentRow,
        next: PaymentRow
      ) => sql`UPDATE payments.payments SET status = ${next.status}, provider_payment_id = ${next.providerPaymentId},
            failure_code = ${next.failureCode}, failure_message = ${next.failureMessage}, updated_at = ${
              at(next.updatedAt)
            }
          WHERE id = ${seen.id} AND status = ${seen.status} AND refunded_amount = ${seen.refundedAmount}
            AND provider_payment_id IS NOT DISTINCT FROM ${seen.providerPaymentId}::text
            AND failure_code IS NOT DISTINCT FROM ${seen.failureCode}::text
            AND failure_message IS NOT DISTINCT FROM ${seen.failureMessage}::text
          RETURNING id`

      const raiseRefunded = (id: PaymentId, refundedAmount: number, now: DateTime.Utc) =>
        sql`UPDATE payments.payments SET
            refunded_amount = LEAST(amount, ${refundedAmount}),
            status = CASE WHEN LEAST(amount, ${refundedAmount}) >= amount THEN 'refunded' ELSE 'partially_refunded' END,
            updated_at = ${at(now)}
          WHERE id = ${id} AND status IN ('succeeded', 'partially_refunded') AND refunded_amount < LEAST(amount, ${refundedAmount})
          RETURNING *`.pipe(Effect.flatMap(firstPayment), orDieOnSchema)

      const customerById = SqlSchema.findOneOption({
        Request: Schema.String,
        Result: CustomerRow,
        execute: (userId) =>
          sql`SELECT user_id, provider_customer_id, default_payment_method FROM payments.customers WHERE user_id = ${userId}`
      })

      const insertCustomer = (userId: UserId, providerCustomerId: string, now: DateTime.Utc) =>
        sql`WITH inserted AS (
            INSERT INTO payments.customers (user_id, provider_customer_id, created_at, updated_at)
            VALUES (${userId}, ${providerCustomerId}, ${at(now)}, ${at(now)})
            ON CONFLICT (user_id) DO NOTHING
            RETURNING user_id, provider_customer_id, default_payment_method
          )
          SELECT * FROM inserted
          UNION ALL
          SELECT user_id, provider_customer_id, default_payment_method FROM payments.customers WHERE user_id = ${userId}
          LIMIT 1`.pipe(Effect.flatMap((rows) => decodeCustomer(rows[0])), orDieOnSchema)

      return PaymentsRepo.of({
        startAttempt,
        findPayment: (id) => orDieOnSchema(paymentById(id)),
        getPayment: (id) =>
          Effect.flatMap(
            orDieOnSchema(paymentById(id)),
            Option.match({
              onNone: () => Effect.die(new Error(`payment ${id} vanished`)),
              onSome: Effect.succeed
            })
          ),
        lockPayment: (id) => orDieOnSchema(lockById(id)),
        findByProviderPaymentId: (id) => orDieOnSchema(byProviderId(id)),
        findPayments: (ids, providerPaymentIds) =>
          ids.length === 0 && providerPaymentIds.length === 0
            ? Effect.succeed([])
            // "" matches nothing: it stands in for an empty list, which IN () cannot express
            : sql`SELECT * FROM payments.payments
                WHERE id IN ${sql.in(ids.length === 0 ? [""] : ids)}
                  OR provider_payment_id IN ${sql.in(providerPaymentIds.length === 0 ? [""] : providerPaymentIds)}`
              .pipe(
                Effect.flatMap(decodePayments),
                orDieOnSchema
              ),
        findOpenForInvoice: (invoiceId) => orDieOnSchema(openForInvoice(invoiceId)),
        replacing,
        raiseRefunded,
        reconcile: reconcileQueue(sql, "payments.payments", sql`status IN ('pending', 'unknown')`, PaymentRow),
        findCustomer: (userId) => orDieOnSchema(customerById(userId)),
        insertCustomer,
        setDefaultPaymentMethod: (userId, paymentMethod, now) =>
          sql`UPDATE payments.customers SET default_payment_method = ${paymentMethod}, updated_at = ${at(now)}
            WHERE user_id = ${userId}`.pipe(Effect.asVoid),
        clearDefaultPaymentMethod: (userId, paymentMethod, now) =>
          sql`UPDATE payments.customers SET default_payment_method = NULL, updated_at = ${at(now)}
            WHERE user_id = ${userId} AND default_payment_method = ${paymentMethod}`.pipe(Effect.asVoid)
      })
    })
  )
}
