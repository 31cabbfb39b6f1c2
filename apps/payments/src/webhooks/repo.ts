// Postgres access for Stripe's events (payments.webhook_events): stored as received, leased in batches by the
// workers, then marked processed or scheduled for another attempt.
import { makeWorkQueue } from "@kassa/platform/work-queue"
import { Context, DateTime, type Duration, Effect, Layer, Schema } from "effect"
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
  insert(
    event: { readonly id: string; readonly type: string; readonly rawBody: string },
    now: DateTime.Utc
  ): Effect.Effect<void, SqlError.SqlError>
  /**
   * Leases up to `limit` due events (not processed, fewer than `maxAttempts` attempts) for `lease`, so other
   * workers and replicas skip them.
   */
  claimDue(
    now: DateTime.Utc,
    lease: Duration.Input,
    limit: number,
    maxAttempts: number
  ): Effect.Effect<ReadonlyArray<StoredEvent>, SqlError.SqlError>
  /** One more failed attempt (`attempts` so far), due again after the backoff: 1 s doubling to 10 min. */
  retryLater(id: string, error: string, attempts: number, now: DateTime.Utc): Effect.Effect<void, SqlError.SqlError>
  markProcessed(ids: ReadonlyArray<string>, now: DateTime.Utc): Effect.Effect<void, SqlError.SqlError>
}>()("payments/WebhookEventsRepo") {
  static readonly layer = Layer.effect(
    WebhookEventsRepo,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const queue = makeWorkQueue(sql, {
        table: "payments.webhook_events",
        key: "id",
        keyType: "text",
        lease: "next_attempt_at",
        doneAt: "processed_at",
        retry: { base: "1 second", cap: "10 minutes" }
      })
      return WebhookEventsRepo.of({
        insert: (event, now) =>
          sql`INSERT INTO payments.webhook_events (id, type, payload, received_at, next_attempt_at)
          VALUES (${event.id}, ${event.type}, ${event.rawBody}::jsonb, ${at(now)}, ${at(now)})
          ON CONFLICT (id) DO NOTHING`.pipe(Effect.asVoid),
        claimDue: (now, lease, limit, maxAttempts) =>
          sql`${
            queue.claim({
              where: sql`processed_at IS NULL AND attempts < ${maxAttempts}`,
              orderBy: sql`next_attempt_at`,
              limit,
              now: at(now),
              lease,
              returning: sql`id, type, attempts, payload`
            })
          }`.pipe(
            Effect.flatMap(decodeStored),
            // a stored event was valid JSON with `data.object` when it came in (see the inbox's Envelope)
            Effect.catchTag("SchemaError", Effect.die)
          ),
        retryLater: (id, error, attempts, now) => queue.retry([id], error, attempts, now),
        markProcessed: queue.done
      })
    })
  )
}
