// The admin dashboard's figures, computed by billing in SQL over a date range. Days are UTC calendar days; money
// stays per currency (never converted or summed across currencies), in integer minor units.
import { Schema } from "effect"
import { Currency } from "./money.ts"
import { CalendarDate } from "./time.ts"

/** `from`..`to` inclusive, UTC days; at most 366 days. */
export const DashboardQuery = {
  from: CalendarDate.annotate({ description: "first UTC day, inclusive" }),
  to: CalendarDate.annotate({ description: "last UTC day, inclusive" })
}

/** Net revenue of one day or month in one currency: succeeded charges minus refunds made in it. */
export const RevenuePoint = Schema.Struct({
  /** `YYYY-MM-DD` for a day, `YYYY-MM` for a month */
  period: Schema.String,
  currency: Currency,
  /** minor units of charges that succeeded in the period */
  charged: Schema.Int,
  /** minor units refunded in the period */
  refunded: Schema.Int,
  /** charged − refunded */
  net: Schema.Int
}).annotate({ identifier: "RevenuePoint" })
export type RevenuePoint = typeof RevenuePoint.Type

/** Monthly recurring revenue of one currency: each live paying subscription's plan price per month. */
export const MrrPoint = Schema.Struct({
  currency: Currency,
  /** minor units per month; a yearly plan counts a twelfth of its price, rounded once per currency */
  amount: Schema.Int,
  subscriptions: Schema.Int
}).annotate({ identifier: "MrrPoint" })
export type MrrPoint = typeof MrrPoint.Type

/** A count over a total; `rate` is `count / total` (0 when the total is 0), a ratio, not money. */
export const Ratio = Schema.Struct({
  count: Schema.Int,
  total: Schema.Int,
  rate: Schema.Number
}).annotate({ identifier: "Ratio" })
export type Ratio = typeof Ratio.Type

export const Dashboard = Schema.Struct({
  from: CalendarDate,
  to: CalendarDate,
  /** one point per UTC day and currency with any charge or refund, oldest first */
  revenueByDay: Schema.Array(RevenuePoint),
  /** one point per calendar month (UTC) touching the range and currency, oldest first; only days in the range count */
  revenueByMonth: Schema.Array(RevenuePoint),
  /** subscriptions `active`, `trialing` or `past_due` at the end of `to` */
  activeSubscriptions: Schema.Int,
  /** MRR at the end of `to` of `active` and `past_due` subscriptions (trials pay nothing yet) */
  mrr: Schema.Array(MrrPoint),
  /** of the subscriptions live at the start of `from`, how many ended (canceled or expired, dunning included) by the end of `to` */
  churn: Ratio,
  /** of the charge attempts made in the range, how many failed */
  failedPayments: Ratio
}).annotate({ identifier: "Dashboard" })
export type Dashboard = typeof Dashboard.Type
