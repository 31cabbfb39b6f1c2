// Period arithmetic (pure): calendar months/years in the account's time zone with month-end clamping, checked as
// properties over anchors on the 28th–31st, leap years and DST zones.
import { assert, describe, it } from "@effect/vitest"
import { DateTime } from "effect"
import fc from "fast-check"
import { daysInMonth, firstPeriod, periodBoundary, renewalPeriod, trialEnd } from "../src/ledger/period.ts"

const zones = ["UTC", "Europe/Moscow", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"]
const iso = (s: string) => DateTime.makeUnsafe(s)
const localParts = (t: DateTime.Utc, zone: string) => DateTime.toParts(DateTime.makeZonedUnsafe(t, { timeZone: zone }))

const anchorArb = fc.record({
  year: fc.integer({ min: 1996, max: 2060 }),
  month: fc.integer({ min: 1, max: 12 }),
  day: fc.integer({ min: 28, max: 31 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.integer({ min: 0, max: 59 }),
  zone: fc.constantFrom(...zones)
}).map(({ day, hour, minute, month, year, zone }) => ({
  zone,
  anchor: DateTime.toUtc(DateTime.makeZonedUnsafe(
    { year, month, day: Math.min(day, daysInMonth(year, month)), hour, minute, second: 0, millisecond: 0 },
    { timeZone: zone, adjustForTimeZone: true, disambiguation: "compatible" }
  ))
}))

describe("billing periods", () => {
  it("clamps to the month's end and keeps the anchor day (Jan 31 → Feb 29 → Mar 31 in a leap year)", () => {
    const anchor = iso("2024-01-31T10:00:00Z")
    assert.strictEqual(DateTime.formatIso(periodBoundary(anchor, "month", 1, "UTC")), "2024-02-29T10:00:00.000Z")
    assert.strictEqual(DateTime.formatIso(periodBoundary(anchor, "month", 2, "UTC")), "2024-03-31T10:00:00.000Z")
    assert.strictEqual(
      DateTime.formatIso(periodBoundary(iso("2023-01-31T10:00:00Z"), "month", 1, "UTC")),
      "2023-02-28T10:00:00.000Z"
    )
    assert.strictEqual(
      DateTime.formatIso(periodBoundary(iso("2024-02-29T00:00:00Z"), "year", 1, "UTC")),
      "2025-02-28T00:00:00.000Z"
    )
    assert.strictEqual(
      DateTime.formatIso(periodBoundary(iso("2024-02-29T00:00:00Z"), "year", 4, "UTC")),
      "2028-02-29T00:00:00.000Z"
    )
  })

  it("counts months in the account's zone: the local wall-clock time survives a DST change", () => {
    // 09:00 in New York on 2024-02-15 (EST, UTC−5) → 09:00 on 2024-03-15 (EDT, UTC−4)
    const end = periodBoundary(iso("2024-02-15T14:00:00Z"), "month", 1, "America/New_York")
    assert.strictEqual(DateTime.formatIso(end), "2024-03-15T13:00:00.000Z")
    // 23:30 Moscow on Jan 31 is Jan 31 locally though it is Jan 31 20:30 UTC; Feb 29 23:30 Moscow
    assert.strictEqual(
      DateTime.formatIso(periodBoundary(iso("2024-01-31T20:30:00Z"), "month", 1, "Europe/Moscow")),
      "2024-02-29T20:30:00.000Z"
    )
  })

  it("property: each boundary is the anchor's local day clamped to its month, at the anchor's local time", () => {
    fc.assert(fc.property(anchorArb, fc.integer({ min: 1, max: 36 }), ({ anchor, zone }, index) => {
      const a = localParts(anchor, zone)
      const b = localParts(periodBoundary(anchor, "month", index, zone), zone)
      const months = a.year * 12 + a.month - 1 + index
      assert.strictEqual(b.year * 12 + b.month - 1, months)
      assert.strictEqual(b.day, Math.min(a.day, daysInMonth(b.year, b.month)))
    }))
  })

  it("property: boundaries strictly increase and a period is 28..31 days (365/366 for a year), ± a DST hour", () => {
    fc.assert(fc.property(anchorArb, fc.integer({ min: 0, max: 24 }), ({ anchor, zone }, index) => {
      const from = index === 0 ? anchor : periodBoundary(anchor, "month", index, zone)
      const to = periodBoundary(anchor, "month", index + 1, zone)
      const hours = (DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from)) / 3_600_000
      assert.isTrue(hours >= 27 * 24 - 2 && hours <= 31 * 24 + 2, `${hours} h`)
      const year = firstPeriod(anchor, "year", zone)
      const days = (DateTime.toEpochMillis(year.end) - DateTime.toEpochMillis(year.start)) / 86_400_000
      assert.isTrue(days >= 364.9 && days <= 366.1, `${days} days`)
    }))
  })

  it("property: the 12th monthly boundary is the first yearly one", () => {
    fc.assert(fc.property(anchorArb, ({ anchor, zone }) => {
      assert.strictEqual(
        DateTime.toEpochMillis(periodBoundary(anchor, "month", 12, zone)),
        DateTime.toEpochMillis(periodBoundary(anchor, "year", 1, zone))
      )
    }))
  })

  it("property: UTC (kept as a zero offset) gives the boundaries of the named zone Etc/UTC", () => {
    fc.assert(
      fc.property(
        anchorArb,
        fc.integer({ min: 1, max: 36 }),
        fc.constantFrom("month", "year") as fc.Arbitrary<"month" | "year">,
        ({ anchor }, index, interval) => {
          assert.strictEqual(
            DateTime.toEpochMillis(periodBoundary(anchor, interval, index, "UTC")),
            DateTime.toEpochMillis(periodBoundary(anchor, interval, index, "Etc/UTC"))
          )
        }
      )
    )
  })

  it("property: a renewal bills the one period, counted from the anchor, that starts where the last ended or later and contains now", () => {
    const intervalArb = fc.constantFrom("month", "year") as fc.Arbitrary<"month" | "year">
    fc.assert(
      fc.property(
        anchorArb,
        intervalArb,
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 4_000 * 24 }),
        ({ anchor, zone }, interval, paid, lateHours) => {
          // `paid` periods were paid; the renewal comes `lateHours` after the last one ended (0: on time; months: missed)
          const from = periodBoundary(anchor, interval, paid, zone)
          const now = DateTime.makeUnsafe(DateTime.toEpochMillis(from) + lateHours * 3_600_000)
          const period = renewalPeriod(anchor, interval, zone, from, now)
          const start = DateTime.toEpochMillis(period.start)
          const end = DateTime.toEpochMillis(period.end)
          const at = DateTime.toEpochMillis(now)
          assert.isTrue(start >= DateTime.toEpochMillis(from), "never a period before the last paid one ended")
          assert.isTrue(start <= at && at < end, "the period contains now: never a charge for a period that is over")
          // it is one of the anchor's periods (the anchor's day kept), and the very next one when on time
          const index = Array.from({ length: paid + 60 * 12 }, (_, i) => i).find((i) =>
            DateTime.toEpochMillis(periodBoundary(anchor, interval, i, zone)) === start
          )
          assert.isDefined(index)
          assert.strictEqual(DateTime.toEpochMillis(periodBoundary(anchor, interval, index! + 1, zone)), end)
          if (lateHours === 0) {
            assert.strictEqual(index, paid)
          }
        }
      ),
      { numRuns: 300 }
    )
  })

  it("a renewal after missed periods: Jan 31 anchor, back on 17 Apr → the period from 31 Mar to 30 Apr, in New York", () => {
    const anchor = iso("2027-01-31T17:00:00Z") // noon in New York
    const from = periodBoundary(anchor, "month", 1, "America/New_York") // Feb 28, noon (EST)
    const period = renewalPeriod(anchor, "month", "America/New_York", from, iso("2027-04-17T00:00:00Z"))
    assert.deepStrictEqual(
      [DateTime.formatIso(period.start), DateTime.formatIso(period.end)],
      [
        "2027-03-31T16:00:00.000Z", // noon EDT
        "2027-04-30T16:00:00.000Z"
      ]
    )
  })

  it("a trial counts calendar days in the zone", () => {
    assert.strictEqual(
      DateTime.formatIso(trialEnd(iso("2024-03-09T15:00:00Z"), 7, "America/New_York")),
      "2024-03-16T14:00:00.000Z"
    )
  })
})
