// The subscriptions group of BillingApi: the viewer's own subscriptions only.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { NotFound } from "@kassa/domain/errors"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect, Option } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { toSubscription } from "../ledger/rows.ts"
import { SubscriptionsRepo } from "../ledger/subscriptions.ts"
import { Subscriptions } from "./service.ts"

export const SubscriptionsHttpLive = HttpApiBuilder.group(
  BillingApi,
  "subscriptions",
  (handlers) =>
    Effect.gen(function*() {
      const service = yield* Subscriptions
      const repo = yield* SubscriptionsRepo
      return handlers
        .handle(
          "create",
          ({ headers, payload }) =>
            Effect.flatMap(CurrentUser, (user) => service.subscribe(user, headers["idempotency-key"], payload))
        )
        .handle("list", ({ query }) =>
          Effect.gen(function*() {
            const user = yield* CurrentUser
            const page = yield* repo.listSubscriptions(user.id, yield* resolvePageQuery(query))
            return { items: page.items.map(toSubscription), nextCursor: page.nextCursor }
          }).pipe(orUnavailable))
        .handle("get", ({ params }) =>
          Effect.gen(function*() {
            const user = yield* CurrentUser
            const row = yield* repo.findSubscription(params.id, { owner: user.id })
            if (Option.isNone(row)) {
              return yield* new NotFound({ message: "subscription not found", resource: "subscription" })
            }
            return toSubscription(row.value)
          }).pipe(orUnavailable))
        .handle(
          "cancel",
          ({ params, payload }) =>
            Effect.flatMap(
              CurrentUser,
              (user) => Effect.map(service.cancel(user, params.id, payload.atPeriodEnd ?? true), toSubscription)
            )
        )
        .handle(
          "resume",
          ({ params }) =>
            Effect.flatMap(CurrentUser, (user) => Effect.map(service.resume(user, params.id), toSubscription))
        )
    })
)
