// Billing's calls to the payments service, with the payments service unreachable (or refusing our service token, a
// deployment fault) as a 503 either way. Every call that moves money carries a key derived from billing's own ids,
// so a retry, a second replica or a run after a crash never charges or refunds twice.
import type { CurrentUser } from "@kassa/domain/auth"
import { ServiceUnavailable } from "@kassa/domain/errors"
import type { UserId } from "@kassa/domain/ids"
import type { CancelPaymentInput, CreatePaymentInput } from "@kassa/domain/payments"
import { PaymentsRpcClient } from "@kassa/clients"
import { Context, Effect, Layer } from "effect"

const unreachable = () => new ServiceUnavailable({ message: "the payments service is unavailable; try again" })

/**
 * The RPC client's transport and auth failures become ServiceUnavailable, and so does a defect payments sent back (its
 * bug or its outage is, to billing, payments being unavailable: logged, never billing's 500); the contract's own
 * errors pass through.
 */
const reachable = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.catchIf(
    effect,
    (error): error is Extract<E, { readonly _tag: "RpcClientError" | "Unauthorized" }> =>
      error._tag === "RpcClientError" || error._tag === "Unauthorized",
    () => Effect.fail(unreachable())
  ).pipe(
    Effect.catchDefect((defect) =>
      Effect.andThen(Effect.logError("the payments service failed a call", defect), Effect.fail(unreachable()))
    )
  )

const make = Effect.gen(function*() {
  const rpc = yield* PaymentsRpcClient
  return {
    charge: (input: CreatePaymentInput) => reachable(rpc.CreatePayment(input)),
    cancel: (input: CancelPaymentInput) => reachable(rpc.CancelPayment(input)),
    /** Creates the Stripe customer on first use, then attaches the method and makes it the default. */
    addPaymentMethod: (user: CurrentUser["Service"], paymentMethod: string) =>
      reachable(Effect.gen(function*() {
        yield* rpc.EnsureCustomer({ userId: user.id, email: user.email })
        return yield* rpc.AttachPaymentMethod({ userId: user.id, paymentMethod, makeDefault: true })
      })),
    listPaymentMethods: (userId: UserId) => reachable(rpc.ListPaymentMethods({ userId })),
    /** Detaches the card (the default becomes none if it was the default). */
    removePaymentMethod: (userId: UserId, paymentMethod: string) =>
      reachable(rpc.DetachPaymentMethod({ userId, paymentMethod })).pipe(Effect.asVoid),
    /** Whether the user has a default payment method an off-session charge could use. */
    hasDefaultPaymentMethod: (userId: UserId) =>
      reachable(Effect.map(rpc.EnsureCustomer({ userId }), (customer) => customer.defaultPaymentMethod !== null))
  }
})

export class PaymentsGateway
  extends Context.Service<PaymentsGateway, Effect.Success<typeof make>>()("billing/PaymentsGateway")
{
  static readonly layer = Layer.effect(PaymentsGateway, make)
}
