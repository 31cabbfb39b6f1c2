// Idempotency-Key: the caller's key for one logical request that moves money, and the two errors every keyed
// request can answer with. Billing keys viewers' and admins' requests; payments keys billing's calls.
import { Schema } from "effect"

/** The caller's key for one logical request; a retry resends the same key. */
export const IdempotencyKey = Schema.String.check(
  Schema.isMinLength(1, { message: "idempotency key must not be empty" }),
  Schema.isMaxLength(255, { message: "idempotency key must be at most 255 characters" })
).annotate({ identifier: "IdempotencyKey" })

/** 422: the key was already used with another request (another body, or another operation). */
export class IdempotencyKeyReused extends Schema.TaggedError<IdempotencyKeyReused>()(
  "IdempotencyKeyReused",
  { message: Schema.String },
  { httpApiStatus: 422 }
) {}

/**
 * 409: an earlier request with this Idempotency-Key is still running; retry after `Retry-After` seconds (the
 * server also sends the header) and get its answer. A request whose process died is re-run by the next retry.
 */
export class IdempotencyInFlight extends Schema.TaggedError<IdempotencyInFlight>()(
  "IdempotencyInFlight",
  { message: Schema.String, retryAfterSeconds: Schema.Int },
  { httpApiStatus: 409 }
) {}
