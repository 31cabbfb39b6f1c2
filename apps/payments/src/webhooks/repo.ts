// Postgres access for Stripe's events (payments.webhook_events): stored as received, leased in batches by the
// workers, then marked processed or scheduled for another attempt.
import { Context, DateTime, Effect, Layer, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

export const StoredEvent = Schema.Struct({
  id: Schema.String,
  type: Schema.String,
  attempts: Schema.Int,
  payload: Schema.Struct({ data: Schema.Struct({ object: Schema.Unknown }) })
})
export type StoredEvent = typeof StoredEvent.Type

const decodeStored = Schema.decodeUnknownEffect(Schema.Array(StoredEvent))

const at = (dt: DateTime.Utc) => DateTime.toDate(dt)

export class WebhookEventsRepo extends Context.Service<WebhookEventsRepo, {
  /** Stores the event as received, due at once; a replay of a stored id changes nothing. */
  insert(event: { readonly id: string; readonly type: string; readonly rawBody: string }, now: DateTime.Utc): Effect.Effect<void, SqlError.SqlError>
  /**
   * Leases up to `limit` due events (not processed, fewer than `maxAttempts` attempts) until `leaseUntil`, so other
   * workers and replicas skip them.
   */
  claimDue(now: DateTime.Utc, leaseUntil: DateTime.Utc, limit: number, maxAttempts: number): Effect.Effect<ReadonlyArray<StoredEvent>, SqlError.SqlError>
  /** One more failed attempt, and when to try again. */
  retryLater(id: string, error: string, at: DateTime.Utc): Effect.Effect<void, SqlError.SqlError>
  markProcessed(ids: ReadonlyArray<string>, now: DateTime.Utc): Effect.Effect<void, SqlError.SqlError>
}>()("payments/WebhookEventsRepo") {
  static readonly layer = Layer.effect(WebhookEventsRepo, Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return WebhookEventsRepo.of({
      insert: (event, now) =>
        sql`INSERT INTO payments.webhook_events (id, type, payload, received_at, next_attempt_at)
          VALUES (${event.id}, ${event.type}, ${event.rawBody}::jsonb, ${at(now)}, ${at(now)})
          ON CONFLICT (id) DO NOTHING`.pipe(Effect.asVoid),
      claimDue: (now, leaseUntil, limit, maxAttempts) =>
        sql`UPDATE payments.webhook_events SET next_attempt_at = ${at(leaseUntil)}
          WHERE id IN (
            SELECT id FROM payments.webhook_events
            WHERE processed_at IS NULL AND attempts < ${maxAttempts} AND next_attempt_at <= ${at(now)}
            ORDER BY next_attempt_at LIMIT ${limit}
            FOR UPDATE SKIP LOCKED
          )
          RETURNING id, type, attempts, payload`.pipe(
          Effect.flatMap(decodeStored),
          // a stored event was valid JSON with `data.object` when it came in (see the inbox's Envelope)
          Effect.catchTag("SchemaError", Effect.die)
        ),
      retryLater: (id, error, retryAt) =>
        sql`UPDATE payments.webhook_events SET attempts = attempts + 1, last_error = ${error},
          next_attempt_at = ${at(retryAt)} WHERE id = ${id}`.pipe(Effect.asVoid),
      markProcessed: (ids, now) =>
        ids.length === 0 ? Effect.void : sql`UPDATE payments.webhook_events SET processed_at = ${at(now)},
          attempts = attempts + 1, last_error = NULL WHERE id IN ${sql.in(ids)}`.pipe(Effect.asVoid)
    })
  }))
}
