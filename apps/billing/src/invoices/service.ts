// "Pay now" for an open invoice, by reserve → call → apply with no lock held across the charge. A pay and a cancel
// of one invoice are decided by the recorded state: the pay charges only an invoice it reads open; if a cancel
// voids the invoice while the charge is in flight, the outcome path finds the invoice closed, records the payment as
// stray and it is refunded in full (here at once, and by the scheduler should this request not get that far).
import type { CurrentUser } from "@kassa/domain/auth"
import { InvoiceNotOpen, type PayInvoiceError, PayResult } from "@kassa/domain/billing"
import { NotFound } from "@kassa/domain/errors"
import type { InvoiceId } from "@kassa/domain/ids"
import { orUnavailable } from "@kassa/platform/validation"
import { Context, Effect, Layer, Option } from "effect"
import { derivedId, IdempotencyStore } from "@kassa/platform/idempotency"
import { PaymentsGateway } from "../ledger/gateway.ts"
import { InvoicesRepo } from "../ledger/invoices.ts"
import { isUnsettled, outcomePending, Outcomes } from "../ledger/outcomes.ts"
import { PaymentsRepo } from "../ledger/payments.ts"
import { toInvoice, toPayment } from "../ledger/rows.ts"
import { Refunds } from "../refunds/service.ts"

export class Invoices extends Context.Service<Invoices, {
  pay(
    user: CurrentUser["Service"],
    invoiceId: InvoiceId,
    key: string,
    request: { readonly paymentMethod?: string }
  ): Effect.Effect<PayResult, PayInvoiceError>
}>()("billing/Invoices") {
  static readonly layer = Layer.effect(
    Invoices,
    Effect.gen(function*() {
      const invoices = yield* InvoicesRepo
      const payments = yield* PaymentsRepo
      const gateway = yield* PaymentsGateway
      const outcomes = yield* Outcomes
      const refunds = yield* Refunds
      const idempotency = yield* IdempotencyStore

      const payOnce = (
        user: CurrentUser["Service"],
        invoiceId: InvoiceId,
        key: string,
        paymentMethod: string | undefined
      ) =>
        Effect.gen(function*() {
          const found = yield* invoices.findInvoice(invoiceId, { owner: user.id })
          if (Option.isNone(found)) return yield* new NotFound({ message: "invoice not found", resource: "invoice" })
          const invoice = found.value
          if (invoice.row.status !== "open") {
            return yield* new InvoiceNotOpen({
              message: `invoice ${invoiceId} is ${invoice.row.status}; only an open invoice can be paid`,
              invoiceId,
              status: invoice.row.status
            })
          }
          const charged = yield* gateway.charge({
            idempotencyKey: `billing:${invoiceId}:pay:${derivedId("key", user.id, key)}`,
            invoiceId,
            userId: user.id,
            amount: invoice.row.amount,
            currency: invoice.row.currency,
            ...(paymentMethod === undefined ? {} : { paymentMethod })
          })
          yield* outcomes.apply(charged)
          // paid an invoice a cancel closed meanwhile: the money goes back now rather than at the next cycle
          const stray = yield* payments.findPayment(charged.id).pipe(
            Effect.map(Option.exists((row) => row.status === "succeeded" && row.straySince !== null))
          )
          if (stray) yield* refunds.returnStray(charged.id).pipe(Effect.ignore)
          const [after, payment] = yield* Effect.all([
            invoices.findInvoice(invoiceId),
            payments.findPayment(charged.id)
          ], {
            concurrency: "unbounded"
          })
          const result = {
            invoice: toInvoice(Option.getOrThrow(after)),
            payment: Option.match(payment, { onNone: () => charged, onSome: toPayment })
          }
          if (isUnsettled(result.payment.status)) {
            return yield* outcomePending(result)
          }
          return result
        })

      const pay = (
        user: CurrentUser["Service"],
        invoiceId: InvoiceId,
        key: string,
        request: { readonly paymentMethod?: string }
      ) =>
        idempotency.run(
          { scope: user.id, key, operation: `pay:${invoiceId}`, request, response: PayResult },
          payOnce(user, invoiceId, key, request.paymentMethod)
        ).pipe(orUnavailable)

      return Invoices.of({ pay })
    })
  )
}
