// The one idempotency store, for every keyed request that moves money (billing's viewers and admins, payments'
// caller). Keys live per (scope, key) in the app's own schema, with a digest of the request; the same key with
// another request → 422. Two modes, one per scope:
//
// - `run`, for an operation of several steps: the first request claims the key with a lease and runs; its answer is
//   stored, and the same key and request replay it (through `replay` when the answer names rows whose state moves
//   on). A request that arrives while the first runs waits for its answer (bounded); past the wait, 409 with
//   Retry-After. The owner renews its lease while it runs; if it dies, the lease runs out and the next retry runs the
//   operation again. That is safe only because every write under a key is keyed too: rows get ids derived from the
//   key (`derivedId`), so a re-run finds what the first run made and carries on. A failed run releases the key.
// - `recorded`, for an operation whose first write is its whole reservation: the key goes into that write's own
//   statement, so a crash cannot separate them, and nothing else is written (no lease, no answer): a replay reads
//   the rows the key made, by their derived ids, as they now are.
import { IdempotencyInFlight, IdempotencyKeyReused } from "@kassa/domain/idempotency"
import { createHash, randomUUID } from "node:crypto"
import { Context, DateTime, Duration, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient, type SqlError, type Statement } from "effect/sql"
import { ddl, type Migration } from "./db.ts"
import { requestDigest } from "./digest.ts"
import { validSchema } from "./outbox-relay.ts"

/** How long a claim holds without renewal: a dead owner's key is taken over this long after its last renewal. */
export const leaseDuration = Duration.seconds(10)
const renewEvery = Duration.divideUnsafe(leaseDuration, 3)

// how long a concurrent duplicate waits for the first request's answer before a 409 (far longer than a request
// that is not stuck at the provider takes)
const waitForAnswer = Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 150 }))

/** Ids derived from (scope, key) and the like: a re-run after a crash finds what the first run made. */
export const derivedId = (prefix: string, ...parts: ReadonlyArray<string>) =>
  `${prefix}_${createHash("sha256").update(parts.join("\u0000")).digest("base64url").slice(0, 24)}`

/** The store's table, `<schema>.idempotency_keys`. */
export const idempotencyMigration = (schema: string): Migration =>
  Effect.andThen(
    validSchema(schema),
    ddl(`CREATE TABLE ${schema}.idempotency_keys (
      scope text NOT NULL,
      key text NOT NULL,
      operation text NOT NULL,
      request_hash text NOT NULL,
      owner text,
      lease_until timestamptz,
      response text,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (scope, key)
    )`)
  )

// an answer's JSON codec, built once per response schema (building it walks the schema)
const jsonCodecs = new WeakMap<Schema.Top, Schema.Codec<unknown, string>>()
const jsonCodec = <A, I>(response: Schema.Codec<A, I>): Schema.Codec<A, string> => {
  const known = jsonCodecs.get(response) as Schema.Codec<A, string> | undefined
  if (known !== undefined) return known
  const made = Schema.fromJsonString(Schema.toCodecJson(response))
  jsonCodecs.set(response, made as Schema.Codec<unknown, string>)
  return made
}

const keyReused = () =>
  new IdempotencyKeyReused({ message: "this Idempotency-Key was already used with a different request" })

class StillRunning extends Schema.TaggedError<StillRunning>()("StillRunning", { leaseUntil: Schema.Date }) {}
class LeaseExpired extends Schema.TaggedError<LeaseExpired>()("LeaseExpired", {}) {}

/** A request under a caller's key. */
export interface Keyed {
  /** Whose key it is (a user, an operation): keys are unique within a scope, and a scope uses one of the two modes. */
  readonly scope: string
  readonly key: string
  readonly operation: string
  /** What makes a retry the same request (without the key itself). */
  readonly request: unknown
}

export interface KeyedRequest<A, I, E2, R2> extends Keyed {
  readonly response: Schema.Codec<A, I>
  /** What a replay answers, given the stored answer (default: the stored answer itself). */
  readonly replay?: (stored: A) => Effect.Effect<A, E2, R2>
}

export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  run<A, I, E, R, E2 = never, R2 = never>(
    request: KeyedRequest<A, I, E2, R2>,
    effect: Effect.Effect<A, E, R>
  ): Effect.Effect<
    A,
    E | E2 | IdempotencyKeyReused | IdempotencyInFlight | SqlError.SqlError | Schema.SchemaError,
    R | R2
  >
  /**
   * The other mode, for an operation whose first write is its whole reservation (what follows is driven to an end
   * anyway, by a reconciler): the key is recorded in that write's own statement, so a crash cannot separate the two,
   * no lease is held and no answer stored; a replay reads the rows the key made (by ids derived from it) as they
   * now are. `insert(when, at)` is an INSERT … SELECT for a CTE of that statement: it records the key if `when`
   * holds and the key is new (RETURNING key). `verify` refuses another request under a recorded key.
   */
  recorded(keyed: Keyed): {
    readonly insert: (when: Statement.Fragment, at: Date) => Statement.Fragment
    readonly verify: Effect.Effect<void, IdempotencyKeyReused | SqlError.SqlError>
  }
}>()("platform/IdempotencyStore") {
  /** The store over `<schema>.idempotency_keys` (see `idempotencyMigration`). */
  static readonly layer = (schema: string) =>
    Layer.effect(
      IdempotencyStore,
      Effect.gen(function*() {
        yield* validSchema(schema)
        const sql = yield* SqlClient.SqlClient
        const table = sql.literal(`${schema}.idempotency_keys`)
        const now = Effect.map(DateTime.now, DateTime.toDateUtc)
        const leaseFrom = (at: Date) => new Date(at.getTime() + Duration.toMillis(leaseDuration))

        const run: IdempotencyStore["Service"]["run"] = (options, effect) =>
          Effect.gen(function*() {
            const digest = requestDigest(options.operation, options.request)
            const json = jsonCodec(options.response)
            const owner = randomUUID()
            const row = sql.and([sql`scope = ${options.scope}`, sql`key = ${options.key}`])
            const at = yield* now
            // a new key, or one whose owner's lease ran out with no answer stored: ours
            const claimed = yield* sql`INSERT INTO ${table} AS k
              (scope, key, operation, request_hash, owner, lease_until, created_at)
            VALUES (${options.scope}, ${options.key}, ${options.operation}, ${digest}, ${owner}, ${
              leaseFrom(at)
            }, ${at})
            ON CONFLICT (scope, key) DO UPDATE SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until
              WHERE k.response IS NULL AND k.request_hash = EXCLUDED.request_hash
                AND (k.lease_until IS NULL OR k.lease_until <= ${at})
            RETURNING key`
            if (claimed.length === 1) {
              const renew = Effect.flatMap(
                now,
                (t) => sql`UPDATE ${table} SET lease_until = ${leaseFrom(t)} WHERE ${row} AND owner = ${owner}`
              )
              const answer = yield* Effect.scoped(Effect.gen(function*() {
                // a renewal that fails (the database gone for a moment) is tried again at the next beat
                yield* Effect.forkScoped(
                  Effect.forever(Effect.andThen(Effect.sleep(renewEvery), Effect.ignore(renew)))
                )
                return yield* effect
              })).pipe(
                Effect.onError(() => sql`DELETE FROM ${table} WHERE ${row} AND owner = ${owner}`.pipe(Effect.ignore))
              )
              const encoded = yield* Schema.encodeEffect(json)(answer)
              yield* sql`UPDATE ${table} SET response = ${encoded}, lease_until = NULL WHERE ${row} AND owner = ${owner}`
              return answer
            }
            const stored = yield* sql<
              { readonly requestHash: string; readonly response: string | null; readonly leaseUntil: Date | null }
            >`SELECT request_hash, response, lease_until FROM ${table} WHERE ${row}`.pipe(
              Effect.flatMap(
                (rows): Effect.Effect<string | undefined, StillRunning | LeaseExpired | IdempotencyKeyReused> => {
                  const found = rows[0]
                  if (found === undefined) return Effect.succeed(undefined)
                  if (found.requestHash !== digest) return Effect.fail(keyReused())
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
                    Effect.fail(
                      new IdempotencyInFlight({
                        message:
                          "a request with this Idempotency-Key is still in progress; retry after Retry-After seconds for its answer",
                        // by then it has answered, or its lease has run out and the retry takes over
                        retryAfterSeconds: Math.max(
                          1,
                          Math.min(Math.ceil((leaseUntil.getTime() - t.getTime()) / 1000), 10)
                        )
                      })
                    ))
              ),
              Effect.catchTag("LeaseExpired", () => Effect.succeed(undefined))
            )
            // the first request released the key, or died and its lease ran out: this one runs in its place
            if (stored === undefined) return yield* run(options, effect)
            const answer = yield* Schema.decodeEffect(json)(stored)
            return options.replay === undefined ? answer : yield* options.replay(answer)
          })
        const recorded: IdempotencyStore["Service"]["recorded"] = (keyed) => {
          const digest = requestDigest(keyed.operation, keyed.request)
          return {
            insert: (when, at) => sql`INSERT INTO ${table} (scope, key, operation, request_hash, created_at)
                SELECT ${keyed.scope}, ${keyed.key}, ${keyed.operation}, ${digest}, ${at} WHERE ${when}
                ON CONFLICT (scope, key) DO NOTHING
                RETURNING key`,
            verify: sql<{ readonly requestHash: string }>`SELECT request_hash FROM ${table}
              WHERE scope = ${keyed.scope} AND key = ${keyed.key}`.pipe(
              Effect.flatMap((rows) =>
                rows[0] !== undefined && rows[0].requestHash !== digest ? Effect.fail(keyReused()) : Effect.void
              )
            )
          }
        }
        return IdempotencyStore.of({ run, recorded })
      })
    )
}
