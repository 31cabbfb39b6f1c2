// Time on the wire. Instants are ISO 8601 UTC strings (`2025-01-31T12:00:00.000Z`); OpenAPI and the events' JSON
// Schema say so with `format: date-time`.
import { Schema } from "effect"

/** An instant: an ISO 8601 string on the wire, a `DateTime.Utc` in code. */
export const UtcDateTime = Schema.String.annotate({ format: "date-time" }).pipe(Schema.decodeTo(Schema.DateTimeUtcFromString))
