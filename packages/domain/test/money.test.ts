import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import fc from "fast-check"
import { Money } from "../src/index.ts"

const currency = fc.constantFrom(...Money.currencies)
const safeAmount = fc.maxSafeInteger()
// |x| <= 2^51: sums of up to three never leave the safe range, so laws hold without overflow
const smallAmount = fc.bigInt({ min: -(2n ** 51n), max: 2n ** 51n }).map(Number)
const moneyIn = (amount: fc.Arbitrary<number>) =>
  fc.tuple(currency, amount, amount, amount).map(([c, a, b, d]) =>
    [Money.make(a, c), Money.make(b, c), Money.make(d, c)] as const
  )

const ok = <A, E>(result: Result.Result<A, E>): A => {
  if (Result.isFailure(result)) throw new Error(`expected success, got ${String(result.failure)}`)
  return result.success
}

describe("Money arithmetic", () => {
  it("addition is associative within a currency", () => {
    fc.assert(fc.property(moneyIn(smallAmount), ([a, b, c]) => {
      const left = ok(Money.addResult(ok(Money.addResult(a, b)), c))
      const right = ok(Money.addResult(a, ok(Money.addResult(b, c))))
      assert.deepStrictEqual(left, right)
    }))
  })

  it("addition is commutative, overflow included", () => {
    fc.assert(fc.property(moneyIn(safeAmount), ([a, b]) => {
      assert.deepStrictEqual(Money.addResult(a, b), Money.addResult(b, a))
    }))
  })

  it("zero is the identity", () => {
    fc.assert(fc.property(moneyIn(safeAmount), ([a]) => {
      assert.deepStrictEqual(ok(Money.addResult(a, Money.zero(a.currency))), a)
      assert.deepStrictEqual(ok(Money.addResult(Money.zero(a.currency), a)), a)
      assert.deepStrictEqual(ok(Money.subtractResult(a, Money.zero(a.currency))), a)
    }))
  })

  it("add then subtract round-trips; negate is subtraction from zero", () => {
    fc.assert(fc.property(moneyIn(smallAmount), ([a, b]) => {
      assert.deepStrictEqual(ok(Money.subtractResult(ok(Money.addResult(a, b)), b)), a)
      assert.deepStrictEqual(Money.negate(a), ok(Money.subtractResult(Money.zero(a.currency), a)))
      assert.deepStrictEqual(Money.negate(Money.negate(a)), a)
    }))
  })

  it("matches exact BigInt arithmetic, failing with MoneyOverflow exactly when the result is unsafe", () => {
    const max = BigInt(Number.MAX_SAFE_INTEGER)
    fc.assert(fc.property(moneyIn(safeAmount), ([a, b]) => {
      const exact = BigInt(a.amount) + BigInt(b.amount)
      const result = Money.addResult(a, b)
      if (exact > max || exact < -max) {
        assert.isTrue(Result.isFailure(result) && result.failure._tag === "MoneyOverflow")
      } else {
        assert.strictEqual(ok(result).amount, Number(exact))
      }
    }))
  })

  it("has no float drift: 1000 × 0.10 USD is exactly 100.00 USD", () => {
    const dime = Money.make(10, "USD")
    const total = ok(Money.sumResult("USD", Array.from({ length: 1000 }, () => dime)))
    assert.deepStrictEqual(total, Money.make(10_000, "USD"))
    assert.strictEqual(Money.format(total), "100.00 USD")
    // the float version of the same sum drifts
    assert.notStrictEqual(Array.from({ length: 1000 }, () => 0.1).reduce((x, y) => x + y, 0), 100)
  })

  it("sum equals the exact total of any list", () => {
    fc.assert(fc.property(currency, fc.array(fc.integer(), { maxLength: 200 }), (c, amounts) => {
      const exact = amounts.reduce((x, y) => x + BigInt(y), 0n)
      assert.strictEqual(ok(Money.sumResult(c, amounts.map((n) => Money.make(n, c)))).amount, Number(exact))
    }))
  })

  it.effect("rejects mixing currencies with CurrencyMismatch", () =>
    Effect.gen(function*() {
      const usd = Money.make(100, "USD")
      const eur = Money.make(100, "EUR")
      for (const attempt of [Money.add(usd, eur), Money.subtract(usd, eur), Money.sum("USD", [usd, eur])]) {
        const error = yield* Effect.flip(attempt)
        assert.strictEqual(error._tag, "CurrencyMismatch")
      }
      const mismatch = yield* Effect.flip(Money.compare(usd, eur))
      assert.deepStrictEqual([mismatch.left, mismatch.right], ["USD", "EUR"])
      assert.include(mismatch.message, "EUR")
      const fromSum = yield* Effect.flip(Money.sum("EUR", [usd]))
      assert.strictEqual(fromSum._tag, "CurrencyMismatch")
    }))

  it("rejects mixed currencies for any pair of distinct currencies", () => {
    const pair = fc.tuple(currency, currency).filter(([x, y]) => x !== y)
    fc.assert(fc.property(pair, safeAmount, safeAmount, ([x, y], a, b) => {
      const result = Money.addResult(Money.make(a, x), Money.make(b, y))
      assert.isTrue(Result.isFailure(result) && result.failure._tag === "CurrencyMismatch")
    }))
  })

  it.effect("rejects overflow past Number.MAX_SAFE_INTEGER", () =>
    Effect.gen(function*() {
      const max = Money.make(Number.MAX_SAFE_INTEGER, "JPY")
      const one = Money.make(1, "JPY")
      assert.strictEqual((yield* Effect.flip(Money.add(max, one)))._tag, "MoneyOverflow")
      assert.strictEqual((yield* Effect.flip(Money.subtract(Money.negate(max), one)))._tag, "MoneyOverflow")
      assert.strictEqual((yield* Effect.flip(Money.sum("JPY", [max, one, Money.negate(one)])))._tag, "MoneyOverflow")
      assert.deepStrictEqual(yield* Money.add(Money.make(Number.MAX_SAFE_INTEGER - 1, "JPY"), one), max)
    }))

  it("compares within a currency and answers the predicates", () => {
    assert.strictEqual(ok(Money.compareResult(Money.make(1, "EUR"), Money.make(2, "EUR"))), -1)
    assert.strictEqual(ok(Money.compareResult(Money.make(2, "EUR"), Money.make(2, "EUR"))), 0)
    assert.strictEqual(ok(Money.compareResult(Money.make(3, "EUR"), Money.make(-2, "EUR"))), 1)
    assert.isTrue(Money.isZero(Money.zero("KWD")))
    assert.isTrue(Money.isZero(Money.negate(Money.zero("KWD"))))
    assert.isTrue(Money.isNegative(Money.make(-1, "KWD")))
    assert.isFalse(Money.isNegative(Money.make(0, "KWD")))
  })

  it("make rejects non-integer minor units", () => {
    assert.throws(() => Money.make(0.1, "USD"))
    assert.throws(() => Money.make(Number.MAX_SAFE_INTEGER + 1, "USD"))
  })
})

describe("Money text", () => {
  it("formats with the currency's exponent", () => {
    assert.strictEqual(Money.format(Money.make(1234, "USD")), "12.34 USD")
    assert.strictEqual(Money.format(Money.make(-5, "EUR")), "-0.05 EUR")
    assert.strictEqual(Money.format(Money.make(1000, "JPY")), "1000 JPY")
    assert.strictEqual(Money.format(Money.make(1234, "KWD")), "1.234 KWD")
    assert.strictEqual(Money.format(Money.make(7, "BHD")), "0.007 BHD")
    assert.strictEqual(Money.format(Money.make(0, "GBP")), "0.00 GBP")
    assert.strictEqual(Money.format(Money.make(-1, "KRW")), "-1 KRW")
    assert.strictEqual(Money.format(Money.make(Number.MAX_SAFE_INTEGER, "USD")), "90071992547409.91 USD")
  })

  it.effect("parses major units into minor units", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Money.parseMajor("12.34", "USD"), Money.make(1234, "USD"))
      assert.deepStrictEqual(yield* Money.parseMajor("12.3", "USD"), Money.make(1230, "USD"))
      assert.deepStrictEqual(yield* Money.parseMajor("12", "USD"), Money.make(1200, "USD"))
      assert.deepStrictEqual(yield* Money.parseMajor("-0.05", "EUR"), Money.make(-5, "EUR"))
      assert.deepStrictEqual(yield* Money.parseMajor("1000", "JPY"), Money.make(1000, "JPY"))
      assert.deepStrictEqual(yield* Money.parseMajor("1.234", "KWD"), Money.make(1234, "KWD"))
      assert.deepStrictEqual(yield* Money.parseMajor("0.1", "BHD"), Money.make(100, "BHD"))
      assert.deepStrictEqual(
        yield* Money.parseMajor("90071992547409.91", "USD"),
        Money.make(Number.MAX_SAFE_INTEGER, "USD")
      )
      assert.isTrue(Object.is((yield* Money.parseMajor("-0.00", "USD")).amount, 0))
    }))

  it.effect("rejects malformed or over-precise amounts with InvalidAmount", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [string, Money.Currency]> = [
        ["12.345", "USD"],
        ["1.5", "JPY"],
        ["1.", "JPY"],
        ["1.2345", "KWD"],
        ["abc", "USD"],
        ["", "USD"],
        ["1e3", "USD"],
        ["12.", "USD"],
        [".5", "USD"],
        ["--1", "USD"],
        ["+1", "USD"],
        [" 1", "USD"],
        ["1,50", "EUR"],
        ["Infinity", "USD"],
        ["90071992547409.92", "USD"],
        ["9007199254740992", "JPY"]
      ]
      for (const [input, c] of cases) {
        const error = yield* Effect.flip(Money.parseMajor(input, c))
        assert.strictEqual(error._tag, "InvalidAmount", input)
        assert.strictEqual(error.input, input)
      }
    }))

  it("parseMajor inverts toMajorString for every currency and amount", () => {
    fc.assert(fc.property(currency, safeAmount, (c, amount) => {
      const money = Money.make(amount, c)
      const text = Money.toMajorString(money)
      assert.deepStrictEqual(ok(Money.parseMajorResult(text, c)), money)
      assert.strictEqual(Money.format(money), `${text} ${c}`)
      const decimals = text.split(".")[1]?.length ?? 0
      assert.strictEqual(decimals, Money.exponent(c))
    }))
  })

  it("covers the exponents 0, 2 and 3", () => {
    assert.deepStrictEqual(
      ["USD", "EUR", "GBP", "RUB", "JPY", "KRW", "KWD", "BHD"].map((c) => Money.minorUnits[c as Money.Currency]),
      [2, 2, 2, 2, 0, 0, 3, 3]
    )
  })
})

describe("Money schema", () => {
  it("decodes integer minor units of a known currency only", () => {
    const decode = Schema.decodeUnknownResult(Money.Money)
    assert.deepStrictEqual(ok(decode({ amount: -250, currency: "CHF" })), { amount: -250, currency: "CHF" })
    for (const bad of [
      { amount: 1.5, currency: "USD" },
      { amount: 1, currency: "usd" },
      { amount: 1, currency: "XXX" },
      { amount: 2 ** 53, currency: "USD" }
    ]) {
      assert.isTrue(Result.isFailure(decode(bad)), JSON.stringify(bad))
    }
  })
})
