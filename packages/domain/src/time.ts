// Time on the wire. Instants are ISO 8601 UTC strings (`2025-01-31T12:00:00.000Z`); OpenAPI and the events' JSON
// Schema say so with `format: date-time` (days: `format: date`). Parsing what clients send is strict: a day that
// does not exist (2026-02-31) is refused rather than rolled over, and years are bounded to 1970..9999, so nothing
// a client sends can overflow a timestamp column or a date computation.
import { Schema } from "effect"

/** An instant as Kassa writes it: an ISO 8601 string on the wire, a `DateTime.Utc` in code. */
export const UtcDateTime = Schema.String.annotate({ format: "date-time" }).pipe(
  Schema.decodeTo(Schema.DateTimeUtcFromString)
)

export const MIN_YEAR = 1970
export const MAX_YEAR = 9999
/** 9999-12-31T23:59:59.999Z */
export const MAX_EPOCH_MILLIS = Date.UTC(MAX_YEAR, 11, 31, 23, 59, 59, 999)

const daysIn = (year: number, month: number): number =>
  month === 2
    ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28)
    : [4, 6, 9, 11].includes(month)
    ? 30
    : 31

const isDay = (year: number, month: number, day: number): boolean =>
  year >= MIN_YEAR && year <= MAX_YEAR && month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month)

const dayPattern = /^(\d{4})-(\d{2})-(\d{2})$/
const instantPattern =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2})))?$/

/** True for an existing calendar day YYYY-MM-DD in 1970..9999. */
export const isCalendarDay = (text: string): boolean => {
  const match = dayPattern.exec(text)
  return match !== null && isDay(Number(match[1]), Number(match[2]), Number(match[3]))
}

/** True for an ISO 8601 date or date-time with an offset (Z or ±HH:MM) on an existing day in 1970..9999. */
export const isIsoInstant = (text: string): boolean => {
  const match = instantPattern.exec(text)
  if (match === null || !isDay(Number(match[1]), Number(match[2]), Number(match[3]))) return false
  const [hour = "0", minute = "0", second = "0", offsetHours = "0", offsetMinutes = "0"] = match.slice(4).map((part) =>
    part ?? "0"
  )
  return Number(hour) <= 23 && Number(minute) <= 59 && Number(second) <= 59 && Number(offsetHours) <= 23 &&
    Number(offsetMinutes) <= 59
}

/** A calendar day, YYYY-MM-DD. */
export const CalendarDate = Schema.String.annotate({ format: "date" }).check(
  Schema.makeFilter(isCalendarDay, { expected: `an existing date such as 2026-01-31, years ${MIN_YEAR}..${MAX_YEAR}` })
).annotate({ identifier: "CalendarDate", description: "YYYY-MM-DD", examples: ["2026-01-31"] })

/** An instant in ISO 8601 (`2026-01-31T12:00:00Z`; a bare date is its UTC midnight), decoded to a DateTime.Utc. */
export const Instant = Schema.String.annotate({ format: "date-time" }).check(
  Schema.makeFilter(isIsoInstant, {
    expected: `an ISO 8601 date-time such as 2026-01-31T12:00:00Z, years ${MIN_YEAR}..${MAX_YEAR}`
  })
).annotate({
  description: "ISO 8601 date-time with Z or an offset, or a date (UTC midnight)",
  examples: ["2026-01-31T12:00:00Z"]
}).pipe(Schema.decodeTo(Schema.DateTimeUtcFromString))
