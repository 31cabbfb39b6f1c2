// Billing periods: calendar months or years counted in the account's time zone from the anchor (the
// instant the first payment succeeded). Month arithmetic clamps to the month's end and every boundary is
// computed from the anchor, not from the previous boundary, so Jan 31 → Feb 28/29 → Mar 31 keeps the anchor day.
import type { PlanInterval } from "@kassa/domain/catalog"
import { DateTime } from "effect"

const isLeap = (year: number) => (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
const monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const
/** `month` is 1..12. */
export const daysInMonth = (year: number, month: number): number =>
  month === 2 && isLeap(year) ? 29 : monthLengths[month - 1] ?? 31

// a named zone holds an Intl.DateTimeFormat, costly to build: one per zone id (an invalid id throws, as before).
// UTC, the default zone, is a zero offset: the same instants, with no Intl formatting per conversion.
const zones = new Map<string, DateTime.TimeZone>([["UTC", DateTime.zoneMakeOffset(0)]])
const zoneOf = (timeZone: string): DateTime.TimeZone => {
  let zone = zones.get(timeZone)
  if (zone === undefined) {
    zone = DateTime.zoneMakeNamedUnsafe(timeZone)
    if (zones.size < 1_000) zones.set(timeZone, zone)
  }
  return zone
}

/**
 * The end of period `index` (1 = the first period's end) of a subscription anchored at `anchor`: the anchor's
 * wall-clock time in `timeZone`, `index` months or years later, its day clamped to that month's length. A
 * wall-clock time skipped by a DST change resolves forward (the "compatible" rule).
 */
export const periodBoundary = (
  anchor: DateTime.Utc,
  interval: PlanInterval,
  index: number,
  timeZone: string
): DateTime.Utc => {
  const zone = zoneOf(timeZone)
  const local = DateTime.toParts(DateTime.makeZonedUnsafe(anchor, { timeZone: zone }))
  const months = local.year * 12 + (local.month - 1) + index * (interval === "year" ? 12 : 1)
  const year = Math.floor(months / 12)
  const month = months - year * 12 + 1
  const day = Math.min(local.day, daysInMonth(year, month))
  return DateTime.toUtc(DateTime.makeZonedUnsafe(
    { year, month, day, hour: local.hour, minute: local.minute, second: local.second, millisecond: local.millisecond },
    { timeZone: zone, adjustForTimeZone: true, disambiguation: "compatible" }
  ))
}

/** The first period: from the anchor to one interval later. */
export const firstPeriod = (anchor: DateTime.Utc, interval: PlanInterval, timeZone: string) => ({
  start: anchor,
  end: periodBoundary(anchor, interval, 1, timeZone)
})

/** A trial of `days` calendar days in the account's time zone. */
export const trialEnd = (start: DateTime.Utc, days: number, timeZone: string): DateTime.Utc =>
  DateTime.toUtc(DateTime.add(DateTime.makeZonedUnsafe(start, { timeZone: zoneOf(timeZone) }), { days }))

/**
 * The period a renewal bills: of the periods counted from `anchor`, the one that starts at or after `from` (where
 * the last paid period ended) and contains `now`. Periods missed whole (the service was down, the renewal parked)
 * are skipped, never billed: a subscription that comes back after 45 days pays for the period it can use. When
 * `now` is before `from` (not due yet) it is the period starting at `from`.
 */
export const renewalPeriod = (
  anchor: DateTime.Utc,
  interval: PlanInterval,
  timeZone: string,
  from: DateTime.Utc,
  now: DateTime.Utc
): { readonly start: DateTime.Utc; readonly end: DateTime.Utc } => {
  const fromMillis = DateTime.toEpochMillis(from)
  const nowMillis = DateTime.toEpochMillis(now)
  const aligned = (a: DateTime.Utc) => (index: number) => periodBoundary(a, interval, index, timeZone)
  let boundary = aligned(anchor)
  const at = (index: number) => DateTime.toEpochMillis(boundary(index))
  // a first guess from the calendar, then walk: the first boundary at or after `from`...
  const a = DateTime.toParts(anchor)
  const f = DateTime.toParts(from)
  let index = Math.max(
    0,
    Math.floor(((f.year - a.year) * 12 + (f.month - a.month)) / (interval === "year" ? 12 : 1)) - 1
  )
  while (at(index) < fromMillis) index++
  while (index > 0 && at(index - 1) >= fromMillis) index--
  // a period that did not end on one of the anchor's boundaries (a row edited by hand): counted from its end instead
  if (at(index) !== fromMillis) {
    boundary = aligned(from)
    index = 0
  }
  // ...then on to the one whose period contains now
  while (at(index + 1) <= nowMillis) index++
  return { start: boundary(index), end: boundary(index + 1) }
}
