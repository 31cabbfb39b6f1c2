// Idempotency-Key records, keyed by (user, key): the first request claims the key and runs; its answer
// is stored with a digest of the request. The same key and body replay the stored answer; the same key with another
// body (or on another operation) → 422; a request that arrives while the first runs waits for its answer (bounded)
// and replays it, so concurrent retries get identical responses. A failed run releases the key for a retry.
import { Unprocessable } from "@kassa/domain/errors"
import { IdempotencyInFlight } from "@kassa/domain/billing"
import type { UserId } from "@kassa/domain/ids"
import { createHash } from "node:crypto"
import { Context, DateTime, Effect, Layer, Schedule, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/** JSON with object keys sorted, so equal requests digest alike whatever their key order. */
const canonical = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

export const requestDigest = (operation: string, request: unknown): string =>
  createHash("sha256").update(operation).update("\n").update(canonical(request)).digest("hex")

// how long a concurrent duplicate waits for the first request's answer before answering 409
const waitForAnswer = Schedule.spaced("20 millis").pipe(Schedule.upTo({ times: 500 }))

class StillRunning extends Schema.TaggedError<StillRunning>()("StillRunning", {}) {}

export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  run<A, I, E, R>(options: {
    readonly userId: UserId
    readonly key: string
    readonly operation: string
    readonly request: unknown
    readonly response: Schema.Codec<A, I>
  }, effect: Effect.Effect<A, E, R>): Effect.Effect<
    A,
    E | Unprocessable | IdempotencyInFlight | SqlError.SqlError | Schema.SchemaError,
    R
  >
}>()("billing/IdempotencyStore") {
  static readonly layer = Layer.effect(IdempotencyStore, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const run: IdempotencyStore["Service"]["run"] = (options, effect) =>
        Effect.gen(function*() {
          const digest = requestDigest(options.operation, options.request)
          const json = Schema.fromJsonString(Schema.toCodecJson(options.response))
          const now = DateTime.toDateUtc(yield* DateTime.now)
          const claimed = yield* sql`INSERT INTO billing.idempotency_keys (user_id, key, operation, request_hash, created_at)
            VALUES (${options.userId}, ${options.key}, ${options.operation}, ${digest}, ${now})
            ON CONFLICT (user_id, key) DO NOTHING RETURNING key`
          if (claimed.length === 1) {
            const answer = yield* effect.pipe(
              Effect.onError(() =>
                sql`DELETE FROM billing.idempotency_keys WHERE user_id = ${options.userId} AND key = ${options.key}`.pipe(
                  Effect.ignore
                )
              )
            )
            const encoded = yield* Schema.encodeEffect(json)(answer)
            yield* sql`UPDATE billing.idempotency_keys SET response = ${encoded}
              WHERE user_id = ${options.userId} AND key = ${options.key}`
            return answer
          }
          const stored = yield* sql<{ readonly requestHash: string; readonly response: string | null }>`
            SELECT request_hash, response FROM billing.idempotency_keys
            WHERE user_id = ${options.userId} AND key = ${options.key}`.pipe(
            Effect.flatMap((rows): Effect.Effect<string | undefined, StillRunning | Unprocessable> => {
              const row = rows[0]
              if (row === undefined) return Effect.succeed(undefined)
              if (row.requestHash !== digest) {
                return Effect.fail(new Unprocessable({ message: "this Idempotency-Key was already used with a different request" }))
              }
              return row.response === null ? Effect.fail(new StillRunning()) : Effect.succeed(row.response)
            }),
            Effect.retry({ schedule: waitForAnswer, while: (e) => e._tag === "StillRunning" }),
            Effect.catchTag("StillRunning", () =>
              Effect.fail(new IdempotencyInFlight({ message: "a request with this Idempotency-Key is still in progress; retry later" })))
          )
          // the first request failed and released the key meanwhile: this one runs in its place
          if (stored === undefined) return yield* run(options, effect)
          return yield* Schema.decodeEffect(json)(stored)
        })
    return IdempotencyStore.of({ run })
  }))
}
