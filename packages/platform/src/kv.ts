// The cache store: Redis when REDIS_URL is set, else an in-process map. A cache only: losing it loses no data,
// so every command fails fast with a typed CacheError (callers treat it as a miss) instead of waiting for Redis.
import {
  Clock,
  type Config,
  Context,
  Duration,
  Effect,
  Layer,
  Option,
  PubSub,
  Queue,
  Redacted,
  Schema,
  Stream
} from "effect"
import { Redis as IORedis } from "ioredis"
import { RedisConfig } from "./config.ts"
import { LRUCache } from "lru-cache"
import { backoffMillis } from "./backoff.ts"

export class CacheError extends Schema.TaggedError<CacheError>()("CacheError", {
  message: Schema.String,
  cause: Schema.optionalKey(Schema.Defect())
}) {}

export class Cache extends Context.Service<Cache, {
  get(key: string): Effect.Effect<Option.Option<string>, CacheError>
  /** MGET: the values of the keys, in order, in one round trip (on Redis Cluster the keys must share a slot). */
  getMany(keys: ReadonlyArray<string>): Effect.Effect<ReadonlyArray<Option.Option<string>>, CacheError>
  set(key: string, value: string, ttl: Duration.Input): Effect.Effect<void, CacheError>
  /** SET NX PX: true when this call stored the value, false when the key already existed. */
  setIfAbsent(key: string, value: string, ttl: Duration.Input): Effect.Effect<boolean, CacheError>
  /** Returns how many of the keys existed. */
  del(...keys: ReadonlyArray<string>): Effect.Effect<number, CacheError>
  /** INCR; the first hit of a window also sets its expiry (fixed-window rate limits). */
  incrWithTtl(key: string, ttl: Duration.Input): Effect.Effect<number, CacheError>
  /** Remaining time to live in milliseconds; None when the key does not exist (or has no expiry). */
  ttl(key: string): Effect.Effect<Option.Option<number>, CacheError>
  publish(channel: string, message: string): Effect.Effect<void, CacheError>
  /**
   * Messages published on `channel` from the moment the subscription is registered (fire and forget: messages
   * sent while a Redis subscriber is disconnected are lost, so pair invalidation messages with TTLs).
   */
  subscribe(channel: string): Stream.Stream<string, CacheError>
  readonly ping: Effect.Effect<void, CacheError>
}>()("kassa/Cache") {}

// Entries always expire: a cache entry that lives forever is a bug, so a non-finite TTL is a defect.
const ttlMillis = (ttl: Duration.Input): Effect.Effect<number> => {
  const duration = Duration.fromInputUnsafe(ttl)
  return Duration.isFinite(duration)
    ? Effect.succeed(Math.max(1, Math.ceil(Duration.toMillis(duration))))
    : Effect.die(new Error("cache TTL must be finite"))
}

const messageOf = (cause: unknown) => cause instanceof Error ? cause.message : String(cause)

// ---- Redis -------------------------------------------------------------------------------------------------

export interface RedisOptions {
  /** Bound on every command, including the wait for a reply from a Redis that accepts but does not answer. */
  readonly commandTimeout?: Duration.Input
  /** Put before every key and channel, so deployments (or test files) sharing one Redis never see each other's. */
  readonly keyPrefix?: string
}

const defaultCommandTimeout = Duration.millis(500)
// how long the layer waits for the first connection before starting anyway
const initialConnectWait = Duration.seconds(2)

// INCR and the first hit's PEXPIRE in one atomic step, so a crash between them cannot leave a counter without expiry
const incrWithTtlScript = `local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`

/**
 * One ioredis connection in the current scope. It never fails to open: while Redis is unreachable, ioredis keeps
 * reconnecting in the background (bounded, jittered backoff) and commands fail at once (no offline queue).
 */
const openConnection = (url: string, role: string) =>
  Effect.gen(function*() {
    const runLog = Effect.runForkWith(yield* Effect.context<never>())
    const client = yield* Effect.acquireRelease(
      Effect.sync(() =>
        new IORedis(url, {
          lazyConnect: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: Duration.toMillis(initialConnectWait),
          retryStrategy: (times) => backoffMillis(times, { base: "50 millis", cap: "2 seconds" }, Math.random())
        })
      ),
      (client) =>
        Effect.tryPromise(() => client.quit()).pipe(
          Effect.timeout("1 second"),
          Effect.catch(() => Effect.sync(() => client.disconnect()))
        )
    )
    // ioredis emits "error" on every failed reconnect attempt: report the outage once, and the recovery
    let down = false
    client.on("error", (error: Error) => {
      if (down) return
      down = true
      runLog(
        Effect.logWarning("Redis unreachable; cache commands fail until it returns").pipe(
          Effect.annotateLogs({ role, error: error.message })
        )
      )
    })
    client.on("ready", () => {
      if (!down) return
      down = false
      runLog(Effect.logInfo("Redis reachable again").pipe(Effect.annotateLogs({ role })))
    })
    yield* Effect.tryPromise({ try: () => client.connect(), catch: messageOf }).pipe(
      Effect.timeoutOrElse({ duration: initialConnectWait, orElse: () => Effect.fail("no answer to the handshake") }),
      Effect.catch((error) => {
        if (down) return Effect.void // the "error" listener has reported it
        down = true
        return Effect.logWarning("Redis unreachable at start; cache commands fail until it returns").pipe(
          Effect.annotateLogs({ role, error })
        )
      })
    )
    return client
  })

/** A Cache on Redis; the layer starts even when Redis is down. */
export const layerRedis = (
  url: Redacted.Redacted<string> | string,
  options?: RedisOptions
): Layer.Layer<Cache> =>
  Layer.effect(
    Cache,
    Effect.gen(function*() {
      const address = typeof url === "string" ? url : Redacted.value(url)
      const commandTimeout = Duration.fromInputUnsafe(options?.commandTimeout ?? defaultCommandTimeout)
      const prefix = options?.keyPrefix ?? ""
      const k = (key: string) => prefix + key
      const client = yield* openConnection(address, "commands")

      const command = <A>(name: string, f: (client: IORedis) => Promise<A>): Effect.Effect<A, CacheError> =>
        Effect.tryPromise({
          try: () => f(client),
          catch: (cause) => new CacheError({ message: `Redis ${name} failed: ${messageOf(cause)}`, cause })
        }).pipe(
          Effect.timeoutOrElse({
            duration: commandTimeout,
            orElse: () =>
              Effect.fail(
                new CacheError({ message: `Redis ${name} timed out after ${Duration.format(commandTimeout)}` })
              )
          })
        )

      const subscribe = (name: string) => {
        const channel = k(name)
        return Stream.callback<string, CacheError>((queue) =>
          Effect.gen(function*() {
            // SUBSCRIBE puts a connection in subscriber mode, so each subscription has its own
            const subscriber = yield* openConnection(address, "subscriber")
            subscriber.on("message", (from: string, message: string) => {
              if (from === channel) Queue.offerUnsafe(queue, message)
            })
            yield* Effect.tryPromise({
              try: () => subscriber.subscribe(channel),
              catch: (cause) => new CacheError({ message: `Redis SUBSCRIBE failed: ${messageOf(cause)}`, cause })
            }).pipe(
              Effect.timeoutOrElse({
                duration: commandTimeout,
                orElse: () => Effect.fail(new CacheError({ message: "Redis SUBSCRIBE timed out" }))
              })
            )
          })
        )
      }

      return Cache.of({
        get: (key) => command("GET", (c) => c.get(k(key))).pipe(Effect.map(Option.fromNullishOr)),
        getMany: (keys) =>
          keys.length === 0
            ? Effect.succeed([])
            : command("MGET", (c) => c.mget(...keys.map(k))).pipe(
              Effect.map((values) => values.map(Option.fromNullishOr))
            ),
        set: (key, value, ttl) =>
          Effect.flatMap(ttlMillis(ttl), (ms) => command("SET", (c) => c.set(k(key), value, "PX", ms))).pipe(
            Effect.asVoid
          ),
        setIfAbsent: (key, value, ttl) =>
          Effect.flatMap(ttlMillis(ttl), (ms) => command("SET NX", (c) => c.set(k(key), value, "PX", ms, "NX"))).pipe(
            Effect.map((reply) => reply === "OK")
          ),
        del: (...keys) => keys.length === 0 ? Effect.succeed(0) : command("DEL", (c) => c.del(...keys.map(k))),
        incrWithTtl: (key, ttl) =>
          Effect.flatMap(ttlMillis(ttl), (ms) => command("INCR", (c) => c.eval(incrWithTtlScript, 1, k(key), ms))).pipe(
            Effect.map(Number)
          ),
        ttl: (key) =>
          command("PTTL", (c) => c.pttl(k(key))).pipe(Effect.map((ms) => ms >= 0 ? Option.some(ms) : Option.none())),
        publish: (channel, message) => command("PUBLISH", (c) => c.publish(k(channel), message)).pipe(Effect.asVoid),
        subscribe,
        ping: command("PING", (c) => c.ping()).pipe(Effect.asVoid)
      })
    })
  )

// ---- in-process ----------------------------------------------------------------------------------------------

interface Entry {
  readonly value: string
  readonly expiresAt: number
}

// Expired entries are dropped when read; past this many entries the least recently used go first.
const memoryMaxEntries = 100_000

const makeMemory = Effect.gen(function*() {
  const entries = new LRUCache<string, Entry>({ max: memoryMaxEntries })
  const messages = yield* PubSub.unbounded<{ readonly channel: string; readonly message: string }>()

  const live = (key: string, now: number): Entry | undefined => {
    const entry = entries.get(key)
    if (entry === undefined || entry.expiresAt > now) return entry
    entries.delete(key)
    return undefined
  }
  const write = (key: string, entry: Entry) => entries.set(key, entry)
  // read the clock per call so TestClock drives expiry in tests
  const withNow = <A>(f: (now: number) => A) => Effect.map(Clock.currentTimeMillis, f)

  return Cache.of({
    get: (key) => withNow((now) => Option.fromNullishOr(live(key, now)?.value)),
    getMany: (keys) => withNow((now) => keys.map((key) => Option.fromNullishOr(live(key, now)?.value))),
    set: (key, value, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) => withNow((now) => write(key, { value, expiresAt: now + ms }))),
    setIfAbsent: (key, value, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) =>
        withNow((now) => {
          if (live(key, now) !== undefined) return false
          write(key, { value, expiresAt: now + ms })
          return true
        })),
    del: (...keys) => Effect.sync(() => keys.filter((key) => entries.delete(key)).length),
    incrWithTtl: (key, ttl) =>
      Effect.flatMap(ttlMillis(ttl), (ms) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) => {
          const entry = live(key, now)
          if (entry === undefined) {
            write(key, { value: "1", expiresAt: now + ms })
            return Effect.succeed(1)
          }
          if (!/^-?\d+$/.test(entry.value)) {
            return Effect.fail(new CacheError({ message: "ERR value is not an integer or out of range" }))
          }
          const next = Number(entry.value) + 1
          write(key, { value: String(next), expiresAt: entry.expiresAt })
          return Effect.succeed(next)
        })),
    ttl: (key) => withNow((now) => Option.map(Option.fromNullishOr(live(key, now)), (entry) => entry.expiresAt - now)),
    publish: (channel, message) => PubSub.publish(messages, { channel, message }).pipe(Effect.asVoid),
    subscribe: (channel) =>
      Stream.fromPubSub(messages).pipe(
        Stream.filter((m) => m.channel === channel),
        Stream.map((m) => m.message)
      ),
    ping: Effect.void
  })
})

/** The in-process store (one per layer build): same commands and TTL semantics, time from Effect's Clock. */
export const layerMemory: Layer.Layer<Cache> = Layer.effect(Cache, makeMemory)

/** REDIS_URL set → Redis; unset → the in-process store. */
export const CacheLive: Layer.Layer<Cache, Config.ConfigError> = Layer.unwrap(
  Effect.map(RedisConfig, (config) =>
    Option.match(config.url, {
      onSome: (url) => layerRedis(url, { commandTimeout: config.commandTimeout, keyPrefix: config.keyPrefix }),
      onNone: () =>
        Layer.effectDiscard(Effect.logInfo("REDIS_URL not set: using the in-process cache")).pipe(
          Layer.provideMerge(layerMemory)
        )
    }))
)
