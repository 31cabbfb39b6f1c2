// "Отменить платеж" and "Запросить выписку" end to end: billing and payments in-process on the real services with
// the Stripe sandbox. A canceled payment is refunded, its subscription ends, and the statement shows the refund;
// the CSV statement parses back to the JSON figures.
import { assert, describe, it as plain, layer } from "@effect/vitest"
import { PaymentId } from "@kassa/domain/ids"
import { serverUrl } from "@kassa/platform/http"
import { DateTime, Effect } from "effect"
import { HttpServer } from "effect/http"
import { buildStatement, csvHeader, statementCsv } from "../src/statements/statement.ts"
import {
  billingEvents,
  BillingWithPayments,
  errorTag,
  newKey,
  seedPlan,
  testAdmin as adminForTests,
  viewer
} from "./billing-harness.ts"
import { billingClient } from "./support.ts"

/** RFC 4180 reader: enough for what statementCsv writes (quoted fields, doubled quotes, CRLF). */
const parseCsv = (text: string): Array<Array<string>> => {
  const rows: Array<Array<string>> = []
  let row: Array<string> = []
  let field = ""
  let quoted = false
  for (let i = 0; i < text.length; i++) {
    const c = text[i]
    if (quoted) {
      if (c === "\"" && text[i + 1] === "\"") (field += "\"", i++)
      else if (c === "\"") quoted = false
      else field += c
    } else if (c === "\"") quoted = true
    else if (c === ",") (row.push(field), field = "")
    else if (c === "\r" && text[i + 1] === "\n") (row.push(field), rows.push(row), row = [], field = "", i++)
    else field += c
  }
  return rows
}

const today = Effect.map(DateTime.now, (now) => DateTime.formatIso(now).slice(0, 10))

const testAdmin = adminForTests()

layer(BillingWithPayments(testAdmin.config), { excludeTestServices: true, timeout: 60_000 })(
  "cancel payment and statement",
  (it) => {
    it.effect("cancel a succeeded payment → refunded, subscription canceled, statement shows the refund; twice → 409", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan({ amount: 2500 })
        const { client, token } = yield* viewer()
        const { invoice, payment, subscription } = yield* client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_visa" }
        })
        assert.isNotNull(payment)
        if (payment === null) return
        const canceled = yield* client.payments.cancel({
          params: { id: payment.id },
          headers: { "idempotency-key": newKey() }
        })
        assert.deepStrictEqual([canceled.status, canceled.refundedAmount], ["refunded", 2500])
        const ended = yield* client.subscriptions.get({ params: { id: subscription.id } })
        assert.strictEqual(ended.status, "canceled")
        assert.isTrue(
          ended.currentPeriodEnd !== null &&
            DateTime.toEpochMillis(ended.currentPeriodEnd) <= DateTime.toEpochMillis(yield* DateTime.now)
        )
        const credited = yield* client.invoices.get({ params: { id: invoice.id } })
        assert.deepStrictEqual(credited.lines.map((l) => [l.kind, l.amount]), [["plan", 2500], ["credit", -2500]])
        assert.strictEqual(
          yield* errorTag(
            client.payments.cancel({ params: { id: payment.id }, headers: { "idempotency-key": newKey() } })
          ),
          "AlreadyRefunded"
        )
        assert.deepStrictEqual(yield* billingEvents(subscription.id), [
          "subscription.created",
          "subscription.activated",
          "subscription.canceled"
        ])

        const day = yield* today
        const statement = yield* client.statement.get({ query: { from: day, to: day } })
        if (typeof statement !== "object" || !("entries" in statement)) {
          return assert.fail("expected the JSON statement")
        }
        assert.deepStrictEqual(statement.entries.map((e) => [e.kind, e.amount, e.balance]), [
          ["invoice", -2500, -2500],
          ["payment", 2500, 0],
          ["credit", 2500, 2500],
          ["refund", -2500, 0]
        ])
        assert.deepStrictEqual(statement.balances, [{ currency: "EUR", opening: 0, closing: 0 }])

        // the CSV is an attachment whose rows are the JSON entries
        const url = serverUrl(yield* HttpServer.HttpServer)
        const csv = yield* Effect.promise(async () => {
          const response = await fetch(`${url}/v1/statement?from=${day}&to=${day}&format=csv`, {
            headers: { authorization: `Bearer ${token}` }
          })
          return {
            status: response.status,
            type: response.headers.get("content-type"),
            disposition: response.headers.get("content-disposition"),
            text: await response.text()
          }
        })
        assert.strictEqual(csv.status, 200)
        assert.match(csv.type ?? "", /^text\/csv/)
        assert.match(csv.disposition ?? "", /^attachment; filename="statement-/)
        const [header, ...rows] = parseCsv(csv.text)
        assert.deepStrictEqual(header, [...csvHeader])
        assert.deepStrictEqual(
          rows.map((r) => [r[1], Number(r[4]), r[5], Number(r[6])]),
          statement.entries.map((e) => [e.kind, e.amount, e.currency, e.balance])
        )
      }))

    it.effect("cancel payment: someone else's → 404; a pending/declined one → 409", () =>
      Effect.gen(function*() {
        const { planId } = yield* seedPlan()
        const owner = yield* viewer("owner")
        const other = yield* viewer("other")
        const { payment } = yield* owner.client.subscriptions.create({
          headers: { "idempotency-key": newKey() },
          payload: { planId, paymentMethod: "pm_card_chargeDeclined" }
        })
        const id = PaymentId.make(payment?.id ?? "none")
        assert.strictEqual(
          yield* errorTag(other.client.payments.cancel({ params: { id }, headers: { "idempotency-key": newKey() } })),
          "NotFound"
        )
        assert.strictEqual(
          yield* errorTag(owner.client.payments.cancel({ params: { id }, headers: { "idempotency-key": newKey() } })),
          "PaymentNotRefundable"
        )
      }))

    it.effect("statement range: from > to or over a year → 400 naming the field; someone else's data never shows", () =>
      Effect.gen(function*() {
        const { client } = yield* viewer()
        const backwards = yield* Effect.flip(client.statement.get({ query: { from: "2026-02-01", to: "2026-01-01" } }))
        assert.deepStrictEqual(
          [backwards._tag, backwards._tag === "BadRequest" ? backwards.field : null],
          ["BadRequest", "from"]
        )
        // one calendar year at most, whatever its length
        const overAYear: ReadonlyArray<readonly [string, string]> = [
          ["2025-01-01", "2026-01-01"],
          ["2024-01-01", "2025-01-01"],
          ["2024-02-29", "2025-03-01"]
        ]
        const aYear: ReadonlyArray<readonly [string, string]> = [
          ["2025-01-01", "2025-12-31"],
          ["2024-01-01", "2024-12-31"],
          ["2024-02-29", "2025-02-28"]
        ]
        for (const [from, to] of overAYear) {
          const long = yield* Effect.flip(client.statement.get({ query: { from, to } }))
          assert.deepStrictEqual(
            [long._tag, long._tag === "BadRequest" ? long.field : null],
            ["BadRequest", "to"],
            `${from}..${to}`
          )
        }
        for (const [from, to] of aYear) {
          yield* client.statement.get({ query: { from, to } })
        }
        const day = yield* today
        const empty = yield* client.statement.get({ query: { from: day, to: day } })
        assert.deepStrictEqual(typeof empty === "object" && "entries" in empty ? empty.entries : null, [])
      }))

    it.effect("statement dates are parsed strictly: a day that does not exist, or a year out of 1970..9999, is 400 naming it", () =>
      Effect.gen(function*() {
        const { token, account } = yield* viewer()
        const admin = (yield* (yield* billingClient()).auth.token({
          payload: { email: testAdmin.config.ADMIN_EMAIL, password: testAdmin.config.ADMIN_PASSWORD }
        })).accessToken
        const base = serverUrl(yield* HttpServer.HttpServer)
        const ask = (path: string, bearer: string) =>
          Effect.promise(async () => {
            const response = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${bearer}` } })
            const body = await response.json() as { _tag: string; field?: string }
            return [response.status, body._tag, body.field]
          })
        const cases: ReadonlyArray<readonly [string, string, string]> = [
          ["2026-02-31", "2026-03-01", "from"], // was answered 200, echoing the impossible day
          ["2026-02-30", "2026-03-01", "from"], // was "from must not be after to"
          ["2026-01-01", "2026-02-29", "to"],
          ["2026-04-31", "2026-05-01", "from"],
          ["0000-01-01", "0000-01-02", "from"],
          ["1969-12-31", "1970-01-01", "from"]
        ]
        for (const [from, to, field] of cases) {
          const query = `from=${from}&to=${to}`
          assert.deepStrictEqual(yield* ask(`/v1/statement?${query}`, token), [400, "BadRequest", field], query)
          assert.deepStrictEqual(yield* ask(`/admin/v1/users/${account.id}/statement?${query}`, admin), [
            400,
            "BadRequest",
            field
          ], query)
        }
        assert.deepStrictEqual((yield* ask("/v1/statement?from=2024-02-29&to=2024-03-01", token)).slice(0, 1), [200])
      }))
  }
)

describe("statement arithmetic", () => {
  plain("opening balance from earlier rows, running balance per currency, CSV quoting per RFC 4180", () => {
    const at = (iso: string) => DateTime.toDateUtc(DateTime.makeUnsafe(iso))
    const row = (
      iso: string,
      kind: "invoice" | "payment",
      amount: number,
      currency: "EUR" | "USD",
      reference = "r"
    ) => ({ at: at(iso), kind, reference, invoiceId: "inv_1" as never, amount, currency })
    const { balances, entries } = buildStatement([
      row("2026-01-01T00:00:00Z", "invoice", -100, "EUR"),
      row("2026-02-01T00:00:00Z", "payment", 100, "EUR"),
      row("2026-02-02T00:00:00Z", "invoice", -50, "USD", "a,\"b\""),
      row("2026-03-05T00:00:00Z", "invoice", -70, "EUR")
    ], { start: DateTime.makeUnsafe("2026-01-15T00:00:00Z"), end: DateTime.makeUnsafe("2026-03-01T00:00:00Z") })
    assert.deepStrictEqual(entries.map((e) => [e.currency, e.balance]), [["EUR", 0], ["USD", -50]])
    assert.deepStrictEqual(balances, [
      { currency: "EUR", opening: -100, closing: 0 },
      { currency: "USD", opening: 0, closing: -50 }
    ])
    const csv = statementCsv({
      userId: "u" as never,
      from: "2026-01-15",
      to: "2026-02-28",
      timeZone: "UTC",
      balances,
      entries
    })
    assert.include(csv, "\"a,\"\"b\"\"\"")
    assert.isTrue(csv.endsWith("\r\n"))
  })
})
