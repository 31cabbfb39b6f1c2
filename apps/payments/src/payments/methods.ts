// A user's saved payment methods as the provider holds them: listed with the one charged by default, and removed
// (detached). Attaching stays with the charge flows (Payments.attachPaymentMethod), which create the customer.
import { NotFound, type ProviderUnavailable, type ServiceUnavailable, type UserId } from "@kassa/domain"
import type { PaymentMethod, PaymentMethods as PaymentMethodList } from "@kassa/domain/payments"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import { Provider } from "./provider.ts"
import { PaymentsRepo } from "./repo.ts"
import { orUnavailable } from "@kassa/platform/validation"

const notYours = () => new NotFound({ message: "no such payment method among yours", resource: "payment_method" })

export class PaymentMethods extends Context.Service<PaymentMethods, {
  list(userId: UserId): Effect.Effect<PaymentMethodList, ProviderUnavailable | ServiceUnavailable>
  /** Detaches one of the user's methods; when it was the default, the user has no default any more. */
  detach(
    userId: UserId,
    paymentMethod: string
  ): Effect.Effect<PaymentMethod, NotFound | ProviderUnavailable | ServiceUnavailable>
}>()("payments/PaymentMethods") {
  static readonly layer = Layer.effect(
    PaymentMethods,
    Effect.gen(function*() {
      const repo = yield* PaymentsRepo
      const provider = yield* Provider

      const list = (userId: UserId) =>
        Effect.gen(function*() {
          const customer = yield* repo.findCustomer(userId)
          if (Option.isNone(customer)) return { items: [] }
          const methods = yield* provider.listMethods(customer.value.providerCustomerId)
          return { items: methods.map((m) => ({ ...m, isDefault: m.id === customer.value.defaultPaymentMethod })) }
        }).pipe(
          orUnavailable,
          Effect.withSpan("PaymentMethods.list", { attributes: { userId } }, { captureStackTrace: false })
        )

      const detach = (userId: UserId, paymentMethod: string) =>
        Effect.gen(function*() {
          const customer = yield* repo.findCustomer(userId)
          if (Option.isNone(customer)) return yield* notYours()
          const found = yield* provider.findMethod(paymentMethod)
          if (Option.isNone(found) || found.value.customer !== customer.value.providerCustomerId) {
            return yield* notYours()
          }
          const { customer: _, ...method } = found.value
          const wasDefault = customer.value.defaultPaymentMethod === paymentMethod
          // first no default, then the detach: a charge never picks a default that is gone; a failed detach leaves
          // the card saved (not default), and the same DELETE can be sent again
          if (wasDefault) yield* repo.clearDefaultPaymentMethod(userId, paymentMethod, yield* DateTime.now)
          if (!(yield* provider.detach(userId, paymentMethod))) return yield* notYours()
          return { ...method, isDefault: wasDefault }
        }).pipe(
          orUnavailable,
          Effect.withSpan("PaymentMethods.detach", { attributes: { userId } }, { captureStackTrace: false })
        )

      return PaymentMethods.of({ list, detach })
    })
  )
}
