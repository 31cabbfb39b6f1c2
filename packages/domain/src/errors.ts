// The errors every app answers with. The status lives on the class, so an HttpApi
// endpoint that lists one of these responds with that status and a `{ _tag, message, ... }` body.
// A refusal that depends on the state (409) or on a business rule (422) has its own error, named for what
// happened and declared beside its contract (billing.ts, payments.ts, idempotency.ts, catalog.ts, auth.ts).
import { Schema } from "effect"

/** 400: bad input; `field` names the offending field when there is one. */
export class BadRequest extends Schema.TaggedError<BadRequest>()(
  "BadRequest",
  { message: Schema.String, field: Schema.optionalKey(Schema.String) },
  { httpApiStatus: 400 }
) {}

/** 401: no token, or an invalid or expired one. */
export class Unauthorized
  extends Schema.TaggedError<Unauthorized>()("Unauthorized", { message: Schema.String }, { httpApiStatus: 401 })
{}

/** 403: authenticated, but the role does not allow it. */
export class Forbidden
  extends Schema.TaggedError<Forbidden>()("Forbidden", { message: Schema.String }, { httpApiStatus: 403 })
{}

/** 404: not found, or not yours (the two are indistinguishable on purpose). */
export class NotFound extends Schema.TaggedError<NotFound>()(
  "NotFound",
  { message: Schema.String, resource: Schema.optionalKey(Schema.String) },
  { httpApiStatus: 404 }
) {}

/** 429: the server also sends `Retry-After: retryAfterSeconds`. */
export class RateLimited extends Schema.TaggedError<RateLimited>()(
  "RateLimited",
  { message: Schema.String, retryAfterSeconds: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)) },
  { httpApiStatus: 429 }
) {}

/** 502: the payment provider failed or did not answer. */
export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()(
  "ProviderUnavailable",
  { message: Schema.String },
  { httpApiStatus: 502 }
) {}

/** 503: one of our own dependencies (database, cache, broker, peer service) is down. */
export class ServiceUnavailable extends Schema.TaggedError<ServiceUnavailable>()(
  "ServiceUnavailable",
  { message: Schema.String },
  { httpApiStatus: 503 }
) {}
