// The sandbox's Stripe account: customers, payment methods, payment intents, charges, refunds and the events they
// raise. Each operation runs without yielding to other requests, so it is atomic; the journal keeps what it changed.
import { Context, Effect, Layer } from "effect"
import { customerOperations } from "./customers.ts"
import type { Params, StripeApiError } from "./errors.ts"
import { intentOperations } from "./intents.ts"
import { Journal } from "./journal.ts"
import { refundOperations } from "./refunds.ts"
import {
  emitter,
  find,
  type Json,
  type PaymentMethodRecord,
  type RaisedEvent,
  type RequestInfo,
  Store,
  type StoreKind
} from "./state.ts"

export { eventTypes, type EventType, type Json, newId, type RaisedEvent, type RequestInfo } from "./state.ts"

export class Ledger extends Context.Service<Ledger, {
  createCustomer(p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  retrieveCustomer(id: string): Effect.Effect<Json, StripeApiError>
  updateCustomer(id: string, p: Params): Effect.Effect<Json, StripeApiError>
  listCustomerPaymentMethods(id: string, p: Params): Effect.Effect<Json, StripeApiError>
  retrievePaymentMethod(id: string): Effect.Effect<Json, StripeApiError>
  attachPaymentMethod(id: string, p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  detachPaymentMethod(id: string, p: Params): Effect.Effect<Json, StripeApiError>
  createPaymentIntent(p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  retrievePaymentIntent(id: string): Effect.Effect<Json, StripeApiError>
  confirmPaymentIntent(id: string, p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  cancelPaymentIntent(id: string, p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  listPaymentIntents(p: Params): Effect.Effect<Json, StripeApiError>
  createRefund(p: Params, info: RequestInfo): Effect.Effect<Json, StripeApiError>
  retrieveRefund(id: string): Effect.Effect<Json, StripeApiError>
  retrieveCharge(id: string): Effect.Effect<Json, StripeApiError>
  /** Copies of the stored objects, for tests and the control API. */
  readonly snapshot: Effect.Effect<{
    readonly customers: ReadonlyArray<Json>
    readonly paymentIntents: ReadonlyArray<Json>
    readonly charges: ReadonlyArray<Json>
    readonly refunds: ReadonlyArray<Json>
  }>
}>()("stripe-sandbox/Ledger") {
  /** `onEvent` receives every event as it is raised; the account starts as the journal kept it. */
  static readonly make = (onEvent: (event: RaisedEvent) => void, journal: Journal["Service"] = Journal.memory) =>
    Effect.sync(() => {
      const store = <A>(kind: StoreKind) =>
        new Store<A>(
          kind,
          journal.touch,
          (journal.restored.objects.get(kind) ?? []) as ReadonlyArray<readonly [string, A]>
        )
      const state = {
        customers: store<Json>("customer"),
        paymentMethods: store<PaymentMethodRecord>("payment_method"),
        intents: store<Json>("payment_intent"),
        charges: store<Json>("charge"),
        refunds: store<Json>("refund"),
        emit: emitter(onEvent)
      }
      const customers = customerOperations(state)
      const intents = intentOperations(state, customers.resolvePaymentMethod)
      const { createRefund } = refundOperations(state)
      const copies = (s: Store<Json>) => Effect.sync(() => [...s.values()].map((o) => structuredClone(o)))
      const retrieve = (s: Store<Json>, kind: string) => (id: string) => Effect.suspend(() => find(s, kind, id))

      return Ledger.of({
        createCustomer: customers.createCustomer,
        retrieveCustomer: customers.retrieveCustomer,
        updateCustomer: customers.updateCustomer,
        listCustomerPaymentMethods: customers.listCustomerPaymentMethods,
        retrievePaymentMethod: customers.retrievePaymentMethod,
        attachPaymentMethod: customers.attachPaymentMethod,
        detachPaymentMethod: customers.detachPaymentMethod,
        ...intents,
        retrievePaymentIntent: retrieve(state.intents, "payment_intent"),
        createRefund,
        retrieveRefund: retrieve(state.refunds, "refund"),
        retrieveCharge: retrieve(state.charges, "charge"),
        snapshot: Effect.all({
          customers: copies(state.customers),
          paymentIntents: copies(state.intents),
          charges: copies(state.charges),
          refunds: copies(state.refunds)
        })
      })
    })

  static readonly layer = (onEvent: (event: RaisedEvent) => void) => Layer.effect(Ledger, Ledger.make(onEvent))
}
