// Money in the currency's format with its minor units (from the contracts' table), times in the user's time zone.
import { DateTime, Result } from "effect"
import * as Money from "@kassa/domain/money"

const formatters = new Map<string, Intl.NumberFormat>()

/**
 * "€12.90", "¥1,000", "KWD 1.234" in the browser's locale (or `locale`): the amount is turned into decimal text
 * exactly, then laid out by Intl.
 */
export const money = (amount: number, currency: Money.Currency, locale?: string): string => {
  const key = `${locale ?? ""}/${currency}`
  let formatter = formatters.get(key)
  if (formatter === undefined) {
    const digits = Money.exponent(currency)
    formatter = new Intl.NumberFormat(locale, {
      style: "currency",
      currency,
      minimumFractionDigits: digits,
      maximumFractionDigits: digits
    })
    formatters.set(key, formatter)
  }
  // a decimal string is formatted exactly (no float in between)
  return formatter.format(Money.toMajorString({ amount, currency }) as unknown as number)
}

/** Minor units as a plain number of major units, for chart axes only (never for sums). */
export const major = (amount: number, currency: Money.Currency): number => amount / 10 ** Money.exponent(currency)

/** "12.90" typed by a user → minor units, or the reason it is not an amount. */
export const parseAmount = (input: string, currency: Money.Currency): Result.Result<number, string> =>
  Result.mapBoth(Money.parseMajorResult(input.trim().replace(",", "."), currency), {
    onFailure: (error) => error.message,
    onSuccess: (m) => m.amount
  })

export const majorInput = (amount: number, currency: Money.Currency): string =>
  Money.toMajorString({ amount, currency })

const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" })
const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium" })

export const dateTime = (at: DateTime.Utc | null | undefined): string =>
  at == null ? "—" : dateTimeFormat.format(DateTime.toEpochMillis(at))

export const date = (at: DateTime.Utc | null | undefined): string =>
  at == null ? "—" : dateFormat.format(DateTime.toEpochMillis(at))

export const timeZone = (): string => Intl.DateTimeFormat().resolvedOptions().timeZone

const pad = (n: number) => String(n).padStart(2, "0")

/** YYYY-MM-DD of a local day. */
export const localDay = (d: Date): string => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`

/** Today minus `days`, as YYYY-MM-DD in the user's zone. */
export const daysAgo = (days: number): string => {
  const d = new Date()
  d.setDate(d.getDate() - days)
  return localDay(d)
}

/** The start of a local day YYYY-MM-DD (plus `addDays`): date filters follow the user's zone. */
export const localMidnight = (day: string, addDays = 0): DateTime.Utc => {
  const [y = 1970, m = 1, d = 1] = day.split("-").map(Number)
  return DateTime.fromDateUnsafe(new Date(y, m - 1, d + addDays))
}

export const percent = (rate: number): string =>
  new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 }).format(rate)
