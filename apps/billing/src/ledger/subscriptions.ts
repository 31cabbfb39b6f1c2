// Subscriptions in the billing schema, each read with its plan's interval and its account's time zone.
import type { SubscriptionStatus } from "@kassa/domain/billing"
import type { InvoiceId, ProductId, SubscriptionId, UserId } from "@kassa/domain/ids"
import { type Page, type PageRequest, toPage } from "@kassa/domain/pagination"
import { type NewEvent, Outbox } from "@kassa/platform/outbox"
import { Context, Effect, Layer, Option, Schema } from "effect"
import { SqlClient, type Statement } from "effect/sql"
import { lockEntitlements } from "../entitlements/repo.ts"
import { insertRowsWhere, invoiceRows } from "./invoices.ts"
import {
  cursorOf,
  keysetAfter,
  type NewInvoice,
  type NewSubscription,
  type Opened,
  ownedBy,
  type RepoError,
  SubscriptionRow
} from "./rows.ts"

export interface SubscriptionPatch {
  readonly status?: SubscriptionStatus
  readonly billingAnchor?: Date
  readonly parkedAt?: Date | null
  readonly parkedReason?: string | null
  readonly currentPeriodStart?: Date | null
  readonly currentPeriodEnd?: Date | null
  readonly cancelAtPeriodEnd?: boolean
  readonly failureCode?: string | null
  readonly endedAt?: Date
}

export class SubscriptionsRepo extends Context.Service<SubscriptionsRepo, {
  /** Locks the row (FOR UPDATE) when `lock` is set; `owner` limits the read to that user's subscription. */
  findSubscription(
    id: SubscriptionId,
    options?: { readonly owner?: UserId; readonly lock?: boolean }
  ): Effect.Effect<Option.Option<SubscriptionRow>, RepoError>
  /** The user's live subscription to the product, if any. */
  findLiveSubscription(userId: UserId, productId: ProductId): Effect.Effect<Option.Option<SubscriptionRow>, RepoError>
  listSubscriptions(userId: UserId, page: PageRequest): Effect.Effect<Page<SubscriptionRow>, RepoError>
  /** The invoice's subscription (locked when `lock` is set); `owner` limits the read to that user's invoice. */
  findSubscriptionOfInvoice(
    invoiceId: InvoiceId,
    options?: { readonly owner?: UserId; readonly lock?: boolean }
  ): Effect.Effect<Option.Option<SubscriptionRow>, RepoError>
  /** Takes the owner's entitlement lock in the same statement (see `lockEntitlements`). */
  updateSubscription(id: SubscriptionId, patch: SubscriptionPatch, now: Date): Effect.Effect<SubscriptionRow, RepoError>
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
}>()("billing/SubscriptionsRepo") {
  static readonly layer = Layer.effect(
    SubscriptionsRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const outbox = yield* Outbox
      const decodeSubscriptions = Schema.decodeUnknownEffect(Schema.Array(SubscriptionRow))

      // `changed`: a data-modifying statement whose RETURNING rows stand in for the table (one round trip)
      const selectSubscriptions = (
        where: Statement.Fragment,
        tail: Statement.Fragment = sql``,
        changed?: Statement.Fragment,
        extra: Statement.Fragment = sql``
      ) =>
        sql`${changed === undefined ? sql`` : sql`WITH changed AS (${changed})`}
        SELECT s.id, s.user_id, s.product_id, s.plan_id, s.status, s.current_period_start, s.current_period_end,
          s.cancel_at_period_end, s.failure_code, s.billing_anchor, s.parked_at, s.parked_reason, s.created_at,
          pl.interval, u.time_zone ${extra}
        FROM ${changed === undefined ? sql`billing.subscriptions` : sql`changed`} s
          JOIN billing.plans pl ON pl.id = s.plan_id JOIN billing.users u ON u.id = s.user_id
        WHERE ${where} ${tail}`.pipe(Effect.flatMap(decodeSubscriptions))

      const first = (rows: ReadonlyArray<SubscriptionRow>) => Option.fromNullishOr(rows[0])
      const lockIf = (lock: boolean | undefined) => lock === true ? sql`FOR UPDATE OF s` : sql``

      return SubscriptionsRepo.of({
        findSubscription: (id, options) =>
          Effect.map(
            selectSubscriptions(
              sql.and([sql`s.id = ${id}`, ...ownedBy(sql, "s.user_id", options?.owner)]),
              lockIf(options?.lock)
            ),
            first
          ),
        findSubscriptionOfInvoice: (invoiceId, options) =>
          Effect.map(
            selectSubscriptions(
              sql`s.id = (SELECT i.subscription_id FROM billing.invoices i WHERE ${
                sql.and([sql`i.id = ${invoiceId}`, ...ownedBy(sql, "i.user_id", options?.owner)])
              })`,
              lockIf(options?.lock)
            ),
            first
          ),
        findLiveSubscription: (userId, productId) =>
          Effect.map(
            selectSubscriptions(sql.and([
              sql`s.user_id = ${userId}`,
              sql`s.product_id = ${productId}`,
              sql`s.status IN ('incomplete', 'trialing', 'active', 'past_due')`
            ])),
            first
          ),
        listSubscriptions: (userId, { cursor, limit }) =>
          Effect.map(
            selectSubscriptions(
              sql.and([sql`s.user_id = ${userId}`, ...keysetAfter(sql, cursor, "s")]),
              sql`ORDER BY s.created_at DESC, s.id DESC LIMIT ${limit + 1}`
            ),
            (rows) => toPage(rows, limit, cursorOf)
          ),
        updateSubscription: (id, patch, now) =>
          Effect.flatMap(
            selectSubscriptions(
              sql`true`,
              sql``,
              sql`UPDATE billing.subscriptions SET ${
                sql.update({ ...patch, updatedAt: now })
              } WHERE id = ${id} RETURNING *`,
              // every change is followed by the owner's entitlement sync, which needs this lock first
              sql`, ${lockEntitlements(sql, sql`s.user_id`)} IS NULL AS entitlements_locked`
            ),
            (rows) =>
              rows[0] === undefined ? Effect.die(new Error(`subscription ${id} vanished`)) : Effect.succeed(rows[0])
          ),
        openSubscription: ({ interval, timeZone, ...subscription }, newInvoice, events, now) =>
          Effect.gen(function*() {
            const { invoice, lines, stored } = invoiceRows(newInvoice, now)
            const opened: Opened = {
              subscription: {
                ...subscription,
                cancelAtPeriodEnd: false,
                failureCode: null,
                billingAnchor: null,
                parkedAt: null,
                parkedReason: null,
                createdAt: now,
                interval,
                timeZone
              },
              invoice: stored
            }
            const inserted = sql`EXISTS (SELECT 1 FROM opened)`
            // the unique indexes are the arbiters: on a conflict `opened` is empty, and so is everything after it
            const rows = yield* outbox.withEvents(
              events(opened),
              inserted,
              (eventCtes) => sql<{ readonly id: string }>`WITH opened AS (
                INSERT INTO billing.subscriptions ${
                  sql.insert({ ...subscription, cancelAtPeriodEnd: false, createdAt: now, updatedAt: now })
                }
                ON CONFLICT DO NOTHING RETURNING id
              ),
              invoice AS (${insertRowsWhere(sql, "billing.invoices", [invoice], inserted)} RETURNING id),
              lines AS (${insertRowsWhere(sql, "billing.invoice_lines", lines, sql`EXISTS (SELECT 1 FROM invoice)`)}),
              ${eventCtes}
              SELECT id FROM opened`
            )
            return rows.length === 1 ? Option.some(opened) : Option.none()
          })
      })
    })
  )
}
