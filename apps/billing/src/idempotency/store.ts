// Idempotency-Key records, keyed by (user, key). The first request claims the key with a lease and runs; its answer
// is stored with a digest of the request. The same key and body replay the stored answer; the same key with another
// body (or on another operation) → 422. A request that arrives while the first runs waits for its answer (bounded)
// and replays it, so concurrent retries get identical responses; past the wait, 409 with Retry-After.
//
// The owner renews its lease while it runs. If it dies (a crash, a kill, a lost database), the lease runs out and
// the next retry takes the key over and runs the operation again — safe, because every step under it is keyed by
// billing's own ids — so it gets the answer the first attempt would have given. A failed run (an error answer, or
// an outcome not known yet) releases the key, so a retry runs again.
import { IdempotencyInFlight, IdempotencyKeyReused } from "@kassa/domain/idempotency"
import type { UserId } from "@kassa/domain/ids"
import { requestDigest } from "@kassa/platform/digest"
import { randomUUID } from "node:crypto"
import { Context, DateTime, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/** How long a claim holds without renewal: a dead owner's key is taken over this long after its last renewal. */
export const leaseDuration = Duration.seconds(10)
const renewEvery = Duration.divideUnsafe(leaseDuration, 3)

// how long a concurrent duplicate waits for the first request's answer before a 409 (far longer than a request
// that is not stuck at the provider takes)
const waitForAnswer = Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 150 }))

class StillRunning extends Schema.TaggedError<StillRunning>()("StillRunning", { leaseUntil: Schema.Date }) {}
class LeaseExpired extends Schema.TaggedError<LeaseExpired>()("LeaseExpired", {}) {}

export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  run<A, I, E, R>(options: {
    readonly userId: UserId
    readonly key: string
    readonly operation: string
    readonly request: unknown
    readonly response: Schema.Codec<A, I>
  }, effect: Effect.Effect<A, E, R>): Effect.Effect<
    A,
    E | IdempotencyKeyReused | IdempotencyInFlight | SqlError.SqlError | Schema.SchemaError,
    R
  >
}>()("billing/IdempotencyStore") {
  static readonly layer = Layer.effect(
    IdempotencyStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)
      const leaseFrom = (at: Date) => new Date(at.getTime() + Duration.toMillis(leaseDuration))

      const run: IdempotencyStore["Service"]["run"] = (options, effect) =>
        Effect.gen(function*() {
          const digest = requestDigest(options.operation, options.request)
          const json = Schema.fromJsonString(Schema.toCodecJson(options.response))
          const owner = randomUUID()
          const row = sql.and([sql`user_id = ${options.userId}`, sql`key = ${options.key}`])
          const at = yield* now
          // a new key, or one whose owner's lease ran out with no answer stored: ours
          const claimed = yield* sql`INSERT INTO billing.idempotency_keys
            (user_id, key, operation, request_hash, owner, lease_until, created_at)
          VALUES (${options.userId}, ${options.key}, ${options.operation}, ${digest}, ${owner}, ${leaseFrom(at)}, ${at})
          ON CONFLICT (user_id, key) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
            WHERE idempotency_keys.response IS NULL AND idempotency_keys.request_hash = EXCLUDED.request_hash
              AND (idempotency_keys.lease_until IS NULL OR idempotency_keys.lease_until <= ${at})
          RETURNING key`
          if (claimed.length === 1) {
            const renew = Effect.flatMap(
              now,
              (t) =>
                sql`UPDATE billing.idempotency_keys SET lease_until = ${leaseFrom(t)} WHERE ${row} AND owner = ${owner}`
            )
            const answer = yield* Effect.scoped(Effect.gen(function*() {
              // a renewal that fails (the database gone for a moment) is tried again at the next beat
              yield* Effect.forkScoped(Effect.forever(Effect.andThen(Effect.sleep(renewEvery), Effect.ignore(renew))))
              return yield* effect
            })).pipe(
              Effect.onError(() =>
                sql`DELETE FROM billing.idempotency_keys WHERE ${row} AND owner = ${owner}`.pipe(Effect.ignore)
              )
            )
            const encoded = yield* Schema.encodeEffect(json)(answer)
            yield* sql`UPDATE billing.idempotency_keys SET response = ${encoded}, lease_until = NULL WHERE ${row} AND owner = ${owner}`
            return answer
          }
          const stored = yield* sql<
            { readonly requestHash: string; readonly response: string | null; readonly leaseUntil: Date | null }
          >`
          SELECT request_hash, response, lease_until FROM billing.idempotency_keys WHERE ${row}`.pipe(
            Effect.flatMap(
              (rows): Effect.Effect<string | undefined, StillRunning | LeaseExpired | IdempotencyKeyReused> => {
                const found = rows[0]
                if (found === undefined) return Effect.succeed(undefined)
                if (found.requestHash !== digest) {
                  return Effect.fail(
                    new IdempotencyKeyReused({
                      message: "this Idempotency-Key was already used with a different request"
                    })
                  )
                }
                if (found.response !== null) return Effect.succeed(found.response)
                return Effect.flatMap(
                  now,
                  (t): Effect.Effect<never, StillRunning | LeaseExpired> =>
                    found.leaseUntil === null || found.leaseUntil <= t
                      ? Effect.fail(new LeaseExpired())
                      : Effect.fail(new StillRunning({ leaseUntil: found.leaseUntil }))
                )
              }
            ),
            Effect.retry({ schedule: waitForAnswer, while: (e) => e._tag === "StillRunning" }),
            Effect.catchTag(
              "StillRunning",
              ({ leaseUntil }) =>
                Effect.flatMap(now, (t) =>
                  Effect.fail(new IdempotencyInFlight({
                    message:
                      "a request with this Idempotency-Key is still in progress; retry after Retry-After seconds for its answer",
                    // by then it has answered, or its lease has run out and the retry takes over
                    retryAfterSeconds: Math.max(1, Math.min(Math.ceil((leaseUntil.getTime() - t.getTime()) / 1000), 10))
                  })))
            ),
            Effect.catchTag("LeaseExpired", () => Effect.succeed(undefined))
          )
          // the first request released the key, or died and its lease ran out: this one runs in its place
          if (stored === undefined) return yield* run(options, effect)
          return yield* Schema.decodeEffect(json)(stored)
        })
      return IdempotencyStore.of({ run })
    })
  )
}
