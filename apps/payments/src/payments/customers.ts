// A user's provider customer (made on first use and never changed once recorded) and the cards saved on it.
import type { UserId } from "@kassa/domain"
import type { AttachPaymentMethodInput, Customer, EnsureCustomerInput, PaymentMethod } from "@kassa/domain/payments"
import type { BadRequest, ProviderUnavailable, ServiceUnavailable } from "@kassa/domain/errors"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, DateTime, Effect, Layer, Option } from "effect"
import type { SqlError } from "effect/sql"
import { LRUCache } from "lru-cache"
import { Provider } from "./provider.ts"
import { PaymentsRepo } from "./repo.ts"
import type { CustomerRow } from "./rows.ts"

export class Customers extends Context.Service<Customers, {
  /** The user's customer row, the provider customer made (and recorded) first if there is none. */
  ensureRow(
    userId: UserId,
    email: string | undefined
  ): Effect.Effect<CustomerRow, ProviderUnavailable | SqlError.SqlError>
  /** The user's provider customer id, from memory once known. */
  providerCustomerFor(userId: UserId): Effect.Effect<string, ProviderUnavailable | SqlError.SqlError>
  ensureCustomer(
    input: EnsureCustomerInput
  ): Effect.Effect<Customer, BadRequest | ProviderUnavailable | ServiceUnavailable>
  attachPaymentMethod(
    input: AttachPaymentMethodInput
  ): Effect.Effect<PaymentMethod, BadRequest | ProviderUnavailable | ServiceUnavailable>
}>()("payments/Customers") {
  static readonly layer = Layer.effect(
    Customers,
    Effect.gen(function*() {
      const repo = yield* PaymentsRepo
      const provider = yield* Provider

      const ensureRow = (userId: UserId, email: string | undefined) =>
        Effect.gen(function*(): Effect.fn.Return<CustomerRow, ProviderUnavailable | SqlError.SqlError> {
          const existing = yield* repo.findCustomer(userId)
          if (Option.isSome(existing)) return existing.value
          const providerCustomerId = yield* provider.createCustomer(userId, email)
          return yield* repo.insertCustomer(userId, providerCustomerId, yield* DateTime.now)
        })

      // A user's provider customer never changes once recorded, so charges that name their payment method need
      // no lookup; least recently used dropped first.
      const customerIds = new LRUCache<UserId, string>({ max: 10_000 })
      const providerCustomerFor = (userId: UserId) =>
        Effect.suspend(() => {
          const cached = customerIds.get(userId)
          if (cached !== undefined) return Effect.succeed(cached)
          return Effect.map(ensureRow(userId, undefined), (row) => {
            customerIds.set(userId, row.providerCustomerId)
            return row.providerCustomerId
          })
        })

      const toCustomer = (row: CustomerRow): Customer => ({
        userId: row.userId,
        providerCustomerId: row.providerCustomerId,
        defaultPaymentMethod: row.defaultPaymentMethod
      })

      const ensureCustomer = (input: EnsureCustomerInput) =>
        ensureRow(input.userId, input.email).pipe(
          Effect.map(toCustomer),
          orUnavailable
        )

      const attachPaymentMethod = (input: AttachPaymentMethodInput) =>
        Effect.gen(function*() {
          const customer = yield* ensureRow(input.userId, undefined)
          const attached = yield* provider.attach(input.userId, customer.providerCustomerId, input.paymentMethod)
          const makeDefault = input.makeDefault ?? true
          if (makeDefault) {
            yield* provider.setDefault(input.userId, customer.providerCustomerId, attached.id)
            yield* repo.setDefaultPaymentMethod(input.userId, attached.id, yield* DateTime.now)
          }
          return { ...attached, isDefault: makeDefault || customer.defaultPaymentMethod === attached.id }
        }).pipe(orUnavailable)

      return Customers.of({ ensureRow, providerCustomerFor, ensureCustomer, attachPaymentMethod })
    })
  )
}
