// The payments group of BillingApi: billing's record of the viewer's own payments, and "Отменить платеж".
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { NotFound } from "@kassa/domain/errors"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { PaymentsRepo } from "../ledger/payments.ts"
import { toPayment } from "../ledger/rows.ts"
import { Refunds } from "../refunds/service.ts"

export const PaymentsHttpLive = HttpApiBuilder.group(BillingApi, "payments", (handlers) =>
  Effect.gen(function*() {
    const repo = yield* PaymentsRepo
    const refunds = yield* Refunds
    return handlers
      .handle("list", ({ query }) =>
        Effect.gen(function*() {
          const user = yield* CurrentUser
          const page = yield* repo.listPayments(user.id, yield* resolvePageQuery(query))
          return { items: page.items.map(toPayment), nextCursor: page.nextCursor }
        }).pipe(orUnavailable))
      .handle("get", ({ params }) =>
        Effect.gen(function*() {
          const user = yield* CurrentUser
          const payment = yield* repo.findPayment(params.id, { owner: user.id })
          if (Option.isNone(payment)) return yield* new NotFound({ message: "payment not found", resource: "payment" })
          return toPayment(payment.value)
        }).pipe(orUnavailable))
      .handle(
        "cancel",
        ({ headers, params }) =>
          Effect.flatMap(CurrentUser, (user) => refunds.cancelPayment(user, params.id, headers["idempotency-key"]))
      )
  }))
