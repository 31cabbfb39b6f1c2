// The statement ("Request a statement", «Запросить выписку» in the product's brief): a viewer's invoices, payments
// and refunds in a range of days, as JSON or CSV, with balances per currency.
import { Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiSchema, OpenApi } from "effect/http-api"
import { Authentication } from "./auth.ts"
import { BadRequest, ServiceUnavailable } from "./errors.ts"
import { InvoiceId, UserId } from "./ids.ts"
import { Currency } from "./money.ts"
import { CalendarDate, UtcDateTime } from "./time.ts"
import { RequestValidation } from "./validation.ts"

/**
 * One line of a statement. Signs are from the viewer's side: an invoice is a charge (negative), a payment pays it
 * (positive), a refund's credit note reduces the charge (`credit`, positive) and its payout is money returned
 * (`refund`, negative); a fully refunded invoice nets to zero.
 */
export const StatementEntry = Schema.Struct({
  at: UtcDateTime,
  kind: Schema.Literals(["invoice", "credit", "payment", "refund"]),
  /** the invoice, payment or credit line the entry comes from */
  reference: Schema.String,
  invoiceId: InvoiceId,
  amount: Schema.Int,
  currency: Currency,
  /** running balance in the entry's currency, after it */
  balance: Schema.Int
}).annotate({ identifier: "StatementEntry" })
export type StatementEntry = typeof StatementEntry.Type

export const StatementBalance = Schema.Struct({
  currency: Currency,
  opening: Schema.Int,
  closing: Schema.Int
}).annotate({ identifier: "StatementBalance" })
export type StatementBalance = typeof StatementBalance.Type

export const Statement = Schema.Struct({
  userId: UserId,
  /** the range as asked, in the account's time zone, both days included */
  from: Schema.String,
  to: Schema.String,
  timeZone: Schema.String,
  balances: Schema.Array(StatementBalance),
  entries: Schema.Array(StatementEntry)
}).annotate({ identifier: "Statement" })
export type Statement = typeof Statement.Type

export const StatementQuery = {
  from: CalendarDate,
  to: CalendarDate,
  /** default json */
  format: Schema.optionalKey(Schema.Literals(["json", "csv"]))
}

/** The CSV rendering: text/csv with `Content-Disposition: attachment`. */
export const StatementCsv = HttpApiSchema.WithHeaders(
  Schema.String.pipe(HttpApiSchema.asText({ contentType: "text/csv; charset=utf-8" })),
  { "content-disposition": Schema.String }
)

export class StatementGroup extends HttpApiGroup.make("statement")
  .add(
    HttpApiEndpoint.get("get", "/v1/statement", {
      query: StatementQuery,
      success: [Statement, StatementCsv],
      error: [BadRequest, ServiceUnavailable]
    }).annotate(OpenApi.Summary, "Your statement for a date range (JSON or CSV)")
  )
  .middleware(RequestValidation)
  .middleware(Authentication)
  .annotateMerge(OpenApi.annotations({
    title: "Statement",
    description:
      "Request a statement («Запросить выписку»): invoices, payments and refunds in a range of at most one " +
      "year, with opening, closing and running balances per currency; format=csv downloads the same as CSV"
  }))
{}
