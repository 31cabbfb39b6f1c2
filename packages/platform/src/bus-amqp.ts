import { subscribe as observe, unsubscribe as unobserve } from "node:diagnostics_channel"
import type { Socket } from "node:net"
import * as amqp from "amqplib"
import { Cause, type Config, Deferred, Duration, Effect, Layer, Option, Queue, RcRef, Redacted } from "effect"
import { AmqpConfig } from "./config.ts"
import { backoff } from "./backoff.ts"
import {
  BusError,
  type Delivery,
  EventBus,
  handle,
  layerMemory,
  messageOf,
  type OutgoingMessage,
  type QueueOptions
} from "./bus.ts"

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
