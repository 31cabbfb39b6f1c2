// The invoices group of BillingApi: the viewer's own invoices, and paying an open one.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { NotFound } from "@kassa/domain/errors"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { toInvoice } from "../ledger/rows.ts"
import { Invoices } from "./service.ts"

export const InvoicesHttpLive = HttpApiBuilder.group(BillingApi, "invoices", (handlers) =>
  Effect.gen(function*() {
    const service = yield* Invoices
    const repo = yield* InvoicesRepo
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
      .handle(
        "pay",
        ({ headers, params, payload }) =>
          Effect.flatMap(CurrentUser, (user) => service.pay(user, params.id, headers["idempotency-key"], payload))
      )
  }))
