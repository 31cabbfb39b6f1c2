// The viewer's invoices and payments; a payment can be canceled (refunded in full) inside the refund window.
import { useState } from "react"
import type { Invoice } from "@kassa/domain/billing"
import type { Payment } from "@kassa/domain/payments"
import { newKey } from "../api.ts"
import { dateTime, money } from "../format.ts"
import { api } from "../session.ts"
import { Confirm, ErrorBox, Notice, PagedTable, pageQuery, Select, Status, useAction, usePagedLoad } from "../ui.tsx"
import { type TestCard, testCards } from "./cards.ts"

/** Why a payment cannot be canceled, or undefined when it can be asked for (the server still checks the window). */
export const whyNotCancelable = (payment: Payment): string | undefined => {
  switch (payment.status) {
    case "succeeded":
    case "partially_refunded":
    case "pending":
      return undefined
    case "refunded":
      return "Refunded in full already."
    case "failed":
      return "Nothing was taken: the payment failed."
    case "canceled":
      return "Canceled already."
    case "unknown":
      return "The card provider has not confirmed this payment yet; try again later."
  }
}

function CancelPayment({ payment, onDone }: { payment: Payment; onDone: () => void }) {
  const [confirming, setConfirming] = useState(false)
  const [key] = useState(newKey)
  const why = whyNotCancelable(payment)
  if (why !== undefined) return <small>{why}</small>
  if (!confirming) {
    return <button type="button" onClick={() => setConfirming(true)}>Cancel payment</button>
  }
  return (
    <Confirm
      label="Confirm the cancel"
      confirm="Yes, cancel the payment"
      busy="Canceling…"
      back="Keep it"
      onBack={() => setConfirming(false)}
      onConfirm={async () => {
        await api((c) => c.billing.payments.cancel({ params: { id: payment.id }, headers: { "idempotency-key": key } }))
        onDone()
      }}
    >
      Cancel this payment of {money(payment.amount - payment.refundedAmount, payment.currency)}? The money goes back to your card,
      the subscription it paid for ends and its films are no longer available.
    </Confirm>
  )
}

function PayInvoice({ invoice, onDone }: { invoice: Invoice; onDone: () => void }) {
  const [card, setCard] = useState<TestCard>("pm_card_visa")
  const [key, setKey] = useState(newKey)
  const [declined, setDeclined] = useState<string | undefined>(undefined)
  const action = useAction()
  return (
    <form
      className="inline"
      onSubmit={(e) => {
        e.preventDefault()
        void action.act(async () => {
          const result = await api((c) =>
            c.billing.invoices.pay({ params: { id: invoice.id }, headers: { "idempotency-key": key }, payload: { paymentMethod: card } })
          )
          setKey(newKey())
          if (result.payment.status === "failed") {
            setDeclined(`Your card was declined: ${result.payment.failureMessage ?? "the payment failed"}`)
          } else onDone()
        })
      }}
    >
      <Select label={`Card for invoice ${invoice.id}`} value={card} options={testCards} onChange={setCard} />
      <button type="submit" disabled={action.busy}>Pay {money(invoice.amount, invoice.currency)}</button>
      <ErrorBox error={action.error ?? declined} />
    </form>
  )
}

export function MyBilling() {
  const invoices = usePagedLoad((paging) => api((c) => c.billing.invoices.list({ query: pageQuery(paging, 10) })), [])
  const payments = usePagedLoad((paging) => api((c) => c.billing.payments.list({ query: pageQuery(paging, 10) })), [])
  const reload = () => {
    invoices.loaded.reload()
    payments.loaded.reload()
  }
  return (
    <section>
      <h1>Invoices &amp; payments</h1>
      <h2>Invoices</h2>
      <PagedTable
        list={invoices}
        empty="No invoices yet."
        columns={["Created", "Status", "Amount", "Refunded", "Period", "Pay"]}
        row={(invoice) => (
          <tr key={invoice.id}>
            <td>{dateTime(invoice.createdAt)}</td>
            <td><Status value={invoice.status} /></td>
            <td className="num">{money(invoice.amount, invoice.currency)}</td>
            <td className="num">{invoice.creditedAmount === 0 ? "—" : money(invoice.creditedAmount, invoice.currency)}</td>
            <td>{dateTime(invoice.periodStart)} – {dateTime(invoice.periodEnd)}</td>
            <td>{invoice.status === "open" ? <PayInvoice invoice={invoice} onDone={reload} /> : null}</td>
          </tr>
        )}
      />
      <h2>Payments</h2>
      <Notice>A payment can be canceled within the refund window after it was made; the money is returned in full.</Notice>
      <PagedTable
        list={payments}
        empty="No payments yet."
        columns={["Made", "Status", "Amount", "Refunded", "Cancel"]}
        row={(payment) => (
          <tr key={payment.id}>
            <td>{dateTime(payment.createdAt)}</td>
            <td>
              <Status value={payment.status} />
              {payment.failureMessage === undefined ? null : <small> {payment.failureMessage}</small>}
            </td>
            <td className="num">{money(payment.amount, payment.currency)}</td>
            <td className="num">{payment.refundedAmount === 0 ? "—" : money(payment.refundedAmount, payment.currency)}</td>
            <td><CancelPayment payment={payment} onDone={reload} /></td>
          </tr>
        )}
      />
    </section>
  )
}
