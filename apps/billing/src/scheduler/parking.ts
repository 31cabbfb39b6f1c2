// Subscriptions a safety bound parked (more invoices in a day than BILLING_MAX_INVOICES_PER_DAY: something is
// wrong) are neither invoiced nor charged until an admin has looked and unparks them, with a reason for the audit log.
import type { CurrentUser } from "@kassa/domain/auth"
import { SubscriptionNotParked } from "@kassa/domain/billing-admin"
import { NotFound, type ServiceUnavailable } from "@kassa/domain/errors"
import type { SubscriptionId } from "@kassa/domain/ids"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { SqlClient } from "effect/sql"
import { AdminRepo } from "../admin/repo.ts"
import { derivedId } from "@kassa/platform/idempotency"
import { Lifecycle } from "../ledger/lifecycle.ts"
import type { SubscriptionRow } from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"

export class Parking extends Context.Service<Parking, {
  unpark(admin: CurrentUser["Service"], id: SubscriptionId, reason: string): Effect.Effect<
    SubscriptionRow,
    NotFound | SubscriptionNotParked | ServiceUnavailable
  >
}>()("billing/Parking") {
  static readonly layer = Layer.effect(
    Parking,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const subscriptions = yield* SubscriptionsRepo
      const lifecycle = yield* Lifecycle
      const auditLog = yield* AdminRepo

      const unpark = (admin: CurrentUser["Service"], id: SubscriptionId, reason: string) =>
        Effect.gen(function*() {
          const found = yield* subscriptions.findSubscription(id, { lock: true })
          if (Option.isNone(found)) {
            return yield* new NotFound({ message: "subscription not found", resource: "subscription" })
          }
          if (found.value.parkedAt === null) {
            return yield* new SubscriptionNotParked({ message: `subscription ${id} is not parked` })
          }
          const at = DateTime.toDateUtc(yield* DateTime.now)
          yield* auditLog.recordAudit({
            id: derivedId("aud", admin.id, id, at.toISOString()),
            actorId: admin.id,
            action: "subscription.unpark",
            objectType: "subscription",
            objectId: id,
            reason,
            details: { parkedAt: found.value.parkedAt.toISOString(), parkedReason: found.value.parkedReason }
          }, at)
          return yield* lifecycle.change(found.value, { parkedAt: null, parkedReason: null }, undefined)
        }).pipe(sql.withTransaction, orUnavailable)

      return Parking.of({ unpark })
    })
  )
}
