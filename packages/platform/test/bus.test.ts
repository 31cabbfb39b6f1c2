import { randomUUID } from "node:crypto"
import { assert, describe, it, layer } from "@effect/vitest"
import * as amqp from "amqplib"
import { Context, Effect, Fiber, Layer, Queue, Schedule } from "effect"
import { layerAmqp } from "../src/bus-amqp.ts"
import { type Delivery, EventBus, layerMemory, topicMatches } from "../src/bus.ts"
import { tcpProxy } from "../src/testing.ts"

const amqpUrl = "amqp://guest:guest@127.0.0.1:5672"
const exchange = "kassa.events" // shared with every other test: routing keys and ids carry this run's id
const run = randomUUID()

const message = (routingKey: string, id: string, data: unknown = {}) => ({
  routingKey,
  messageId: id,
  body: JSON.stringify({ id, type: routingKey, data })
})

/** Collects deliveries into a queue until the scope closes. */
const collect = (bindingKeys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const bus = yield* EventBus
    const inbox = yield* Queue.unbounded<Delivery>()
    yield* bus.subscribe(bindingKeys, (delivery) => Queue.offer(inbox, delivery))
    return inbox
  })

// ---- topic matching: one table, checked on the function, the in-memory bus and RabbitMQ itself ------------

describe("topicMatches", () => {
  const cases: ReadonlyArray<readonly [string, string, boolean]> = [
    ["subscription.*", "subscription.created", true],
    ["subscription.*", "subscription", false],
    ["subscription.*", "subscription.renewed.late", false],
    ["subscription.*", "invoice.paid", false],
    ["#", "invoice.paid", true],
    ["#", "subscription", true],
    ["#", "a.b.c.d", true],
    ["invoice.paid", "invoice.paid", true],
    ["invoice.paid", "invoice.paid.extra", false],
    ["invoice.paid", "invoice.created", false],
    ["invoice.#", "invoice", true],
    ["invoice.#", "invoice.payment_failed", true],
    ["#.paid", "invoice.paid", true],
    ["#.paid", "paid", true],
    ["#.paid", "invoice.paid.extra", false],
    ["*.*", "invoice.paid", true],
    ["*.*", "invoice", false],
    ["catalog.#.archived", "catalog.product.archived", true],
    ["catalog.#.archived", "catalog.archived", true],
    ["catalog.*.archived", "catalog.archived", false]
  ]
  it("follows AMQP topic rules", () => {
    for (const [pattern, key, expected] of cases) {
      assert.strictEqual(topicMatches(pattern, key), expected, `${pattern} ~ ${key}`)
    }
  })
})

const routingSuite = (name: string, bus: Layer.Layer<EventBus>) =>
  layer(bus, { excludeTestServices: true })(name, (it) => {
    it.effect("routes by binding key: subscription.*, #, invoice.paid, #.paid, *.*", () =>
      Effect.gen(function*() {
        const p = `test.${run}.${name.replace(/\W/g, "")}` // a private corner of the shared exchange
        const keys = [
          "subscription.created",
          "subscription.renewed.late",
          "subscription",
          "invoice.paid",
          "invoice.paid.extra",
          "invoice.created",
          ""
        ] // "" = the prefix alone
        const expected: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
          ["subscription.*", ["subscription.created"]],
          ["#", keys],
          ["invoice.paid", ["invoice.paid"]],
          ["#.paid", ["invoice.paid"]],
          ["*.*", ["subscription.created", "invoice.paid", "invoice.created"]]
        ]
        const inboxes = yield* Effect.forEach(expected, ([pattern]) => collect([`${p}.${pattern}`, `${p}.done`]))
        const bus = yield* EventBus
        yield* bus.publish([
          ...keys.map((key) => message(key === "" ? p : `${p}.${key}`, `${run}:${key}`)),
          message(`${p}.done`, `${run}:done`)
        ])
        for (const [i, [pattern, keysExpected]] of expected.entries()) {
          const received: Array<string> = []
          for (;;) {
            const delivery = yield* Queue.take(inboxes[i]!)
            if (delivery.messageId === `${run}:done`) break
            received.push(delivery.messageId.slice(run.length + 1))
          }
          assert.deepStrictEqual(received, keysExpected, pattern) // in publish order
        }
      }), 15_000)
  })

routingSuite("in-memory bus", layerMemory)
routingSuite("RabbitMQ", layerAmqp(amqpUrl, exchange))

// ---- RabbitMQ specifics ----------------------------------------------------------------------------------------

/** A plain amqplib consumer, independent of the code under test. */
const rawConsumer = (bindingKey: string) =>
  Effect.gen(function*() {
    const connection = yield* Effect.acquireRelease(
      Effect.promise(() => amqp.connect(amqpUrl)),
      (c) => Effect.promise(() => c.close().catch(() => {}))
    )
    const channel = yield* Effect.promise(() => connection.createChannel())
    yield* Effect.promise(() => channel.assertExchange(exchange, "topic", { durable: true }))
    const { queue } = yield* Effect.promise(() => channel.assertQueue("", { exclusive: true, autoDelete: true }))
    yield* Effect.promise(() => channel.bindQueue(queue, exchange, bindingKey))
    const inbox = yield* Queue.unbounded<amqp.ConsumeMessage>()
    yield* Effect.promise(() => channel.consume(queue, (m) => m && Queue.offerUnsafe(inbox, m), { noAck: true }))
    return inbox
  })

layer(layerAmqp(amqpUrl, exchange), { excludeTestServices: true })("RabbitMQ publishing", (it) => {
  it.effect(
    "delivers confirmed messages: persistent, JSON, messageId = event id, type = routing key, in order",
    () =>
      Effect.gen(function*() {
        const inbox = yield* rawConsumer(`test.${run}.raw.*`)
        const bus = yield* EventBus
        const ids = [randomUUID(), randomUUID(), randomUUID()]
        yield* bus.publish(ids.map((id, i) => message(`test.${run}.raw.event${i}`, id, { n: i })))
        for (const [i, id] of ids.entries()) {
          const m = yield* Queue.take(inbox)
          assert.strictEqual(m.properties.messageId, id)
          assert.strictEqual(m.properties.deliveryMode, 2)
          assert.strictEqual(m.properties.contentType, "application/json")
          assert.strictEqual(m.properties.type, `test.${run}.raw.event${i}`)
          assert.strictEqual(m.fields.routingKey, `test.${run}.raw.event${i}`)
          assert.deepStrictEqual(JSON.parse(m.content.toString("utf8")), {
            id,
            type: `test.${run}.raw.event${i}`,
            data: { n: i }
          })
        }
        yield* bus.publish([]) // nothing to confirm
      }),
    15_000
  )

  it.effect("subscribe: deliveries carry the message's properties", () =>
    Effect.gen(function*() {
      const inbox = yield* collect([`test.${run}.sub.#`])
      const bus = yield* EventBus
      yield* bus.publish([message(`test.${run}.sub.created`, "sub-1", { a: 1 })])
      const delivery = yield* Queue.take(inbox)
      assert.deepStrictEqual(delivery, {
        routingKey: `test.${run}.sub.created`,
        messageId: "sub-1",
        body: JSON.stringify({ id: "sub-1", type: `test.${run}.sub.created`, data: { a: 1 } }),
        contentType: "application/json",
        persistent: true,
        redelivered: false
      })
      yield* bus.ping
    }), 15_000)

  it.effect("a handler that keeps failing does not stop the subscription", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const inbox = yield* Queue.unbounded<string>()
      yield* bus.subscribe(
        [`test.${run}.poison.*`],
        (d) => d.messageId === "poison" ? Effect.fail("cannot handle") : Queue.offer(inbox, d.messageId)
      )
      yield* bus.publish([message(`test.${run}.poison.a`, "poison"), message(`test.${run}.poison.b`, "fine")])
      assert.strictEqual(yield* Queue.take(inbox), "fine")
    }), 15_000)
})

// ---- broker outages ------------------------------------------------------------------------------------------

const eventually = <A, E>(effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.retry({ schedule: Schedule.spaced("200 millis"), times: 50 }))

describe("RabbitMQ unreachable", () => {
  it.live("the layer builds; publish and ping fail with BusError", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      assert.strictEqual((yield* Effect.flip(bus.publish([message("test.x", "x")])))._tag, "BusError")
      assert.strictEqual((yield* Effect.flip(bus.ping))._tag, "BusError")
    }).pipe(Effect.provide(layerAmqp("amqp://guest:guest@127.0.0.1:1", exchange))), 10_000)

  it.live(
    "started while the broker is down, then publishing and subscriptions recover after an outage",
    () =>
      Effect.gen(function*() {
        const proxy = yield* tcpProxy(5672)
        const port = yield* proxy.start(0)
        yield* proxy.cut
        const context = yield* Layer.build(layerAmqp(`amqp://guest:guest@127.0.0.1:${port}`, exchange))
        const bus = Context.get(context, EventBus)
        const direct = Context.get(yield* Layer.build(layerAmqp(amqpUrl, exchange)), EventBus)
        const key = `test.${run}.outage.event`
        assert.strictEqual((yield* Effect.flip(bus.publish([message(key, "down")])))._tag, "BusError")

        yield* proxy.start(port)
        yield* eventually(bus.publish([message(key, "up")]))
        const inbox = yield* Queue.unbounded<string>()
        yield* bus.subscribe([key], (d) => Queue.offer(inbox, d.messageId)) // through the proxy
        yield* direct.publish([message(key, "before-outage")])
        assert.strictEqual(yield* Queue.take(inbox), "before-outage")

        yield* proxy.cut
        yield* proxy.start(port)
        yield* eventually(bus.publish([message(key, "after-outage")])) // a fresh connection for the publisher
        // the subscription reconnects in the background with a new private queue: publish until it hears one
        const heard = yield* Effect.forkChild(
          Queue.take(inbox).pipe(Effect.repeat({ until: (id) => id === "after-reconnect" }))
        )
        const publisher = yield* Effect.forkChild(
          direct.publish([message(key, "after-reconnect")]).pipe(Effect.repeat(Schedule.spaced("200 millis")))
        )
        assert.strictEqual(yield* Fiber.join(heard), "after-reconnect")
        yield* Fiber.interrupt(publisher)
      }),
    30_000
  )
})
