// What the ledger's operations share: the object stores, ids, lookups, and the events they raise.
import { randomBytes } from "node:crypto"
import Stripe from "stripe"
import type { CardBehavior } from "./cards.ts"
import { resourceMissing } from "./errors.ts"
import { Effect } from "effect"

export type Json = { [key: string]: unknown }

export const eventTypes = [
  "payment_intent.succeeded",
  "payment_intent.payment_failed",
  "payment_intent.canceled",
  "charge.refunded"
] as const
export type EventType = (typeof eventTypes)[number]

/** An event as delivered: serialised once, when it is raised, so later changes to its object do not show. */
export interface RaisedEvent {
  readonly id: string
  readonly type: EventType
  /** Unix seconds. */
  readonly created: number
  /** The JSON body Stripe would POST (pretty-printed, as Stripe sends it). */
  readonly payload: string
}

/** What an operation needs to know about the request that runs it. */
export interface RequestInfo {
  /** Unix seconds. */
  readonly now: number
  readonly requestId: string
  readonly idempotencyKey: string | undefined
}

export const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString("hex")}`

export interface PaymentMethodRecord {
  readonly json: Json
  readonly behavior: CardBehavior
}

/** Receives every object an operation reads or writes; the journal keeps the ones that changed. */
export type Touch = (kind: string, id: string, value: unknown) => void

/** One kind of object by id, in creation order. Reads are reported too: operations change objects in place. */
export class Store<A> {
  private readonly byId = new Map<string, A>()
  readonly kind: string
  private readonly touch: Touch
  constructor(kind: string, touch: Touch, restored: Iterable<readonly [string, A]> = []) {
    this.kind = kind
    this.touch = touch
    for (const [id, value] of restored) this.byId.set(id, value)
  }
  get(id: string): A | undefined {
    const value = this.byId.get(id)
    if (value !== undefined) this.touch(this.kind, id, value)
    return value
  }
  set(id: string, value: A): void {
    this.byId.set(id, value)
    this.touch(this.kind, id, value)
  }
  /** Every object, oldest first, for reading only (not reported). */
  values(): IterableIterator<A> {
    return this.byId.values()
  }
}

export const storeKinds = ["customer", "payment_method", "payment_intent", "charge", "refund"] as const
export type StoreKind = (typeof storeKinds)[number]

export interface State {
  readonly customers: Store<Json>
  readonly paymentMethods: Store<PaymentMethodRecord>
  readonly intents: Store<Json>
  readonly charges: Store<Json>
  readonly refunds: Store<Json>
  emit(info: RequestInfo, type: EventType, object: Json, previous?: Json): void
}

export const find = (store: Store<Json>, kind: string, id: string, param?: string) => {
  const found = store.get(id)
  return found === undefined ? Effect.fail(resourceMissing(kind, id, param)) : Effect.succeed(found)
}

/** Builds an event as Stripe would send it and hands it to `onEvent`. */
export const emitter = (onEvent: (event: RaisedEvent) => void): State["emit"] => (info, type, object, previous) => {
  const id = newId("evt")
  const event = {
    id,
    object: "event",
    api_version: Stripe.API_VERSION,
    created: info.now,
    data: { object, ...(previous === undefined ? {} : { previous_attributes: previous }) },
    livemode: false,
    pending_webhooks: 1,
    request: { id: info.requestId, idempotency_key: info.idempotencyKey ?? null },
    type
  }
  onEvent({ id, type, created: info.now, payload: JSON.stringify(event, null, 2) })
}
