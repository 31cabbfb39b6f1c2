// The paymentMethods group of BillingApi: attach a card (the Stripe customer is created on first use through
// payments) and make it the default that renewals charge; list the viewer's cards; remove one.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { PaymentsRpcClient } from "@kassa/payments/client"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Billing, fromRpc } from "../subscriptions/service.ts"

export const PaymentMethodsHttpLive = HttpApiBuilder.group(BillingApi, "paymentMethods", (handlers) =>
  Effect.gen(function*() {
    const billing = yield* Billing
    const payments = yield* PaymentsRpcClient
    return handlers
      .handle("add", ({ payload }) => Effect.flatMap(CurrentUser, (user) => billing.addPaymentMethod(user, payload.paymentMethod)))
      .handle("list", () => Effect.flatMap(CurrentUser, (user) => fromRpc(payments.ListPaymentMethods({ userId: user.id }))))
      .handle("remove", ({ params }) =>
        Effect.flatMap(CurrentUser, (user) =>
          fromRpc(payments.DetachPaymentMethod({ userId: user.id, paymentMethod: params.id })).pipe(Effect.asVoid)))
  }))
