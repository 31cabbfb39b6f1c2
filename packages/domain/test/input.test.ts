// The schemas that decide what a client may send: ids, dates and instants, storable text, bounded amounts.
import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { PlanSpec } from "../src/catalog.ts"
import { FilmId, PaymentId, PlanId, ProductId, SubscriptionId, UserId } from "../src/ids.ts"
import { MAX_AMOUNT_ANY_CURRENCY, maxAmount } from "../src/money.ts"
import { CreatePaymentBody } from "../src/payments.ts"
import { unstorableAt } from "../src/text.ts"
import { CalendarDate, Instant } from "../src/time.ts"

const ok = (schema: Schema.Top, input: unknown) =>
  Result.isSuccess(Schema.decodeUnknownResult(schema as Schema.Codec<unknown, unknown>)(input))

describe("ids", () => {
  it("take their prefix and [A-Za-z0-9_-], at most 64 characters", () => {
    const good = [
      [UserId, "usr_3f0e8c1a-5b7d-4c2e-9a1b-0d2c3e4f5a6b"],
      [SubscriptionId, "sub_AbC-1_xYz"],
      [FilmId, "film_0f9c2e"],
      [ProductId, "prod_0f9c2e"],
      [PlanId, "plan_0f9c2e"],
      [PaymentId, `pay_${"a".repeat(60)}`]
    ] as const
    for (const [schema, id] of good) assert.isTrue(ok(schema, id), id)
  })

  it("refuse another prefix, NUL, surrogates, spaces, slashes and 10k characters", () => {
    const bad = [
      "",
      "usr_",
      "sub_1",
      "usr_a\u0000b",
      "usr_\ud800",
      "usr_a b",
      "usr_a/b",
      "usr_ä",
      `usr_${"x".repeat(61)}`,
      "x".repeat(10_000),
      5,
      null
    ]
    for (const id of bad) assert.isFalse(ok(UserId, id), JSON.stringify(id))
  })
})

describe("CalendarDate", () => {
  it("is strict: only days that exist, years 1970..9999", () => {
    for (const day of ["2026-01-31", "2024-02-29", "2000-02-29", "1970-01-01", "9999-12-31"]) {
      assert.isTrue(ok(CalendarDate, day), day)
    }
    for (const day of [
      "2026-02-31",
      "2026-02-30",
      "2026-02-29",
      "1900-02-29",
      "2026-04-31",
      "2026-13-01",
      "2026-00-10",
      "1969-12-31",
      "0000-01-01",
      "+10000-01-01",
      "2026-1-1",
      "2026-01-01T00:00:00Z",
      ""
    ]) {
      assert.isFalse(ok(CalendarDate, day), day)
    }
  })
})

describe("Instant", () => {
  it("takes ISO 8601 with an offset on an existing day in 1970..9999", () => {
    for (const at of [
      "2026-01-31T12:00:00Z",
      "2026-01-31T12:00Z",
      "2026-01-31T12:00:00.123+03:00",
      "2026-01-31",
      "9999-12-31T23:59:59.999Z"
    ]) {
      assert.isTrue(ok(Instant, at), at)
    }
  })

  it("refuses impossible, out-of-range and ambiguous instants", () => {
    for (const at of [
      "-200000-01-01T00:00:00Z",
      "+010000-01-01T00:00:00Z",
      "2026-02-31T00:00:00Z",
      "2026-01-01T24:00:00Z",
      "2026-01-01T12:00:00",
      "0",
      "1e300",
      "Tue, 01 Jan 2026",
      "1969-12-31T23:59:59Z"
    ]) {
      assert.isFalse(ok(Instant, at), at)
    }
  })
})

describe("unstorableAt", () => {
  it("names the first string (or key) holding NUL or a lone surrogate", () => {
    assert.isUndefined(unstorableAt({ a: ["fine", "Амели 🎬", 1, null, { b: true }] }))
    assert.deepStrictEqual(unstorableAt({ a: ["ok", "x\u0000"] }), ["a", 1])
    assert.deepStrictEqual(unstorableAt({ plans: [{ currency: "\udc00" }] }), ["plans", 0, "currency"])
    assert.deepStrictEqual(unstorableAt({ "k\u0000": 1 }), ["k\u0000"])
    assert.deepStrictEqual(unstorableAt("\ud800"), [])
  })

  it("walks a deeply nested document without overflowing the stack", () => {
    let deep: unknown = "x\u0000"
    for (let i = 0; i < 100_000; i++) deep = [deep]
    assert.strictEqual(unstorableAt(deep)?.length, 100_000)
  })
})

describe("amount bounds", () => {
  it("are Stripe's: eight digits of minor units, twelve for IDR", () => {
    assert.strictEqual(maxAmount("USD"), 99_999_999)
    assert.strictEqual(maxAmount("JPY"), 99_999_999)
    assert.strictEqual(maxAmount("IDR"), 999_999_999_999)
    assert.strictEqual(MAX_AMOUNT_ANY_CURRENCY, 999_999_999_999)
  })

  it("bound a charge and a plan by their currency, reported on amount", () => {
    const charge = (amount: number, currency: string) =>
      Schema.decodeUnknownResult(CreatePaymentBody)({ invoiceId: "inv_1", userId: "usr_1", amount, currency })
    assert.isTrue(Result.isSuccess(charge(99_999_999, "USD")))
    assert.isTrue(Result.isSuccess(charge(999_999_999_999, "IDR")))
    for (
      const [amount, currency] of [
        [100_000_000, "USD"],
        [9_007_199_254_740_991, "USD"],
        [1_000_000_000_000, "IDR"],
        [0, "USD"]
      ] as const
    ) {
      const result = charge(amount, currency)
      assert.isTrue(Result.isFailure(result), `${amount} ${currency}`)
      if (Result.isFailure(result)) assert.include(String(result.failure), "amount")
    }
    assert.isTrue(ok(PlanSpec, { interval: "month", amount: 99_999_999, currency: "EUR" }))
    assert.isFalse(ok(PlanSpec, { interval: "month", amount: 100_000_000, currency: "EUR" }))
  })
})
