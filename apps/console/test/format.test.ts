// How the console shows and reads money: each currency with its own minor units, exactly, never via a float sum.
import { assert, describe, it } from "@effect/vitest"
import { DateTime, Result } from "effect"
import { localMidnight, majorInput, money, parseAmount } from "../web/format.ts"

const digits = (text: string) => text.replace(/[^\d.,-]/g, "")
const us = (amount: number, currency: Parameters<typeof money>[1]) => digits(money(amount, currency, "en-US"))

describe("console formatting", () => {
  it("shows amounts with the currency's own decimals", () => {
    assert.strictEqual(us(1290, "EUR"), "12.90")
    assert.strictEqual(money(1290, "EUR", "de-DE"), "12,90\u00a0€")
    assert.strictEqual(us(1000, "JPY"), "1,000")
    assert.strictEqual(us(1234, "KWD"), "1.234")
    assert.strictEqual(us(-100, "USD"), "-1.00")
    // beyond a double's exact cents the decimal text still comes out exact
    assert.strictEqual(us(999_999_999_999, "IDR"), "9,999,999,999.99")
  })

  it("reads what an admin types into minor units, or says why not", () => {
    assert.deepStrictEqual(parseAmount("9.90", "EUR"), Result.succeed(990))
    assert.deepStrictEqual(parseAmount(" 12,5 ", "EUR"), Result.succeed(1250))
    assert.deepStrictEqual(parseAmount("1000", "JPY"), Result.succeed(1000))
    assert.isTrue(Result.isFailure(parseAmount("1.5", "JPY")))
    assert.isTrue(Result.isFailure(parseAmount("12.345", "EUR")))
    assert.isTrue(Result.isFailure(parseAmount("ten", "EUR")))
    assert.strictEqual(majorInput(990, "EUR"), "9.90")
  })

  it("turns a local day into the instant it starts at, the next day's for an inclusive end", () => {
    const start = localMidnight("2026-03-01")
    const end = localMidnight("2026-03-01", 1)
    const local = new Date(DateTime.toEpochMillis(start))
    assert.deepStrictEqual([local.getFullYear(), local.getMonth(), local.getDate(), local.getHours()], [2026, 2, 1, 0])
    assert.strictEqual(new Date(DateTime.toEpochMillis(end)).getDate(), 2)
  })
})
