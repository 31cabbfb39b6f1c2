import { randomUUID } from "node:crypto"
import { type AddressInfo, createServer } from "node:net"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Schedule, type Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import { Cache, layerMemory, layerRedis } from "../src/kv.ts"
import { tcpProxy } from "../src/testing.ts"

const redisUrl = "redis://127.0.0.1:6379"
const run = randomUUID() // keys and channels of this run; the Redis server is shared

interface Harness {
  readonly test: typeof it.effect
  /** Lets `ms` milliseconds pass for the store's clock. */
  readonly advance: (ms: number) => Effect.Effect<void>
  /** Runs with the real clock (pub/sub waits for real messages). */
  readonly live: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
}

// publishes until the subscriber has one message: a subscription registers asynchronously
const roundTrip = (cache: Cache["Service"], channel: string, message: string) =>
  Effect.gen(function*() {
    const received = yield* Effect.forkChild(cache.subscribe(channel).pipe(Stream.take(1), Stream.runCollect))
    const publisher = yield* Effect.forkChild(
      cache.publish(channel, message).pipe(Effect.repeat(Schedule.spaced("50 millis")))
    )
    const messages = yield* Fiber.join(received)
    yield* Fiber.interrupt(publisher)
    return messages
  })

const cacheSuite = (name: string, store: Layer.Layer<Cache>, h: Harness) =>
  describe(name, () => {
    const key = (k: string) => `kv-test:${run}:${name}:${k}`
    const test = (title: string, body: (cache: Cache["Service"]) => Effect.Effect<void, unknown, Scope.Scope>) =>
      h.test(title, () => Cache.use(body).pipe(Effect.provide(store)), 10_000)

    test("get, set and del", (cache) =>
      Effect.gen(function*() {
        assert.isTrue(Option.isNone(yield* cache.get(key("a"))))
        yield* cache.set(key("a"), "1", "1 minute")
        yield* cache.set(key("b"), "2", "1 minute")
        assert.deepStrictEqual(yield* cache.get(key("a")), Option.some("1"))
        yield* cache.set(key("a"), "3", "1 minute")
        assert.deepStrictEqual(yield* cache.get(key("a")), Option.some("3"))
        assert.strictEqual(yield* cache.del(key("a"), key("b"), key("missing")), 2)
        assert.isTrue(Option.isNone(yield* cache.get(key("a"))))
        assert.strictEqual(yield* cache.del(), 0)
      }))

    test("getMany answers each key in order, in one call; expired and missing keys are None", (cache) =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* cache.getMany([]), [])
        yield* cache.set(key("m1"), "1", "1 minute")
        yield* cache.set(key("m2"), "2", "1 minute")
        yield* cache.set(key("m3"), "3", "200 millis")
        yield* h.advance(400)
        assert.deepStrictEqual(
          yield* cache.getMany([key("m2"), key("missing"), key("m1"), key("m3"), key("m2")]),
          [Option.some("2"), Option.none(), Option.some("1"), Option.none(), Option.some("2")]
        )
      }))

    test("a value expires after its TTL", (cache) =>
      Effect.gen(function*() {
        yield* cache.set(key("short"), "v", "200 millis")
        const ttl = yield* cache.ttl(key("short"))
        assert.isTrue(Option.isSome(ttl) && ttl.value > 0 && ttl.value <= 200)
        assert.deepStrictEqual(yield* cache.get(key("short")), Option.some("v"))
        yield* h.advance(400)
        assert.isTrue(Option.isNone(yield* cache.get(key("short"))))
        assert.isTrue(Option.isNone(yield* cache.ttl(key("short"))))
      }))

    test("setIfAbsent stores only the first value until it expires", (cache) =>
      Effect.gen(function*() {
        assert.isTrue(yield* cache.setIfAbsent(key("lock"), "first", "200 millis"))
        assert.isFalse(yield* cache.setIfAbsent(key("lock"), "second", "200 millis"))
        assert.deepStrictEqual(yield* cache.get(key("lock")), Option.some("first"))
        yield* h.advance(400)
        assert.isTrue(yield* cache.setIfAbsent(key("lock"), "third", "1 minute"))
        assert.deepStrictEqual(yield* cache.get(key("lock")), Option.some("third"))
      }))

    test("incrWithTtl counts within a window that the first hit opens", (cache) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* cache.incrWithTtl(key("hits"), "300 millis"), 1)
        yield* h.advance(100)
        assert.strictEqual(yield* cache.incrWithTtl(key("hits"), "300 millis"), 2)
        assert.strictEqual(yield* cache.incrWithTtl(key("hits"), "300 millis"), 3)
        // later hits do not extend the window
        const ttl = yield* cache.ttl(key("hits"))
        assert.isTrue(Option.isSome(ttl) && ttl.value <= 200)
        yield* h.advance(400)
        assert.strictEqual(yield* cache.incrWithTtl(key("hits"), "300 millis"), 1)

        yield* cache.set(key("text"), "abc", "1 minute")
        const error = yield* Effect.flip(cache.incrWithTtl(key("text"), "1 minute"))
        assert.strictEqual(error._tag, "CacheError")
      }))

    test("pub/sub round trip, per channel", (cache) =>
      h.live(Effect.gen(function*() {
        const both = yield* Effect.all([
          roundTrip(cache, `kv-test:${run}:${name}:one`, "invalidate:1"),
          roundTrip(cache, `kv-test:${run}:${name}:two`, "invalidate:2")
        ], { concurrency: "unbounded" })
        assert.deepStrictEqual(both.map((messages) => [...messages]), [["invalidate:1"], ["invalidate:2"]])
      })))

    test("ping", (cache) => cache.ping)
  })

cacheSuite("in-memory store", layerMemory, {
  test: it.effect,
  advance: (ms) => TestClock.adjust(ms),
  live: TestClock.withLive
})
cacheSuite("Redis", layerRedis(redisUrl), {
  test: it.live,
  advance: (ms) => Effect.sleep(ms),
  live: (effect) => effect
})

describe("Redis key prefix", () => {
  it.live(
    "caches under different prefixes share no key and no channel; one prefix is one namespace",
    () =>
      Effect.gen(function*() {
        const cacheWith = (keyPrefix: string) =>
          Layer.build(layerRedis(redisUrl, { keyPrefix })).pipe(Effect.map((context) => Context.get(context, Cache)))
        const [a, alsoA, b] = [
          yield* cacheWith(`${run}:a:`),
          yield* cacheWith(`${run}:a:`),
          yield* cacheWith(`${run}:b:`)
        ]
        yield* a.set("k", "from a", "1 minute")
        assert.deepStrictEqual(yield* alsoA.get("k"), Option.some("from a"))
        assert.deepStrictEqual(yield* b.getMany(["k"]), [Option.none()])
        assert.strictEqual(yield* b.incrWithTtl("k", "1 minute"), 1)
        assert.deepStrictEqual(yield* a.get("k"), Option.some("from a"))
        assert.strictEqual(yield* b.del("k"), 1)
        assert.deepStrictEqual(yield* a.get("k"), Option.some("from a"))

        const seenByB = yield* b.subscribe("c").pipe(Stream.take(1), Stream.runCollect, Effect.forkScoped)
        const seenByA = yield* alsoA.subscribe("c").pipe(Stream.take(1), Stream.runCollect, Effect.forkScoped)
        // publishes until A's subscriber has it (a subscription registers asynchronously); B's must still be waiting
        yield* a.publish("c", "to a").pipe(
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: () => seenByA.pollUnsafe() !== undefined })
        )
        assert.deepStrictEqual(yield* Fiber.join(seenByA), ["to a"])
        assert.isUndefined(seenByB.pollUnsafe())
        yield* b.publish("c", "to b").pipe(
          Effect.repeat({ schedule: Schedule.spaced("50 millis"), until: () => seenByB.pollUnsafe() !== undefined })
        )
        assert.deepStrictEqual(yield* Fiber.join(seenByB), ["to b"])
      }),
    10_000
  )
})

describe("in-memory store bounds", () => {
  it.effect("keeps at most 100,000 entries, dropping the oldest written", () =>
    Effect.gen(function*() {
      const cache = yield* Cache
      for (let i = 0; i <= 100_000; i++) yield* cache.set(`k${i}`, "v", "1 hour")
      assert.isTrue(Option.isNone(yield* cache.get("k0")))
      assert.deepStrictEqual(yield* cache.get("k1"), Option.some("v"))
      assert.deepStrictEqual(yield* cache.get("k100000"), Option.some("v"))
    }).pipe(Effect.provide(layerMemory)), 30_000)
})

// ---- Redis outages ----------------------------------------------------------------------------------------

const eventually = <A, E>(effect: Effect.Effect<A, E>) =>
  effect.pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 100 }))

describe("Redis unreachable", () => {
  it.live("the layer builds and commands fail with CacheError", () =>
    Effect.gen(function*() {
      const cache = yield* Cache
      for (const command of [
        cache.get("k"),
        cache.getMany(["k", "l"]),
        cache.set("k", "v", "1 second"),
        cache.incrWithTtl("k", "1 second"),
        cache.ping
      ]) {
        const error = yield* Effect.flip(command)
        assert.strictEqual(error._tag, "CacheError")
      }
      const subscription = yield* Effect.flip(Stream.runDrain(cache.subscribe("c")))
      assert.strictEqual(subscription._tag, "CacheError")
    }).pipe(Effect.provide(layerRedis("redis://127.0.0.1:1", { commandTimeout: "500 millis" }))), 5_000)

  it.live(
    "a server that accepts but never answers: the layer builds and get fails with CacheError",
    () =>
      Effect.gen(function*() {
        const silent = createServer(() => {})
        const port = yield* Effect.callback<number>((resume) => {
          silent.listen(0, "127.0.0.1", () => resume(Effect.succeed((silent.address() as AddressInfo).port)))
        })
        yield* Effect.addFinalizer(() => Effect.sync(() => silent.close()))
        const error = yield* Cache.use((cache) => Effect.flip(cache.get("k"))).pipe(
          Effect.provide(layerRedis(`redis://127.0.0.1:${port}`, { commandTimeout: "300 millis" }))
        )
        assert.strictEqual(error._tag, "CacheError")
      }),
    10_000
  )

  it.live(
    "started while Redis is down, it serves once Redis is reachable; an outage fails commands until it ends",
    () =>
      Effect.gen(function*() {
        const proxy = yield* tcpProxy(6379)
        const port = yield* proxy.start(0)
        yield* proxy.cut // Redis "down" before the cache starts
        const cache = yield* Layer.build(layerRedis(`redis://127.0.0.1:${port}`)).pipe(
          Effect.map((context) => Context.get(context, Cache))
        )
        const k = `kv-test:${run}:outage`
        assert.strictEqual((yield* Effect.flip(cache.get(k)))._tag, "CacheError")

        yield* proxy.start(port)
        yield* eventually(cache.set(k, "up", "1 minute"))
        assert.deepStrictEqual(yield* cache.get(k), Option.some("up"))

        yield* proxy.cut
        assert.strictEqual((yield* eventually(Effect.flip(cache.get(k))))._tag, "CacheError")

        yield* proxy.start(port)
        assert.deepStrictEqual(yield* eventually(cache.get(k)), Option.some("up"))
        yield* cache.del(k)
      }),
    20_000
  )
})
