// "May this user watch this film?". `record` is the writer: Billing's changeSubscription calls it in
// the transaction of every subscription change; it rewrites the read model, emits entitlement.granted/revoked
// through the outbox, and invalidates the caches once the transaction commits (before the request returns).
import type {
  EntitlementAnswer,
  EntitlementCheck,
  EntitlementEventData,
  EntitlementQuery,
  Entitlements as EntitlementsView
} from "@kassa/domain/entitlements"
import { ServiceUnavailable } from "@kassa/domain/errors"
import type { FilmId, UserId } from "@kassa/domain/ids"
import { EntitlementConfig } from "../config.ts"
import type { NewEvent } from "@kassa/platform/outbox"
import { Clock, Context, DateTime, Effect, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { EntitlementCache } from "./cache.ts"
import { EntitlementsRepo, type Grant, type RepoError } from "./repo.ts"

const unavailable = () => new ServiceUnavailable({ message: "entitlements are unavailable; try again shortly" })

/** The grant that lasts longest among those still running at `now`. */
export const evaluate = (filmId: FilmId, grants: ReadonlyArray<Grant>, now: number): EntitlementCheck => {
  let best: Grant | undefined
  for (const grant of grants) if (grant[1] > now && (best === undefined || grant[1] > best[1])) best = grant
  return best === undefined
    ? { allowed: false, filmId }
    : { allowed: true, filmId, productId: best[0], until: DateTime.makeUnsafe(best[1]) }
}

export class Entitlements extends Context.Service<Entitlements, {
  /**
   * Rewrites the user's entitlements from their subscriptions; call inside the change's transaction. `along` are
   * the change's own events, written in the same statement as the entitlement events (one round trip); `locked`:
   * the change's statement took `lockEntitlements` already.
   */
  record(
    userId: UserId,
    along?: ReadonlyArray<NewEvent<unknown>>,
    options?: { readonly locked?: boolean }
  ): Effect.Effect<void, RepoError>
  check(userId: UserId, filmId: FilmId): Effect.Effect<EntitlementCheck, ServiceUnavailable>
  /** The answer from the in-process tier alone, synchronously; undefined when it does not hold the pair. */
  peek(userId: UserId, filmId: FilmId, now: number): EntitlementCheck | undefined
  checkMany(
    queries: ReadonlyArray<EntitlementQuery>
  ): Effect.Effect<ReadonlyArray<EntitlementAnswer>, ServiceUnavailable>
  list(userId: UserId): Effect.Effect<EntitlementsView, ServiceUnavailable>
}>()("billing/Entitlements") {
  static readonly layer = Layer.effect(
    Entitlements,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const config = yield* EntitlementConfig
      const repo = yield* EntitlementsRepo
      const cache = yield* EntitlementCache

      const record = (
        userId: UserId,
        along: ReadonlyArray<NewEvent<unknown>> = [],
        options?: { readonly locked?: boolean }
      ) =>
        Effect.gen(function*() {
          const now = new Date(yield* Clock.currentTimeMillis)
          const changes = yield* repo.sync(userId, now, config.pastDueGrace, (changes) => [
            ...along,
            ...changes.map((change) => ({
              type: change.until === null ? "entitlement.revoked" as const : "entitlement.granted" as const,
              aggregateId: userId,
              data: {
                userId,
                productId: change.productId,
                until: change.until?.toISOString() ?? null
              } satisfies typeof EntitlementEventData.Encoded
            }))
          ], options?.locked === true)
          if (changes.length > 0) yield* sql.afterCommit(cache.invalidateUser(userId))
        })

      // one answer object per cached entry while it holds (from its evaluation on: a yes until its `until`, a no for
      // good, as grants only run out), so it is evaluated once and the hot route keeps its encoded bytes too
      const answers = new WeakMap<ReadonlyArray<Grant>, { readonly check: EntitlementCheck; readonly at: number }>()
      const answerOf = (filmId: FilmId, grants: ReadonlyArray<Grant>, now: number): EntitlementCheck => {
        const known = answers.get(grants)
        if (
          known !== undefined && known.check.filmId === filmId && known.at <= now &&
          (known.check.until === undefined || DateTime.toEpochMillis(known.check.until) > now)
        ) {
          return known.check
        }
        const check = evaluate(filmId, grants, now)
        answers.set(grants, { check, at: now })
        return check
      }

      const checkMany = (queries: ReadonlyArray<EntitlementQuery>) =>
        Effect.gen(function*() {
          const grants = yield* cache.grants(queries)
          const now = yield* Clock.currentTimeMillis
          return queries.map((query, index) => ({
            userId: query.userId,
            ...answerOf(query.filmId, grants[index] ?? [], now)
          }))
        }).pipe(Effect.mapError(unavailable))

      const check = (userId: UserId, filmId: FilmId) =>
        Effect.gen(function*() {
          const [grants] = yield* cache.grants([{ userId, filmId }])
          return answerOf(filmId, grants ?? [], yield* Clock.currentTimeMillis)
        }).pipe(Effect.mapError(unavailable))

      const list = (userId: UserId) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const rows = yield* repo.list(userId, new Date(now))
          const films = new Map<FilmId, EntitlementsView["films"][number]>()
          const products = rows.map((row) => {
            const until = DateTime.fromDateUnsafe(row.until)
            for (const filmId of row.filmIds) {
              const held = films.get(filmId)
              if (held === undefined || DateTime.toEpochMillis(held.until) < row.until.getTime()) {
                films.set(filmId, { filmId, productId: row.productId, until })
              }
            }
            return { productId: row.productId, until, filmIds: row.filmIds }
          })
          return {
            products,
            films: [...films.values()].sort((a, b) => a.filmId < b.filmId ? -1 : a.filmId > b.filmId ? 1 : 0)
          }
        }).pipe(Effect.mapError(unavailable))

      const peek = (userId: UserId, filmId: FilmId, now: number) => {
        const grants = cache.peek(userId, filmId, now)
        return grants === undefined ? undefined : answerOf(filmId, grants, now)
      }

      return Entitlements.of({ record, check, peek, checkMany, list })
    })
  )
}
