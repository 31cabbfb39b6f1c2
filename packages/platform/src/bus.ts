// The event bus: a RabbitMQ topic exchange when AMQP_URL is set, else in-process topic routing with the same
// matching rules. Publishing resolves only once the broker has confirmed every message (publisher confirms).
import { randomUUID } from "node:crypto"
import { subscribe as observe, unsubscribe as unobserve } from "node:diagnostics_channel"
import type { Socket } from "node:net"
import * as amqp from "amqplib"
import {
  Cause,
  type Config,
  Context,
  Deferred,
  Duration,
  Effect,
  Layer,
  Option,
  Queue,
  RcRef,
  Redacted,
  Schema,
  type Scope
} from "effect"
import { AmqpConfig } from "./config.ts"
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

const messageOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

// A failing handler gets a few quick retries in place (a transient database error, say); after that the
// message is given up on so one poison message cannot stall its queue. Interruption is not caught.
const handle = <E, R>(handler: (delivery: Delivery) => Effect.Effect<void, E, R>, delivery: Delivery) =>
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

// ---- RabbitMQ --------------------------------------------------------------------------------------------------

export interface AmqpOptions {
  /** Bound on opening a connection (TCP + AMQP handshake). */
  readonly connectTimeout?: Duration.Input
  /** Bound on one publish attempt, from getting a channel to the last confirm. */
  readonly confirmTimeout?: Duration.Input
}

const tryAmqp = <A>(what: string, f: () => Promise<A>) =>
  Effect.tryPromise({ try: f, catch: (cause) => new BusError({ message: `${what}: ${messageOf(cause)}`, cause }) })

const closeQuietly = (resource: { close(): Promise<void> }) =>
  Effect.tryPromise(() => resource.close()).pipe(Effect.ignore)

// The TCP socket of each connection, for corking a batch (see publishConfirmed). amqplib keeps its socket to itself;
// Node's documented `net.client.socket` diagnostics channel reports each client socket as it is created, and amqplib
// creates its own synchronously inside `connect`, so the one reported during that call is the connection's. Over
// TLS none is reported: batches then go uncorked, which is only slower.
const sockets = new WeakMap<amqp.ChannelModel, Socket>()
const connectObserved = async (url: string, timeout: number) => {
  let socket: Socket | undefined
  const onSocket = (message: unknown) => void (socket ??= (message as { readonly socket: Socket }).socket)
  observe("net.client.socket", onSocket)
  let connecting: Promise<amqp.ChannelModel>
  try {
    connecting = amqp.connect(url, { timeout })
  } finally {
    unobserve("net.client.socket", onSocket)
  }
  const connection = await connecting
  if (socket !== undefined) sockets.set(connection, socket)
  return connection
}

const openConnection = (url: string, connectTimeout: Duration.Duration) =>
  Effect.acquireRelease(
    tryAmqp("cannot connect to RabbitMQ", () => connectObserved(url, Duration.toMillis(connectTimeout))).pipe(
      // an "error" event without a listener would crash the process; "close" follows it and is handled
      Effect.tap((connection) => Effect.sync(() => connection.on("error", () => {})))
    ),
    closeQuietly
  )

const openChannel = <C extends amqp.Channel>(open: () => Promise<C>) =>
  Effect.acquireRelease(
    tryAmqp("cannot open a RabbitMQ channel", open).pipe(
      Effect.tap((channel) => Effect.sync(() => channel.on("error", () => {})))
    ),
    closeQuietly
  )

const declareExchange = (channel: amqp.Channel, exchange: string) =>
  tryAmqp("cannot declare the exchange", () => channel.assertExchange(exchange, "topic", { durable: true }))

// all confirms for one batch, in publish order on one channel
const publishConfirmed = (
  { channel, socket }: { readonly channel: amqp.ConfirmChannel; readonly socket: Socket | undefined },
  exchange: string,
  messages: ReadonlyArray<OutgoingMessage>
) =>
  Effect.callback<void, BusError>((resume) => {
    let unconfirmed = messages.length
    let failed = false
    const fail = (cause: unknown) => {
      if (failed) return
      failed = true
      resume(Effect.fail(new BusError({ message: `RabbitMQ did not confirm a message: ${messageOf(cause)}`, cause })))
    }
    const confirmed = (error: unknown) => {
      if (error) fail(error)
      else if (--unconfirmed === 0 && !failed) resume(Effect.void)
    }
    // amqplib writes each message to the socket on its own (a syscall each, which on this kind of machine costs
    // more than the message); corked for the batch, they leave in one write. Its writer runs in an immediate
    // scheduled on the next tick, so the uncork goes one immediate after that.
    socket?.cork()
    try {
      for (const message of messages) {
        channel.publish(exchange, message.routingKey, Buffer.from(message.body), {
          persistent: true,
          contentType: "application/json",
          messageId: message.messageId,
          type: message.routingKey
        }, confirmed)
      }
    } catch (cause) { // thrown synchronously once the channel is closed
      fail(cause)
    } finally {
      if (socket !== undefined) setImmediate(() => setImmediate(() => socket.uncork()))
    }
  })

const reconnectBackoff = backoff({ base: "200 millis", cap: "5 seconds" })

const toDelivery = (message: amqp.ConsumeMessage): Delivery => ({
  routingKey: message.fields.routingKey,
  messageId: String(message.properties.messageId ?? ""),
  body: message.content.toString("utf8"),
  contentType: message.properties.contentType,
  persistent: message.properties.deliveryMode === 2,
  redelivered: message.fields.redelivered
})

/** An EventBus on a RabbitMQ topic exchange; the layer starts even when the broker is down. */
export const layerAmqp = (
  url: Redacted.Redacted<string> | string,
  exchange: string,
  options?: AmqpOptions
): Layer.Layer<EventBus> =>
  Layer.effect(
    EventBus,
    Effect.gen(function*() {
      const address = typeof url === "string" ? url : Redacted.value(url)
      const connectTimeout = Duration.fromInputUnsafe(options?.connectTimeout ?? "5 seconds")
      const confirmTimeout = Duration.fromInputUnsafe(options?.confirmTimeout ?? "5 seconds")
      const runLog = Effect.runForkWith(yield* Effect.context<never>())

      // one connection + confirm channel, shared by all publishers; replaced after it closes or fails
      const publisher = yield* RcRef.make({
        acquire: Effect.gen(function*() {
          const connection = yield* openConnection(address, connectTimeout)
          const channel = yield* openChannel(() => connection.createConfirmChannel())
          let open = true
          connection.on("close", (error?: Error) => {
            open = false
            if (error) {
              runLog(
                Effect.logWarning("RabbitMQ connection lost; the next publish reconnects").pipe(
                  Effect.annotateLogs({ error: error.message })
                )
              )
            }
          })
          channel.on("close", () => {
            open = false
          })
          yield* declareExchange(channel, exchange)
          return { channel, socket: sockets.get(connection), isOpen: () => open }
        }),
        idleTimeToLive: "Infinity"
      })
      const currentChannel = Effect.gen(function*() {
        const current = yield* RcRef.get(publisher)
        if (current.isOpen()) return current
        yield* RcRef.invalidate(publisher)
        return yield* RcRef.get(publisher)
      })
      const withChannel = <A>(
        what: string,
        f: (
          current: { readonly channel: amqp.ConfirmChannel; readonly socket: Socket | undefined }
        ) => Effect.Effect<A, BusError>
      ) =>
        Effect.scoped(Effect.flatMap(currentChannel, f)).pipe(
          Effect.timeoutOrElse({
            duration: confirmTimeout,
            orElse: () =>
              Effect.fail(new BusError({ message: `${what} timed out after ${Duration.format(confirmTimeout)}` }))
          }),
          Effect.tapError(() => RcRef.invalidate(publisher))
        )

      const publish = (messages: ReadonlyArray<OutgoingMessage>) =>
        messages.length === 0 ?
          Effect.void :
          withChannel("publish", (current) => publishConfirmed(current, exchange, messages)).pipe(
            Effect.retry({ schedule: reconnectBackoff, times: 2 }), // a stale connection gets one fresh try
            Effect.withSpan(
              "EventBus.publish",
              { attributes: { messages: messages.length } },
              { captureStackTrace: false }
            )
          )

      const subscribe = <E, R>(
        bindingKeys: ReadonlyArray<string>,
        handler: (delivery: Delivery) => Effect.Effect<void, E, R>,
        queueOptions?: QueueOptions
      ) =>
        Effect.gen(function*() {
          const ready = yield* Deferred.make<void, BusError>()
          // one connection lifetime; fails when the connection or channel goes away
          const session = Effect.scoped(Effect.gen(function*() {
            const connection = yield* openConnection(address, connectTimeout)
            const channel = yield* openChannel(() => connection.createChannel())
            const inbox = yield* Queue.unbounded<amqp.ConsumeMessage, BusError>()
            const lost = (message: string) => () => {
              Queue.failCauseUnsafe(inbox, Cause.fail(new BusError({ message })))
            }
            connection.once("close", lost("RabbitMQ connection closed"))
            channel.once("close", lost("RabbitMQ channel closed"))
            yield* declareExchange(channel, exchange)
            const named = queueOptions?.queue !== undefined
            const deadLetter = queueOptions?.deadLetterExchange
            const { queue } = yield* tryAmqp(
              "cannot declare the queue",
              () =>
                channel.assertQueue(queueOptions?.queue ?? "", {
                  durable: named,
                  exclusive: !named,
                  autoDelete: !named,
                  ...(deadLetter === undefined ? {} : { deadLetterExchange: deadLetter })
                })
            )
            for (const key of bindingKeys) {
              yield* tryAmqp("cannot bind the queue", () => channel.bindQueue(queue, exchange, key))
            }
            yield* tryAmqp("cannot set prefetch", () => channel.prefetch(queueOptions?.prefetch ?? 20))
            yield* tryAmqp("cannot consume", () =>
              channel.consume(queue, (message) => {
                if (message === null) lost("RabbitMQ cancelled the consumer")()
                else Queue.offerUnsafe(inbox, message)
              }))
            yield* Deferred.succeed(ready, undefined)
            return yield* Effect.forever(Effect.gen(function*() {
              const message = yield* Queue.take(inbox)
              const handled = yield* handle(handler, toDelivery(message))
              yield* Effect.try({
                try: () => handled ? channel.ack(message) : channel.nack(message, false, false),
                catch: (cause) => new BusError({ message: `cannot acknowledge: ${messageOf(cause)}`, cause })
              })
            }))
          }))
          yield* session.pipe(
            Effect.tapError((error) =>
              Deferred.fail(ready, error).pipe(
                Effect.andThen(Effect.logWarning("event subscription lost; reconnecting")),
                Effect.annotateLogs({ bindingKeys: bindingKeys.join(","), error: error.message })
              )
            ),
            Effect.retry(reconnectBackoff),
            Effect.forkScoped
          )
          yield* Deferred.await(ready).pipe(Effect.ignore)
        })

      const ping = withChannel(
        "ping",
        ({ channel }) => tryAmqp("RabbitMQ ping failed", () => channel.checkExchange(exchange))
      ).pipe(Effect.asVoid)

      // declare the topology now if the broker is there; otherwise the first publish does
      yield* Effect.scoped(currentChannel).pipe(
        Effect.catch((error) =>
          Effect.logWarning("RabbitMQ unreachable at start; publishing reconnects on demand").pipe(
            Effect.annotateLogs({ error: error.message })
          )
        )
      )
      return EventBus.of({ publish, subscribe, ping })
    })
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

/** AMQP_URL set → RabbitMQ; unset → the in-process bus. */
export const EventBusLive: Layer.Layer<EventBus, Config.ConfigError> = Layer.unwrap(
  Effect.map(AmqpConfig, (config) =>
    Option.match(config.url, {
      onSome: (url) =>
        layerAmqp(url, config.exchange, {
          connectTimeout: config.connectTimeout,
          confirmTimeout: config.confirmTimeout
        }),
      onNone: () =>
        Layer.effectDiscard(Effect.logInfo("AMQP_URL not set: using the in-process event bus")).pipe(
          Layer.provideMerge(layerMemory)
        )
    }))
)
