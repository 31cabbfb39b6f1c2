// The invoices group of BillingApi: the viewer's own invoices, and paying an open one.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { NotFound } from "@kassa/domain/errors"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { BillingRepo, toInvoice } from "../subscriptions/repo.ts"
import { Billing } from "../subscriptions/service.ts"

export const InvoicesHttpLive = HttpApiBuilder.group(BillingApi, "invoices", (handlers) =>
  Effect.gen(function*() {
    const billing = yield* Billing
    const repo = yield* BillingRepo
    return handlers
      .handle("list", ({ query }) =>
        Effect.gen(function*() {
          const user = yield* CurrentUser
          const page = yield* repo.listInvoices(user.id, yield* resolvePageQuery(query))
          return { items: page.items.map(toInvoice), nextCursor: page.nextCursor }
        }).pipe(orUnavailable))
      .handle("get", ({ params }) =>
        Effect.gen(function*() {
          const user = yield* CurrentUser
          const invoice = yield* repo.findInvoice(params.id, { owner: user.id })
          if (Option.isNone(invoice)) return yield* new NotFound({ message: "invoice not found", resource: "invoice" })
          return toInvoice(invoice.value)
        }).pipe(orUnavailable))
      .handle("pay", ({ headers, params, payload }) =>
        Effect.flatMap(CurrentUser, (user) => billing.pay(user, params.id, headers["idempotency-key"], payload)))
  }))
