// Admin reads over every user's subscriptions, invoices and payments (filters: user, status, product, creation
// range; newest first, keyset-paginated), and the audit log of admin writes.
import { AuditEntry } from "@kassa/domain/billing-admin"
import type { InvoiceId, PaymentId, ProductId, UserId } from "@kassa/domain/ids"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { Context, DateTime, Effect, Layer, type Option, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { PaymentsRepo } from "../ledger/payments.ts"
import {
  cursorOf,
  type InvoiceWithLines,
  type PaymentRow,
  type RepoError,
  type SubscriptionRow
} from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"

export interface AdminFilters {
  readonly userId?: UserId
  readonly productId?: ProductId
  readonly status?: string
  /** subscriptions only: "true" parked ones, "false" the others */
  readonly parked?: "true" | "false"
  readonly from?: DateTime.Utc
  readonly to?: DateTime.Utc
}

// the entry as stored: its time is the row's created_at
const { at: _, ...auditFields } = AuditEntry.fields
const AuditRow = Schema.Struct({ ...auditFields, createdAt: Schema.Date })

export class AdminRepo extends Context.Service<AdminRepo, {
  subscriptions(filters: AdminFilters, page: PageRequest): Effect.Effect<Page<SubscriptionRow>, RepoError>
  invoices(filters: AdminFilters, page: PageRequest): Effect.Effect<Page<InvoiceWithLines>, RepoError>
  payments(filters: AdminFilters, page: PageRequest): Effect.Effect<Page<PaymentRow>, RepoError>
  /** Audit entries on these objects, oldest first. */
  auditOf(objectIds: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<AuditEntry>, RepoError>
  /** Records an admin's action before it runs; a retry of the same action (same id) keeps the first record. */
  recordAudit(entry: {
    readonly id: string
    readonly actorId: UserId
    readonly action: string
    readonly objectType: string
    readonly objectId: InvoiceId | PaymentId | string
    readonly reason: string
    readonly details: Record<string, unknown>
  }, now: Date): Effect.Effect<void, SqlError.SqlError>
  /** What the action came to (its outcome, the ids it made); returns the entry as it now is. */
  updateAuditDetails(id: string, details: Record<string, unknown>): Effect.Effect<AuditEntry, RepoError>
}>()("billing/AdminRepo") {
  static readonly layer = Layer.effect(
    AdminRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const subscriptionsRepo = yield* SubscriptionsRepo
      const invoicesRepo = yield* InvoicesRepo
      const paymentsRepo = yield* PaymentsRepo
      const decodeAudit = Schema.decodeUnknownEffect(Schema.Array(AuditRow))
      const toEntry = (row: typeof AuditRow.Type): AuditEntry => ({
        id: row.id,
        actorId: row.actorId,
        action: row.action,
        objectType: row.objectType,
        objectId: row.objectId,
        reason: row.reason,
        details: row.details,
        at: DateTime.fromDateUnsafe(row.createdAt)
      })

      type Fragment = ReturnType<typeof sql.and>
      interface Conditions {
        /** the table's condition for the product filter */
        readonly product: (productId: ProductId) => Fragment
        /** the table's own filters, if any */
        readonly own?: (filters: AdminFilters) => ReadonlyArray<Fragment>
      }
      const where = (alias: string, filters: AdminFilters, page: PageRequest, conditions: Conditions): Fragment => {
        const column = (name: string) => sql(`${alias}.${name}`)
        const clauses: Array<Fragment> = []
        if (filters.userId !== undefined) clauses.push(sql.and([sql`${column("user_id")} = ${filters.userId}`]))
        if (filters.status !== undefined) clauses.push(sql.and([sql`${column("status")} = ${filters.status}`]))
        if (filters.from !== undefined) {
          clauses.push(sql.and([sql`${column("created_at")} >= ${DateTime.toDateUtc(filters.from)}`]))
        }
        if (filters.to !== undefined) {
          clauses.push(sql.and([sql`${column("created_at")} < ${DateTime.toDateUtc(filters.to)}`]))
        }
        if (filters.productId !== undefined) clauses.push(conditions.product(filters.productId))
        clauses.push(...conditions.own?.(filters) ?? [])
        if (page.cursor !== undefined) {
          clauses.push(sql.and([
            sql`(${column("created_at")}, ${column("id")}) < (${new Date(Number(page.cursor.key))}, ${page.cursor.id})`
          ]))
        }
        return sql.and(clauses)
      }

      // The admin list of one table: the ids of a page are chosen here, newest first, and each is read whole by the
      // repository that owns the table (one gone meanwhile is left out).
      const listOf =
        <I extends string, A>(
          table: string,
          alias: string,
          read: (id: I) => Effect.Effect<Option.Option<A>, RepoError>,
          cursor: (row: A) => { readonly key: number; readonly id: string },
          conditions: Conditions
        ) =>
        (filters: AdminFilters, page: PageRequest): Effect.Effect<Page<A>, RepoError> =>
          sql<{ readonly id: I }>`SELECT ${sql(`${alias}.id`)} FROM ${sql(table)} ${sql(alias)}
          WHERE ${where(alias, filters, page, conditions)}
          ORDER BY ${sql(`${alias}.created_at`)} DESC, ${sql(`${alias}.id`)} DESC LIMIT ${page.limit + 1}`.pipe(
            Effect.flatMap((rows) => Effect.forEach(rows, (row) => read(row.id))),
            Effect.map((found) => found.flatMap((o) => o._tag === "Some" ? [o.value] : [])),
            Effect.map((rows) => toPage(rows, page.limit, cursor))
          )

      return AdminRepo.of({
        subscriptions: listOf("billing.subscriptions", "s", subscriptionsRepo.findSubscription, cursorOf, {
          product: (productId) => sql`s.product_id = ${productId}`,
          own: ({ parked }) =>
            parked === undefined ? [] : [parked === "true" ? sql`s.parked_at IS NOT NULL` : sql`s.parked_at IS NULL`]
        }),
        invoices: listOf("billing.invoices", "i", invoicesRepo.findInvoice, ({ row }) => cursorOf(row), {
          product: (productId) =>
            sql`i.subscription_id IN (SELECT id FROM billing.subscriptions WHERE product_id = ${productId})`
        }),
        payments: listOf("billing.payments", "p", paymentsRepo.findPayment, cursorOf, {
          product: (productId) => sql`p.invoice_id IN (SELECT i.id FROM billing.invoices i
            JOIN billing.subscriptions s ON s.id = i.subscription_id WHERE s.product_id = ${productId})`
        }),
        auditOf: (objectIds) =>
          objectIds.length === 0
            ? Effect.succeed([])
            : sql`SELECT id, actor_id, action, object_type, object_id, reason, details, created_at
              FROM billing.audit_log WHERE object_id IN ${sql.in(objectIds)} ORDER BY created_at, id`.pipe(
              Effect.flatMap(decodeAudit),
              Effect.map((rows) => rows.map(toEntry))
            ),
        recordAudit: (entry, now) =>
          sql`INSERT INTO billing.audit_log (id, actor_id, action, object_type, object_id, reason, details, created_at)
          VALUES (${entry.id}, ${entry.actorId}, ${entry.action}, ${entry.objectType}, ${entry.objectId}, ${entry.reason},
            ${JSON.stringify(entry.details)}::jsonb, ${now})
          ON CONFLICT (id) DO NOTHING`.pipe(Effect.asVoid),
        updateAuditDetails: (id, details) =>
          sql`UPDATE billing.audit_log SET details = ${JSON.stringify(details)}::jsonb WHERE id = ${id}
          RETURNING id, actor_id, action, object_type, object_id, reason, details, created_at`.pipe(
            Effect.flatMap(decodeAudit),
            Effect.flatMap((rows) =>
              rows[0] === undefined
                ? Effect.die(new Error(`audit entry ${id} vanished`))
                : Effect.succeed(toEntry(rows[0]))
            )
          )
      })
    })
  )
}
