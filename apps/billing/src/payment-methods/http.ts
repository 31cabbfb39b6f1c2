// The paymentMethods group of BillingApi: attach a card (the Stripe customer is created on first use through
// payments) and make it the default that renewals charge; list the viewer's cards; remove one.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { PaymentsGateway } from "../ledger/gateway.ts"

export const PaymentMethodsHttpLive = HttpApiBuilder.group(
  BillingApi,
  "paymentMethods",
  (handlers) =>
    Effect.gen(function*() {
      const gateway = yield* PaymentsGateway
      return handlers
        .handle(
          "add",
          ({ payload }) => Effect.flatMap(CurrentUser, (user) => gateway.addPaymentMethod(user, payload.paymentMethod))
        )
        .handle("list", () => Effect.flatMap(CurrentUser, (user) => gateway.listPaymentMethods(user.id)))
        .handle(
          "remove",
          ({ params }) => Effect.flatMap(CurrentUser, (user) => gateway.removePaymentMethod(user.id, params.id))
        )
    })
)
