// The event bus: its contract, AMQP topic matching, and the in-process bus that routes with the same rules. The
// RabbitMQ bus, and the choice between the two (EventBusLive), are in bus-amqp.ts. Publishing resolves only once
// every message is confirmed (by the broker's publisher confirms, or at once in process).
import { randomUUID } from "node:crypto"
import { Context, Effect, Layer, Queue, Schema, type Scope } from "effect"
import { backoff } from "./backoff.ts"

export class BusError extends Schema.TaggedError<BusError>()("BusError", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

export interface OutgoingMessage {
  readonly routingKey: string
  /** The AMQP message id; consumers dedupe on it. */
  readonly messageId: string
  /** JSON text. */
  readonly body: string
}

export interface Delivery extends OutgoingMessage {
  readonly contentType: string | undefined
  /** Delivery mode 2: the broker keeps the message on disk in durable queues. */
  readonly persistent: boolean
  /** Delivered before and not acknowledged (a consumer died or its handler failed). */
  readonly redelivered: boolean
}

export interface QueueOptions {
  /**
   * A named queue is durable, keeps messages while no subscriber is connected and is shared by every subscriber
   * that uses the name (competing consumers). Omitted: a private queue that lives as long as the subscription
   * (after a reconnect it is a new queue, so messages published in between are not seen).
   */
  readonly queue?: string
  /** Messages whose handler keeps failing are rejected to this exchange; without one they are dropped. AMQP only. */
  readonly deadLetterExchange?: string
  /** Unacknowledged messages in flight per subscription. Default 20. */
  readonly prefetch?: number
}

export class EventBus extends Context.Service<EventBus, {
  /** Resolves when the broker has confirmed every message; order is kept within one call. */
  publish(messages: ReadonlyArray<OutgoingMessage>): Effect.Effect<void, BusError>
  /**
   * Consumes messages whose routing key matches any of `bindingKeys` (`*` = one word, `#` = zero or more) until
   * the scope closes. A message is acknowledged after `handler` succeeds; a failing handler is retried a few
   * times, then the message is rejected. Returns once the queue is bound; if the broker is unreachable it logs
   * a warning and returns at once, and the subscription keeps reconnecting in the background.
   */
  subscribe<E, R>(
    bindingKeys: ReadonlyArray<string>,
    handler: (delivery: Delivery) => Effect.Effect<void, E, R>,
    options?: QueueOptions
  ): Effect.Effect<void, never, R | Scope.Scope>
  readonly ping: Effect.Effect<void, BusError>
}>()("kassa/EventBus") {}

/** AMQP topic matching: words split on ".", `*` matches exactly one word, `#` zero or more. */
export const topicMatches = (bindingKey: string, routingKey: string): boolean => {
  const pattern = bindingKey.split(".")
  const words = routingKey.split(".")
  const match = (p: number, w: number): boolean => {
    if (p === pattern.length) return w === words.length
    const part = pattern[p]
    if (part === "#") return match(p + 1, w) || (w < words.length && match(p, w + 1))
    return w < words.length && (part === "*" || part === words[w]) && match(p + 1, w + 1)
  }
  return match(0, 0)
}

export const messageOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

// A failing handler gets a few quick retries in place (a transient database error, say); after that the
// message is given up on so one poison message cannot stall its queue. Interruption is not caught.
export const handle = <E, R>(handler: (delivery: Delivery) => Effect.Effect<void, E, R>, delivery: Delivery) =>
  handler(delivery).pipe(
    Effect.retry({ schedule: backoff({ base: "100 millis", cap: "1 second" }), times: 3 }),
    Effect.as(true),
    Effect.catchCause((cause) =>
      Effect.logError("event handler failed; message rejected", cause).pipe(
        Effect.annotateLogs({ routingKey: delivery.routingKey, messageId: delivery.messageId }),
        Effect.as(false)
      )
    )
  )

// ---- in-process ----------------------------------------------------------------------------------------------

interface MemoryQueue {
  readonly deliveries: Queue.Queue<Delivery>
  readonly bindingKeys: Set<string>
}

const makeMemory = Effect.sync(() => {
  const queues = new Map<string, MemoryQueue>()

  const publish = (messages: ReadonlyArray<OutgoingMessage>) =>
    Effect.sync(() => {
      for (const message of messages) {
        for (const queue of queues.values()) {
          if ([...queue.bindingKeys].some((key) => topicMatches(key, message.routingKey))) {
            Queue.offerUnsafe(queue.deliveries, {
              ...message,
              contentType: "application/json",
              persistent: true,
              redelivered: false
            })
          }
        }
      }
    })

  const subscribe = <E, R>(
    bindingKeys: ReadonlyArray<string>,
    handler: (delivery: Delivery) => Effect.Effect<void, E, R>,
    options?: QueueOptions
  ) =>
    Effect.gen(function*() {
      const name = options?.queue ?? `amq.gen-${randomUUID()}`
      let queue = queues.get(name)
      if (queue === undefined) {
        queue = { deliveries: yield* Queue.unbounded<Delivery>(), bindingKeys: new Set() }
        queues.set(name, queue)
      }
      const { deliveries } = queue
      for (const key of bindingKeys) queue.bindingKeys.add(key)
      if (options?.queue === undefined) yield* Effect.addFinalizer(() => Effect.sync(() => queues.delete(name)))
      yield* Effect.forkScoped(Effect.forever(Effect.gen(function*() {
        const delivery = yield* Queue.take(deliveries)
        // a subscriber stopped mid-message leaves it for the next one, as an unacknowledged AMQP message would
        yield* handle(handler, delivery).pipe(
          Effect.onInterrupt(() => Queue.offer(deliveries, { ...delivery, redelivered: true }))
        )
      })))
    })

  return EventBus.of({ publish, subscribe, ping: Effect.void })
})

/** In-process bus (one per layer build): AMQP topic matching, and publish "confirms" at once. */
export const layerMemory: Layer.Layer<EventBus> = Layer.effect(EventBus, makeMemory)
