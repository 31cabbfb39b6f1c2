// The adminBilling group of BillingApi ("Просмотр счетов и оплат"): every user's invoices, payments and
// subscriptions with filters, an invoice with its payments and audit trail, any user's statement, refunds, and one
// scheduler cycle on demand (run apart from the request) and its record. Admin role only (adminGroup).
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { NotFound } from "@kassa/domain/errors"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Statements } from "../statements/statement.ts"
import { DashboardFigures } from "./dashboard.ts"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { PaymentsRepo } from "../ledger/payments.ts"
import { toInvoice, toPayment, toSubscription } from "../ledger/rows.ts"
import { Refunds } from "../refunds/service.ts"
import { Parking } from "../scheduler/parking.ts"
import { SchedulerRuns } from "../scheduler/runs.ts"
import { type AdminFilters, AdminRepo } from "./repo.ts"

const filtersOf = (query: AdminFilters): AdminFilters => query

export const AdminBillingHttpLive = HttpApiBuilder.group(
  BillingApi,
  "adminBilling",
  (handlers) =>
    Effect.gen(function*() {
      const admin = yield* AdminRepo
      const invoices = yield* InvoicesRepo
      const paymentsRepo = yield* PaymentsRepo
      const refunds = yield* Refunds
      const runs = yield* SchedulerRuns
      const scheduler = yield* Parking
      const statements = yield* Statements
      const dashboard = yield* DashboardFigures
      return handlers
        .handle("invoices", ({ query }) =>
          Effect.gen(function*() {
            const page = yield* admin.invoices(filtersOf(query), yield* resolvePageQuery(query))
            return { items: page.items.map(toInvoice), nextCursor: page.nextCursor }
          }).pipe(orUnavailable))
        .handle("invoice", ({ params }) =>
          Effect.gen(function*() {
            const invoice = yield* invoices.findInvoice(params.id)
            if (Option.isNone(invoice)) {
              return yield* new NotFound({ message: "invoice not found", resource: "invoice" })
            }
            const payments = yield* paymentsRepo.paymentsOf(params.id)
            const audit = yield* admin.auditOf([params.id, ...payments.map((p) => p.id)])
            return { invoice: toInvoice(invoice.value), payments: payments.map(toPayment), audit }
          }).pipe(orUnavailable))
        .handle("payments", ({ query }) =>
          Effect.gen(function*() {
            const page = yield* admin.payments(filtersOf(query), yield* resolvePageQuery(query))
            return { items: page.items.map(toPayment), nextCursor: page.nextCursor }
          }).pipe(orUnavailable))
        .handle("subscriptions", ({ query }) =>
          Effect.gen(function*() {
            const page = yield* admin.subscriptions(filtersOf(query), yield* resolvePageQuery(query))
            return { items: page.items.map(toSubscription), nextCursor: page.nextCursor }
          }).pipe(orUnavailable))
        .handle("dashboard", ({ query }) => orUnavailable(dashboard.of(query.from, query.to)))
        .handle("statement", ({ params, query }) => orUnavailable(statements.of(params.id, query.from, query.to)))
        .handle(
          "refund",
          ({ headers, params, payload }) =>
            Effect.flatMap(CurrentUser, (user) => refunds.refund(user, params.id, headers["idempotency-key"], payload))
        )
        .handle(
          "unpark",
          ({ params, payload }) =>
            Effect.flatMap(
              CurrentUser,
              (user) => Effect.map(scheduler.unpark(user, params.id, payload.reason), toSubscription)
            )
        )
        .handle("run", () => runs.start)
        .handle("runStatus", ({ params }) => runs.status(params.id))
    })
)
