// Entitlement answers in two tiers: an in-process LRU in front of Redis, in front of the read model. An entry holds
// a pair's grants, not a yes/no, and is evaluated against the Clock at read time, so an `until` passing needs no
// invalidation; a change that can flip an answer does.
//
// Invalidation by versions. Redis: entries live under `entitlement:<membership version>:<user version>:…`; a change
// writes a fresh user version (the ETL a fresh membership version) after its transaction commits and before its
// request returns, so a reader that saw the old version read the database before the commit or stored its answer
// under a key nobody reads any more. In-process: every entry carries the stamp taken before its load; a change bumps
// the user's (or the global) stamp here at once and on the other replicas through the invalidation feed
// (@kassa/platform/feed). Like the token verifier, a replica whose feed has lost its heartbeat trusts no in-process
// entry (announcements may have been lost) except as the last resort when Redis and Postgres both fail.
import type { FilmId, UserId } from "@kassa/domain/ids"
import { EntitlementConfig } from "../config.ts"
import { makeInvalidationFeed } from "@kassa/platform/feed"
import { Cache } from "@kassa/platform/kv"
import { LRUCache } from "lru-cache"
import { randomUUID } from "node:crypto"
import { type Cause, Clock, Context, Deferred, Duration, Effect, Layer, Option, Schema } from "effect"
import { EntitlementsRepo, type Grant, type RepoError } from "./repo.ts"

const channel = "entitlements:changes"
const pairKey = (userId: string, filmId: string) => `${userId}\u0000${filmId}`
const membershipVersionKey = "entitlement-version:membership"
const userVersionKey = (userId: string) => `entitlement-version:user:${userId}`
const heartbeatEvery = Duration.millis(300)
const feedStaleAfter = 1_000
// a database that accepts connections but does not answer must not hold a request
const databaseTimeout = Duration.seconds(2)

type LoadError = RepoError | Cause.TimeoutError

const FeedMessage = Schema.Union([
  Schema.Struct({ kind: Schema.Literal("user"), id: Schema.String }),
  Schema.Struct({ kind: Schema.Literal("membership") })
])
type FeedMessage = typeof FeedMessage.Type
const Grants = Schema.Array(Schema.Tuple([Schema.String, Schema.Number]))
const decodeGrants = Schema.decodeUnknownOption(Schema.fromJsonString(Grants))

interface LocalEntry {
  readonly grants: ReadonlyArray<Grant>
  readonly stamp: number
  readonly expiresAt: number
}

export interface Pair {
  readonly userId: UserId
  readonly filmId: FilmId
}

export class EntitlementCache extends Context.Service<EntitlementCache, {
  /** The grants of each pair, in order; fails only when no tier can answer. */
  grants(pairs: ReadonlyArray<Pair>): Effect.Effect<ReadonlyArray<ReadonlyArray<Grant>>, LoadError>
  /** The in-process tier alone, synchronously (hot paths): undefined unless a trusted entry holds the pair. */
  peek(userId: UserId, filmId: FilmId, now: number): ReadonlyArray<Grant> | undefined
  /** After a committed change of the user's entitlements; returns once this replica and Redis forgot them. */
  invalidateUser(userId: UserId): Effect.Effect<void>
  /** After a committed change of product↔film membership: every answer may have changed. */
  readonly invalidateMembership: Effect.Effect<void>
}>()("billing/EntitlementCache") {
  static readonly layer = Layer.effect(
    EntitlementCache,
    Effect.gen(function*() {
      const config = yield* EntitlementConfig
      const cache = yield* Cache
      const repo = yield* EntitlementsRepo
      const ttl = Duration.toMillis(config.cacheTtl)
      const negativeTtl = Duration.toMillis(config.negativeCacheTtl)
      // a version outlives every entry written under the previous one, so a lost version key cannot revive them
      const versionTtl = Duration.millis(2 * Math.max(ttl, negativeTtl))

      // least recently used dropped first
      const local = new LRUCache<string, LocalEntry>({ max: config.localCacheSize })
      const userStamps = new Map<string, number>()
      let counter = 0
      let membershipStamp = 0
      const inFlight = new Map<string, Deferred.Deferred<ReadonlyArray<Grant>, LoadError>>()

      const stampOf = (userId: string) => Math.max(userStamps.get(userId) ?? 0, membershipStamp)
      const forgetUser = (userId: string) => {
        userStamps.set(userId, ++counter)
        // bounded like the entries, but not by evicting: a dropped stamp would make stale entries look current, so
        // past the bound everything is forgotten (the cheap correct move)
        if (userStamps.size > config.localCacheSize) {
          userStamps.clear()
          local.clear()
          membershipStamp = ++counter
        }
      }
      const forgetMembership = () => {
        membershipStamp = ++counter
      }

      // a trusted read counts as a use; the last-resort read of an untrusted entry does not
      const localGet = (key: string, userId: string, now: number, trusted: boolean): LocalEntry | undefined => {
        const entry = trusted ? local.get(key) : local.peek(key)
        if (entry === undefined) return undefined
        if (entry.expiresAt <= now || entry.stamp < stampOf(userId)) {
          local.delete(key)
          return undefined
        }
        return entry
      }
      const localSet = (key: string, entry: LocalEntry) => local.set(key, entry)
      const entryTtl = (grants: ReadonlyArray<Grant>) => grants.length === 0 ? negativeTtl : ttl
      const redisKeyOf = (membership: Option.Option<string>, user: Option.Option<string>, key: string) =>
        `entitlement:${Option.getOrElse(membership, () => "0")}:${Option.getOrElse(user, () => "0")}:${key}`

      const feed = yield* makeInvalidationFeed({
        name: "entitlement invalidation",
        channel,
        message: FeedMessage,
        heartbeatEvery,
        staleAfter: feedStaleAfter,
        onMessage: (message) => message.kind === "user" ? forgetUser(message.id) : forgetMembership(),
        onGap: () => {
          local.clear()
          membershipStamp = ++counter
        }
      })

      /** Redis, then Postgres; the answer is written back to Redis (best effort). */
      const load = (pair: Pair): Effect.Effect<ReadonlyArray<Grant>, LoadError> =>
        Effect.gen(function*() {
          const versions = yield* Effect.all(
            [cache.get(membershipVersionKey), cache.get(userVersionKey(pair.userId))],
            {
              concurrency: "unbounded"
            }
          ).pipe(Effect.option)
          const redisKey = Option.map(
            versions,
            ([membership, user]) => redisKeyOf(membership, user, pairKey(pair.userId, pair.filmId))
          )
          if (Option.isSome(redisKey)) {
            const cached = yield* cache.get(redisKey.value).pipe(Effect.option, Effect.map(Option.flatten))
            const grants = Option.flatMap(cached, decodeGrants)
            if (Option.isSome(grants)) return grants.value as ReadonlyArray<Grant>
          }
          const loaded = yield* repo.grants(pair.userId, pair.filmId).pipe(Effect.timeout(databaseTimeout))
          if (Option.isSome(redisKey)) {
            // best effort and off the request's path: the key is versioned, so a late write is harmless
            yield* cache.set(redisKey.value, JSON.stringify(loaded), entryTtl(loaded)).pipe(
              Effect.ignore,
              Effect.forkDetach
            )
          }
          return loaded
        })

      /** One load per key and stamp at a time; later callers with the same stamp wait for it. */
      const loadShared = (pair: Pair, key: string, stamp: number) =>
        Effect.gen(function*() {
          const flightKey = `${key}\u0000${stampOf(pair.userId)}`
          const running = inFlight.get(flightKey)
          if (running !== undefined) return yield* Deferred.await(running)
          const deferred = yield* Deferred.make<ReadonlyArray<Grant>, LoadError>()
          inFlight.set(flightKey, deferred)
          // the leader finishes (its load is bounded) even if its caller goes away: others wait on it
          const exit = yield* Effect.uninterruptible(Effect.gen(function*() {
            const exit = yield* Effect.exit(load(pair))
            inFlight.delete(flightKey)
            yield* Deferred.done(deferred, exit)
            if (exit._tag === "Success") {
              const now = yield* Clock.currentTimeMillis
              localSet(key, { grants: exit.value, stamp, expiresAt: now + entryTtl(exit.value) })
            }
            return exit
          }))
          return yield* exit
        })

      const one = (pair: Pair): Effect.Effect<ReadonlyArray<Grant>, LoadError> =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const key = pairKey(pair.userId, pair.filmId)
          const trusted = feed.isFresh(now)
          if (trusted) {
            const hit = localGet(key, pair.userId, now, true)
            if (hit !== undefined) return hit.grants
          }
          const stamp = counter
          return yield* loadShared(pair, key, stamp).pipe(
            // Redis and Postgres both failed: an in-process entry still within its TTL is the best answer left
            Effect.catch((error) => {
              const fallback = localGet(key, pair.userId, now, false)
              return fallback !== undefined ? Effect.succeed(fallback.grants) : Effect.fail(error)
            })
          )
        })

      /**
       * A batch's misses (distinct pairs, more than one), as `load` does for one but in a constant number of round
       * trips: Redis in two (the versions, then the entries), Postgres in ONE query for what Redis lacked, the answers
       * written back to Redis off the request's path and kept here under the stamp taken before anything was read.
       * Where Postgres fails, a pair falls back to its in-process entry as in `one`; the batch fails if one has none.
       * A batch neither joins the single-pair loads in flight nor lets them join it: a pair may be read twice at
       * once, which costs a query, never a wrong answer (each load keeps its own stamp).
       */
      const loadMany = (pairs: ReadonlyArray<Pair>, keys: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const stamp = counter
          const users = [...new Set(pairs.map((pair) => pair.userId))]
          const versions = yield* cache.getMany([membershipVersionKey, ...users.map(userVersionKey)]).pipe(
            Effect.option
          )
          const redisKeys = Option.map(versions, ([membership, ...userVersions]) => {
            const byUser = new Map(users.map((userId, index) => [userId, userVersions[index] ?? Option.none()]))
            return keys.map((key, index) =>
              redisKeyOf(membership ?? Option.none(), byUser.get(pairs[index]!.userId) ?? Option.none(), key)
            )
          })
          const found: Array<ReadonlyArray<Grant> | undefined> = pairs.map(() => undefined)
          if (Option.isSome(redisKeys)) {
            const cached = yield* cache.getMany(redisKeys.value).pipe(Effect.option)
            if (Option.isSome(cached)) {
              cached.value.forEach((value, index) => {
                const grants = Option.flatMap(value, decodeGrants)
                if (Option.isSome(grants)) found[index] = grants.value as ReadonlyArray<Grant>
              })
            }
          }
          const missing = found.flatMap((grants, index) => grants === undefined ? [index] : [])
          let failure: LoadError | undefined
          if (missing.length > 0) {
            const loaded = yield* repo.grantsMany(missing.map((index) => pairs[index]!)).pipe(
              Effect.timeout(databaseTimeout),
              Effect.result
            )
            if (loaded._tag === "Success") {
              missing.forEach((index, position) => {
                found[index] = loaded.success[position] ?? []
              })
              if (Option.isSome(redisKeys)) {
                // best effort and off the request's path: the keys are versioned, so a late write is harmless
                const entryKeys = redisKeys.value
                yield* Effect.forEach(missing, (index) => {
                  const grants = found[index] ?? []
                  return cache.set(entryKeys[index]!, JSON.stringify(grants), entryTtl(grants)).pipe(Effect.ignore)
                }, { concurrency: 64, discard: true }).pipe(Effect.forkDetach)
              }
            } else {
              failure = loaded.failure
            }
          }
          const loadedAt = yield* Clock.currentTimeMillis
          found.forEach((grants, index) => {
            if (grants !== undefined) localSet(keys[index]!, { grants, stamp, expiresAt: loadedAt + entryTtl(grants) })
          })
          if (failure === undefined) return found as ReadonlyArray<ReadonlyArray<Grant>>
          // Redis and Postgres both failed for these: an in-process entry still within its TTL is the best answer left
          for (const index of missing) {
            const fallback = localGet(keys[index]!, pairs[index]!.userId, now, false)
            if (fallback === undefined) return yield* Effect.fail(failure)
            found[index] = fallback.grants
          }
          return found as ReadonlyArray<ReadonlyArray<Grant>>
        })

      const peek = (userId: string, filmId: string, now: number) =>
        feed.isFresh(now) ? localGet(pairKey(userId, filmId), userId, now, true)?.grants : undefined

      // in-process hits answered synchronously; the distinct misses are loaded together (one alone: single-flight)
      const grants = (pairs: ReadonlyArray<Pair>) =>
        Effect.suspend(() => {
          if (pairs.length === 1) return Effect.map(one(pairs[0]!), (found) => [found])
          return Effect.flatMap(Clock.currentTimeMillis, (now) => {
            const found: Array<ReadonlyArray<Grant> | undefined> = pairs.map((pair) =>
              peek(pair.userId, pair.filmId, now)
            )
            const misses = new Map<string, { readonly pair: Pair; readonly indexes: Array<number> }>()
            pairs.forEach((pair, index) => {
              if (found[index] !== undefined) return
              const key = pairKey(pair.userId, pair.filmId)
              const miss = misses.get(key)
              if (miss === undefined) misses.set(key, { pair, indexes: [index] })
              else miss.indexes.push(index)
            })
            if (misses.size === 0) return Effect.succeed(found as ReadonlyArray<ReadonlyArray<Grant>>)
            const distinct = [...misses.values()]
            const loading = distinct.length === 1
              ? Effect.map(one(distinct[0]!.pair), (grants) => [grants])
              : loadMany(distinct.map((miss) => miss.pair), [...misses.keys()])
            return Effect.map(loading, (loaded) => {
              distinct.forEach((miss, position) => {
                for (const index of miss.indexes) found[index] = loaded[position]
              })
              return found as ReadonlyArray<ReadonlyArray<Grant>>
            })
          })
        })

      // a fresh version under the key (one per run), announced: Redis entries under the old one are never read again
      const announce = (key: string, message: FeedMessage) =>
        Effect.suspend(() => feed.announce(message, { key, value: randomUUID(), ttl: versionTtl }))

      return EntitlementCache.of({
        grants,
        peek,
        invalidateUser: (userId) =>
          Effect.andThen(
            Effect.sync(() => forgetUser(userId)),
            announce(userVersionKey(userId), { kind: "user", id: userId })
          ),
        invalidateMembership: Effect.andThen(
          Effect.sync(forgetMembership),
          announce(membershipVersionKey, { kind: "membership" })
        )
      })
    })
  )
}
