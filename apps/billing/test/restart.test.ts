// `npm start` restarted: billing, payments and the Stripe sandbox stop and start again on the same database and the
// same sandbox data directory. A viewer who paid before the restart still has a working card, subscribes with it,
// saves another and cancels the payment made before the restart.
import { assert, describe, it } from "@effect/vitest"
import { BillingApi } from "@kassa/domain/apis"
import { layerFromUrl } from "@kassa/platform/db"
import { apiClient, makeTestDatabase } from "@kassa/platform/testing"
import { Effect } from "effect"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { BillingWithPayments, newKey, seedPlan, viewer } from "./billing-harness.ts"
import { billingClient } from "./support.ts"

describe("a restart of the apps and the sandbox", () => {
  it.live("an existing viewer's saved card, subscribe and cancel-payment work after it", () =>
    Effect.gen(function*() {
      const database = yield* makeTestDatabase()
      const dataDir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "kassa-restart-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      // each run builds the apps afresh on the same database and sandbox data, and stops them at its end
      const run = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
        effect.pipe(
          Effect.provide(BillingWithPayments({}, { database: layerFromUrl(database), sandbox: { dataDir } }), {
            local: true
          })
        )

      const before = yield* run(Effect.gen(function*() {
        const first = yield* seedPlan({ amount: 700 })
        const second = yield* seedPlan({ amount: 900 })
        const { account, client } = yield* viewer("returning")
        const card = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })
        const paid = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId: first.planId }
        })
        assert.strictEqual(paid.payment?.status, "succeeded")
        return { email: account.email, card, paid, secondPlan: second.planId }
      }))

      yield* run(Effect.gen(function*() {
        const tokens = yield* (yield* billingClient()).auth.token({
          payload: { email: before.email, password: "correct horse battery staple" }
        })
        const client = yield* apiClient(BillingApi, { bearer: tokens.accessToken })
        const cards = yield* client.paymentMethods.list()
        assert.deepStrictEqual(cards.items.map((m) => [m.id, m.isDefault]), [[before.card.id, true]])
        // the default card saved before the restart pays
        const again = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId: before.secondPlan }
        })
        assert.deepStrictEqual([again.subscription.status, again.payment?.status], ["active", "succeeded"])
        const another = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_mastercard" } })
        assert.deepStrictEqual([another.last4, another.isDefault], ["4444", true])
        const canceled = yield* client.payments.cancel({
          params: { id: before.paid.payment?.id ?? assert.fail("no payment") },
          headers: { "idempotency-key": newKey() }
        })
        assert.deepStrictEqual([canceled.status, canceled.refundedAmount], ["refunded", 700])
      }))
    }).pipe(Effect.scoped), 120_000)
})
