// Outcomes reach billing twice: as outbox events and as a PaymentOutcome RPC call to BILLING_RPC_URL, retried
// until billing acknowledges it. Billing is played here by a server implementing the domain's callback group.
import { assert, layer } from "@effect/vitest"
import { BillingCallbackRpcs, type PaymentOutcome } from "@kassa/domain/payments"
import { ServiceAuthLive, ServiceToken } from "@kassa/platform/service-token"
import { rpcSerialization } from "@kassa/clients/protocol"
import { NodeHttpServer } from "@effect/platform-node"
import { serverUrl } from "@kassa/platform/http"
import { Context, Effect, Layer, Redacted, Ref } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { RpcServer } from "effect/rpc"
import { SqlClient } from "effect/sql"
import { createServer } from "node:http"
import { eventsOf, eventually, newInvoiceId, newKey, newUserId, PaymentsHarness, rpc, serviceToken } from "./harness.ts"

/** Billing's side of the callback: refuses the first `downFor` calls, then records what it gets. */
class FakeBilling extends Context.Service<FakeBilling, {
  readonly url: string
  readonly received: Ref.Ref<ReadonlyArray<PaymentOutcome>>
}>()("test/FakeBilling") {
  static readonly layer = (downFor: number) =>
    Layer.effect(
      FakeBilling,
      Effect.gen(function*() {
        const received = yield* Ref.make<ReadonlyArray<PaymentOutcome>>([])
        const failures = yield* Ref.make(downFor)
        const handlers = BillingCallbackRpcs.toLayer({
          PaymentOutcome: (outcome) =>
            Effect.gen(function*() {
              if ((yield* Ref.getAndUpdate(failures, (n) => n - 1)) > 0) return yield* Effect.die("billing is down")
              yield* Ref.update(received, (all) => [...all, outcome])
            })
        })
        const routes = RpcServer.layerHttp({ group: BillingCallbackRpcs, path: "/rpc", protocol: "http" }).pipe(
          Layer.provide([
            handlers,
            rpcSerialization,
            ServiceAuthLive.pipe(
              Layer.provide(Layer.succeed(ServiceToken, ServiceToken.make(Redacted.make(serviceToken))))
            )
          ])
        )
        const context = yield* Layer.build(
          HttpRouter.serve(routes, { disableLogger: true, disableListenLog: true }).pipe(
            Layer.provideMerge(NodeHttpServer.layerServer(createServer, { host: "127.0.0.1", port: 0 })),
            Layer.provide(NodeHttpServer.layerHttpServices)
          )
        )
        return FakeBilling.of({ url: `${serverUrl(Context.get(context, HttpServer.HttpServer))}/rpc`, received })
      })
    )
}

const Harness = Layer.unwrap(
  Effect.map(Effect.service(FakeBilling), (billing) => PaymentsHarness({ BILLING_RPC_URL: billing.url }))
)
  .pipe(Layer.provideMerge(FakeBilling.layer(1)))

const callbacksOf = (paymentId: string) =>
  SqlClient.SqlClient.use((
    sql
  ) => sql<{ readonly id: string; readonly type: string; readonly attempts: number; readonly acknowledged: boolean }>`
      SELECT id::text AS id, type, attempts, acknowledged_at IS NOT NULL AS acknowledged
      FROM payments.billing_callbacks WHERE payment_id = ${paymentId} ORDER BY created_at`)

layer(Harness, { excludeTestServices: true, timeout: 60_000 })("billing callback", (it) => {
  it.effect("is retried until billing acknowledges it, and carries the outbox event's id", () =>
    Effect.gen(function*() {
      const billing = yield* FakeBilling
      const client = yield* rpc
      const payment = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId: newUserId(),
        amount: 1200,
        currency: "EUR",
        paymentMethod: "pm_card_visa"
      })
      const [callback] = yield* eventually(callbacksOf(payment.id), (rows) => rows[0]?.acknowledged === true)
      assert.deepStrictEqual([callback?.type, callback?.attempts], ["payment.succeeded", 2])
      const received = (yield* Ref.get(billing.received)).filter((o) => o.payment.id === payment.id)
      assert.deepStrictEqual(received.map((o) => [o.type, o.payment.status, o.id]), [[
        "payment.succeeded",
        "succeeded",
        callback?.id
      ]])
      const outbox = yield* SqlClient.SqlClient.use((sql) =>
        sql<{ readonly id: string }>`SELECT id::text AS id FROM payments.outbox WHERE aggregate_id = ${payment.id}`
      )
      assert.deepStrictEqual(outbox.map((e) => e.id), [callback?.id])
    }))

  it.effect("every outcome type goes out: failed, and refunded after a cancel", () =>
    Effect.gen(function*() {
      const billing = yield* FakeBilling
      const client = yield* rpc
      const declined = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId: newUserId(),
        amount: 800,
        currency: "EUR",
        paymentMethod: "pm_card_chargeDeclinedInsufficientFunds"
      })
      const paid = yield* client.CreatePayment({
        idempotencyKey: newKey(),
        invoiceId: newInvoiceId(),
        userId: newUserId(),
        amount: 800,
        currency: "EUR",
        paymentMethod: "pm_card_visa"
      })
      yield* client.CancelPayment({ paymentId: paid.id, idempotencyKey: newKey() })
      yield* eventually(
        Ref.get(billing.received),
        (all) => all.filter((o) => o.payment.id === declined.id || o.payment.id === paid.id).length === 3
      )
      const types = (yield* Ref.get(billing.received))
        .filter((o) => o.payment.id === declined.id || o.payment.id === paid.id)
        .map((o) => [o.payment.id === paid.id ? "paid" : "declined", o.type])
      assert.sameDeepMembers(types, [
        ["declined", "payment.failed"],
        ["paid", "payment.succeeded"],
        ["paid", "payment.refunded"]
      ])
      assert.deepStrictEqual((yield* eventsOf(paid.id)).map((e) => e.type), ["payment.succeeded", "payment.refunded"])
    }))
})
