// A viewer's saved cards over HTTP (client derived from BillingApi): save, list, remove; billing and payments
// in-process on the real Postgres, Redis and RabbitMQ, cards held by the Stripe sandbox.
import { assert, layer } from "@effect/vitest"
import { InvoiceId, type UserId } from "@kassa/domain/ids"
import { PaymentsRpcClient } from "@kassa/clients"
import { randomUUID } from "node:crypto"
import { Effect } from "effect"
import { BillingWithPayments, errorTag, raw, viewer } from "./billing-harness.ts"

/** What payments does for a renewal: charge the user's default card, naming none. */
const chargeDefault = (userId: UserId) =>
  PaymentsRpcClient.use((payments) =>
    payments.CreatePayment({
      idempotencyKey: `renewal-${randomUUID()}`,
      invoiceId: InvoiceId.make(`inv_${randomUUID()}`),
      userId,
      amount: 990,
      currency: "EUR",
      offSession: true
    })
  )

layer(BillingWithPayments(), { excludeTestServices: true, timeout: 60_000 })("payment methods", (it) => {
  it.effect("GET lists the viewer's cards newest first with brand, last4, expiry and which is the default", () =>
    Effect.gen(function*() {
      const { client } = yield* viewer()
      assert.deepStrictEqual(yield* client.paymentMethods.list(), { items: [] })
      const visa = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })
      const mastercard = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_mastercard" } })
      const { items } = yield* client.paymentMethods.list()
      assert.deepStrictEqual(
        items.map((m) => [m.id, m.brand, m.last4, m.expMonth, m.isDefault]),
        [[mastercard.id, "mastercard", "4444", 12, true], [visa.id, "visa", "4242", 12, false]]
      )
      assert.isAtLeast(items[0]?.expYear ?? 0, 2025)
      assert.deepStrictEqual([visa.expMonth, visa.expYear], [items[1]?.expMonth, items[1]?.expYear])
      // another viewer sees none of them
      const other = yield* viewer("other")
      assert.deepStrictEqual(yield* other.client.paymentMethods.list(), { items: [] })
    }))

  it.effect("DELETE removes one of the viewer's cards (204); another viewer's, an unknown or a removed card is 404", () =>
    Effect.gen(function*() {
      const alice = yield* viewer("alice")
      const bob = yield* viewer("bob")
      const kept = yield* alice.client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })
      const removed = yield* alice.client.paymentMethods.add({ payload: { paymentMethod: "pm_card_mastercard" } })
      const bobs = yield* bob.client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })

      yield* alice.client.paymentMethods.remove({ params: { id: removed.id } })
      assert.deepStrictEqual((yield* alice.client.paymentMethods.list()).items.map((m) => m.id), [kept.id])
      assert.strictEqual(
        yield* errorTag(alice.client.paymentMethods.remove({ params: { id: removed.id } })),
        "NotFound"
      )
      assert.strictEqual(yield* errorTag(alice.client.paymentMethods.remove({ params: { id: bobs.id } })), "NotFound")
      assert.strictEqual(
        yield* errorTag(alice.client.paymentMethods.remove({ params: { id: "pm_doesnotexist" } })),
        "NotFound"
      )
      // a viewer without any card yet (no customer at the provider) gets the same answer
      const carol = yield* viewer("carol")
      assert.strictEqual(yield* errorTag(carol.client.paymentMethods.remove({ params: { id: kept.id } })), "NotFound")
      assert.deepStrictEqual((yield* bob.client.paymentMethods.list()).items.map((m) => m.id), [bobs.id])

      const notAnId = yield* raw("DELETE", "/v1/payment-methods/card-1234", { token: alice.token })
      assert.deepStrictEqual([notAnId.status, notAnId.body["_tag"]], [400, "BadRequest"])
      const status = yield* raw("DELETE", `/v1/payment-methods/${kept.id}`, { token: alice.token })
      assert.strictEqual(status.status, 204)
      assert.deepStrictEqual(yield* alice.client.paymentMethods.list(), { items: [] })
    }))

  it.effect("removing the default card leaves none: a renewal's charge is refused until a new card is saved", () =>
    Effect.gen(function*() {
      const { account, client } = yield* viewer()
      const first = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })
      const paid = yield* chargeDefault(account.id)
      assert.strictEqual(paid.status, "succeeded")

      yield* client.paymentMethods.remove({ params: { id: first.id } })
      assert.deepStrictEqual(yield* client.paymentMethods.list(), { items: [] })
      assert.strictEqual(yield* errorTag(chargeDefault(account.id)), "NoPaymentMethod")

      const second = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_mastercard" } })
      assert.isTrue(second.isDefault)
      assert.strictEqual((yield* chargeDefault(account.id)).status, "succeeded")
    }))

  it.effect("removing a card that is not the default keeps the default", () =>
    Effect.gen(function*() {
      const { account, client } = yield* viewer()
      const older = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa" } })
      const current = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_mastercard" } })
      yield* client.paymentMethods.remove({ params: { id: older.id } })
      assert.deepStrictEqual((yield* client.paymentMethods.list()).items.map((m) => [m.id, m.isDefault]), [[
        current.id,
        true
      ]])
      assert.strictEqual((yield* chargeDefault(account.id)).status, "succeeded")
    }))

  it.effect("a card the provider declines when it is checked is not saved: 400 naming paymentMethod and the decline", () =>
    Effect.gen(function*() {
      const { client } = yield* viewer()
      const refused = yield* Effect.flip(
        client.paymentMethods.add({ payload: { paymentMethod: "pm_card_visa_chargeDeclinedInsufficientFunds" } })
      )
      assert.strictEqual(refused._tag, "BadRequest")
      if (refused._tag === "BadRequest") {
        assert.strictEqual(refused.field, "paymentMethod")
        assert.include(refused.message, "insufficient_funds")
      }
      assert.deepStrictEqual(yield* client.paymentMethods.list(), { items: [] })
      // chargeCustomerFail is saved, and then every charge on it fails
      const failing = yield* client.paymentMethods.add({ payload: { paymentMethod: "pm_card_chargeCustomerFail" } })
      assert.deepStrictEqual([failing.last4, failing.isDefault], ["0341", true])
    }))
})
