// Money as integer minor units of an ISO 4217 currency. Nothing in here touches a float:
// amounts are safe integers and conversions to and from decimal text are done on digit strings.
import { Effect, Result, Schema } from "effect"

/** ISO 4217 codes with their minor-unit exponents (digits after the decimal point). */
export const minorUnits = {
  USD: 2,
  EUR: 2,
  GBP: 2,
  RUB: 2,
  CHF: 2,
  SEK: 2,
  NOK: 2,
  DKK: 2,
  PLN: 2,
  CZK: 2,
  HUF: 2,
  RON: 2,
  CAD: 2,
  AUD: 2,
  NZD: 2,
  CNY: 2,
  HKD: 2,
  SGD: 2,
  TWD: 2,
  INR: 2,
  IDR: 2,
  THB: 2,
  MYR: 2,
  PHP: 2,
  BRL: 2,
  MXN: 2,
  ARS: 2,
  COP: 2,
  PEN: 2,
  TRY: 2,
  UAH: 2,
  KZT: 2,
  UZS: 2,
  GEL: 2,
  AMD: 2,
  AZN: 2,
  ILS: 2,
  AED: 2,
  SAR: 2,
  QAR: 2,
  EGP: 2,
  ZAR: 2,
  NGN: 2,
  KES: 2,
  JPY: 0,
  KRW: 0,
  VND: 0,
  CLP: 0,
  ISK: 0,
  PYG: 0,
  UGX: 0,
  XAF: 0,
  XOF: 0,
  KWD: 3,
  BHD: 3,
  JOD: 3,
  OMR: 3,
  TND: 3,
  IQD: 3,
  LYD: 3
} as const satisfies Record<string, 0 | 2 | 3>

export type Currency = keyof typeof minorUnits

export const currencies = Object.keys(minorUnits) as ReadonlyArray<Currency>

export const Currency = Schema.Literals(currencies).annotate({
  identifier: "Currency",
  description: "ISO 4217 currency code",
  message: "currency must be an ISO 4217 code Kassa supports, such as USD or EUR"
})

export const exponent = (currency: Currency): number => minorUnits[currency]

/**
 * The largest amount one charge (or price) may have, in minor units: Stripe takes up to twelve digits for IDR and
 * up to eight for every other currency (99,999,999 = 999,999.99 USD). Amounts a client sends are bounded by it.
 */
export const maxAmount = (currency: Currency): number => currency === "IDR" ? 999_999_999_999 : 99_999_999

/** The largest `maxAmount` of any currency: the bound of an amount that travels without its currency. */
export const MAX_AMOUNT_ANY_CURRENCY = Math.max(...currencies.map(maxAmount))

/**
 * A struct check for `{ amount, currency }` request fields: the amount is at most its currency's `maxAmount`
 * (reported on `amount`). `amount` may be optional.
 */
export const isAmountWithinCurrencyMax = () =>
  Schema.makeFilter((fields: { readonly amount?: number | undefined; readonly currency: Currency }) =>
    fields.amount === undefined || fields.amount <= maxAmount(fields.currency)
      ? undefined
      : {
        path: ["amount"],
        issue: `amount must be at most ${maxAmount(fields.currency)} minor units of ${fields.currency}`
      }
  )

export const Money = Schema.Struct({
  /** integer minor units (cents, yen, fils); negative for credits */
  amount: Schema.Int,
  currency: Currency
}).annotate({ identifier: "Money" })
export type Money = typeof Money.Type

export class CurrencyMismatch extends Schema.TaggedError<CurrencyMismatch>()(
  "CurrencyMismatch",
  { message: Schema.String, left: Currency, right: Currency },
  { httpApiStatus: 422 }
) {}

export class MoneyOverflow
  extends Schema.TaggedError<MoneyOverflow>()("MoneyOverflow", { message: Schema.String }, { httpApiStatus: 422 })
{}

export class InvalidAmount extends Schema.TaggedError<InvalidAmount>()(
  "InvalidAmount",
  { message: Schema.String, input: Schema.String },
  { httpApiStatus: 400 }
) {}

// `0 + -0` is `0`: a negative zero would print and compare oddly.
const normalize = (amount: number): number => amount + 0

/** Builds a Money from trusted minor units; a non-safe-integer amount is a defect (throws). */
export const make = (amount: number, currency: Currency): Money => Money.make({ amount: normalize(amount), currency })

export const zero = (currency: Currency): Money => ({ amount: 0, currency })

const sameCurrency = (a: Money, b: Money): Result.Result<Currency, CurrencyMismatch> =>
  a.currency === b.currency
    ? Result.succeed(a.currency)
    : Result.fail(new CurrencyMismatch({
      message: `cannot combine ${a.currency} with ${b.currency}`,
      left: a.currency,
      right: b.currency
    }))

// Both operands are safe integers, so the float sum is exact whenever the true sum is a safe
// integer, and lands outside the safe range whenever it is not.
const checked = (amount: number, currency: Currency): Result.Result<Money, MoneyOverflow> =>
  Number.isSafeInteger(amount)
    ? Result.succeed({ amount: normalize(amount), currency })
    : Result.fail(new MoneyOverflow({ message: `amount out of the safe integer range in ${currency}` }))

export const addResult = (a: Money, b: Money): Result.Result<Money, CurrencyMismatch | MoneyOverflow> =>
  Result.flatMap(sameCurrency(a, b), (currency) => checked(a.amount + b.amount, currency))

export const add = (a: Money, b: Money): Effect.Effect<Money, CurrencyMismatch | MoneyOverflow> =>
  Effect.fromResult(addResult(a, b))

export const subtractResult = (a: Money, b: Money): Result.Result<Money, CurrencyMismatch | MoneyOverflow> =>
  Result.flatMap(sameCurrency(a, b), (currency) => checked(a.amount - b.amount, currency))

export const subtract = (a: Money, b: Money): Effect.Effect<Money, CurrencyMismatch | MoneyOverflow> =>
  Effect.fromResult(subtractResult(a, b))

/** Safe integers are symmetric around zero, so negation cannot overflow. */
export const negate = (money: Money): Money => ({ amount: normalize(-money.amount), currency: money.currency })

export const sumResult = (
  currency: Currency,
  items: Iterable<Money>
): Result.Result<Money, CurrencyMismatch | MoneyOverflow> => {
  let total: Money = zero(currency)
  for (const item of items) {
    const next = addResult(total, item)
    if (Result.isFailure(next)) return next
    total = next.success
  }
  return Result.succeed(total)
}

/** Sum of `items`, all of which must be in `currency` (an empty list sums to zero). */
export const sum = (
  currency: Currency,
  items: Iterable<Money>
): Effect.Effect<Money, CurrencyMismatch | MoneyOverflow> => Effect.fromResult(sumResult(currency, items))

export const compareResult = (a: Money, b: Money): Result.Result<-1 | 0 | 1, CurrencyMismatch> =>
  Result.map(sameCurrency(a, b), () => a.amount < b.amount ? -1 : a.amount > b.amount ? 1 : 0)

export const compare = (a: Money, b: Money): Effect.Effect<-1 | 0 | 1, CurrencyMismatch> =>
  Effect.fromResult(compareResult(a, b))

export const isZero = (money: Money): boolean => money.amount === 0

export const isNegative = (money: Money): boolean => money.amount < 0

const majorPattern = /^(-?)(\d+)(?:\.(\d+))?$/
const maxSafe = BigInt(Number.MAX_SAFE_INTEGER)

/** Parses a decimal major-unit string ("12.34", "-0.5", "1000") into minor units of `currency`. */
export const parseMajorResult = (input: string, currency: Currency): Result.Result<Money, InvalidAmount> => {
  const invalid = (reason: string) => Result.fail(new InvalidAmount({ message: `${reason}: "${input}"`, input }))
  const match = majorPattern.exec(input)
  if (match === null) return invalid(`not a decimal amount in ${currency}`)
  const [, sign = "", whole = "", fraction = ""] = match
  const digits = exponent(currency)
  if (fraction.length > digits) return invalid(`${currency} allows at most ${digits} decimal places`)
  const minor = BigInt(whole + fraction.padEnd(digits, "0"))
  if (minor > maxSafe) return invalid(`amount out of range in ${currency}`)
  const amount = Number(minor)
  return Result.succeed({ amount: normalize(sign === "-" ? -amount : amount), currency })
}

export const parseMajor = (input: string, currency: Currency): Effect.Effect<Money, InvalidAmount> =>
  Effect.fromResult(parseMajorResult(input, currency))

/** The amount as a decimal major-unit string with exactly the currency's decimals: "12.34", "-0.05", "1000". */
export const toMajorString = (money: Money): string => {
  const digits = exponent(money.currency)
  const sign = money.amount < 0 ? "-" : ""
  const minor = String(Math.abs(money.amount)).padStart(digits + 1, "0")
  if (digits === 0) return sign + minor
  return `${sign}${minor.slice(0, -digits)}.${minor.slice(-digits)}`
}

/** "12.34 USD", "-0.05 EUR", "1000 JPY", "1.234 KWD". */
export const format = (money: Money): string => `${toMajorString(money)} ${money.currency}`
