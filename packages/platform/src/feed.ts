// The invalidation feed: how a process learns, within moments, that something it keeps in memory changed in
// another process (a revoked token, an entitlement that moved). Announcements go over a Cache pub/sub channel,
// which is fire-and-forget, so each process also publishes heartbeats on it and trusts its memory only while its own
// heartbeats come back: after a gap (Redis down, the subscriber reconnecting) announcements may have been lost, and
// `onGap` drops what was kept. An announcement also writes a marker (a key with a TTL) that readers who cannot trust
// their memory consult; a marker that cannot be written now is retried in the background until its TTL has passed.
import { randomUUID } from "node:crypto"
import { Clock, Duration, Effect, Option, Schedule, Schema, type Scope, Stream } from "effect"
import { backoff } from "./backoff.ts"
import { Cache } from "./kv.ts"

export interface InvalidationFeed<A> {
  /** Whether this process's own heartbeats come back in time: only then is what it keeps in memory trusted. */
  isFresh(now: number): boolean
  /**
   * Writes the marker and announces `message` to every process (this one included); returns once both are done or,
   * failing that, once a retry is running in the background (until the marker's TTL). Apply the change to this
   * process's memory before calling, so it answers correctly at once.
   */
  announce(
    message: A,
    marker: { readonly key: string; readonly value: string; readonly ttl: Duration.Input }
  ): Effect.Effect<void>
}

const Heartbeat = Schema.Struct({ kind: Schema.Literal("heartbeat"), id: Schema.String })

export const makeInvalidationFeed = <A extends { readonly kind: string }, I>(options: {
  /** what is announced, for logs ("revocation", "entitlement invalidation") */
  readonly name: string
  readonly channel: string
  /** the announcements (never of kind "heartbeat") */
  readonly message: Schema.Codec<A, I>
  readonly heartbeatEvery: Duration.Input
  /** a feed that has not echoed a heartbeat for this long may have lost announcements */
  readonly staleAfter: Duration.Input
  /** an announcement arrived (another process's, or this one's own) */
  readonly onMessage: (message: A, now: number) => void
  /** the feed is back after a gap (or starting): drop what was kept, it may have missed announcements */
  readonly onGap: (now: number) => void
  /** this process's heartbeat came back: a moment to prune what has expired */
  readonly onHeartbeat?: (now: number) => void
}): Effect.Effect<InvalidationFeed<A>, never, Cache | Scope.Scope> =>
  Effect.gen(function*() {
    const cache = yield* Cache
    const nodeId = randomUUID()
    const staleAfter = Duration.toMillis(Duration.fromInputUnsafe(options.staleAfter))
    const decode = Schema.decodeUnknownOption(Schema.fromJsonString(Schema.Union([Heartbeat, options.message])))
    const encode = Schema.encodeSync(Schema.fromJsonString(options.message))
    let freshUntil = 0

    const onFeed = (raw: string) =>
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.sync(() => {
          const decoded = decode(raw)
          if (Option.isNone(decoded)) return
          const message = decoded.value
          if (Schema.is(Heartbeat)(message)) {
            if (message.id !== nodeId) return
            if (now >= freshUntil) {
              options.onGap(now)
            }
            freshUntil = now + staleAfter
            options.onHeartbeat?.(now)
            return
          }
          options.onMessage(message as A, now)
        }))

    // reported once per outage: the Cache layer reports the connection itself
    let failing = false
    yield* cache.subscribe(options.channel).pipe(
      Stream.tap(() => Effect.sync(() => (failing = false))),
      Stream.runForEach(onFeed),
      Effect.tapError((error) =>
        failing ? Effect.void : Effect.andThen(
          Effect.sync(() => (failing = true)),
          Effect.logWarning(`${options.name} feed unavailable; memory is not trusted until it returns`).pipe(
            Effect.annotateLogs({ error: error.message })
          )
        )
      ),
      Effect.retry(backoff({ base: "100 millis", cap: "2 seconds" })),
      Effect.forkScoped
    )
    yield* cache.publish(options.channel, JSON.stringify({ kind: "heartbeat", id: nodeId })).pipe(
      Effect.ignore,
      Effect.repeat(Schedule.spaced(options.heartbeatEvery)),
      Effect.forkScoped
    )

    const announce: InvalidationFeed<A>["announce"] = (message, marker) => {
      const write = Effect.andThen(
        cache.set(marker.key, marker.value, marker.ttl),
        cache.publish(options.channel, encode(message))
      )
      return Effect.gen(function*() {
        const first = yield* Effect.result(write)
        if (first._tag === "Success") return
        yield* Effect.logWarning(`${options.name} not recorded in the cache; retrying in the background`).pipe(
          Effect.annotateLogs({ kind: message.kind, error: first.failure.message })
        )
        yield* write.pipe(
          Effect.retry(backoff({ base: "200 millis", cap: "5 seconds" }).pipe(Schedule.upTo({ duration: marker.ttl }))),
          Effect.catch((error) => Effect.logError(`${options.name} could not be recorded in the cache`, error)),
          Effect.forkDetach
        )
      })
    }

    return { isFresh: (now) => now < freshUntil, announce }
  })
