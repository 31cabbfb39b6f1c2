// Admin: one invoice with its lines, payments (and what was refunded of them) and audit trail; a refund of any
// amount up to what is left, with a reason, after a confirmation step.
import { useState } from "react"
import { Result } from "effect"
import type { AdminInvoiceDetail } from "@kassa/domain/billing-admin"
import type { InvoiceId } from "@kassa/domain/ids"
import type { Payment } from "@kassa/domain/payments"
import { ApiError, newKey } from "../api.ts"
import { dateTime, majorInput, money, parseAmount } from "../format.ts"
import { api } from "../session.ts"
import { Async, Confirm, Empty, ErrorBox, Field, Notice, Status, Table, useAction, useLoad } from "../ui.tsx"

function Refund({ payment, onDone }: { payment: Payment; onDone: (message: string) => void }) {
  const left = payment.amount - payment.refundedAmount
  const [amount, setAmount] = useState(majorInput(left, payment.currency))
  const [reason, setReason] = useState("")
  const [review, setReview] = useState<{ minor: number; key: string } | undefined>(undefined)
  const action = useAction()
  if (left <= 0 || (payment.status !== "succeeded" && payment.status !== "partially_refunded")) return null
  if (review === undefined) {
    return (
      <form
        className="inline"
        aria-label={`Refund payment ${payment.id}`}
        onSubmit={(e) => {
          e.preventDefault()
          const minor = parseAmount(amount, payment.currency)
          if (Result.isFailure(minor)) return action.setError(new ApiError(minor.failure, undefined))
          if (minor.success < 1 || minor.success > left) {
            return action.setError(new ApiError(`The refund must be between ${money(1, payment.currency)} and ${money(left, payment.currency)}.`, undefined))
          }
          if (reason.trim() === "") return action.setError(new ApiError("Give a reason: it is kept in the audit trail.", undefined))
          action.setError(undefined)
          setReview({ minor: minor.success, key: newKey() })
        }}
      >
        <Field label={`Refund amount (${payment.currency})`} value={amount} onChange={setAmount} inputMode="decimal" required />
        <Field label="Reason" value={reason} onChange={setReason} required />
        <button type="submit">Review refund</button>
        <ErrorBox error={action.error} />
      </form>
    )
  }
  return (
    <Confirm
      label="Confirm the refund"
      confirm="Confirm refund"
      busy="Refunding…"
      back="Back"
      onBack={() => setReview(undefined)}
      onConfirm={async () => {
        await api((c) =>
          c.billing.adminBilling.refund({
            params: { id: payment.id },
            headers: { "idempotency-key": review.key },
            payload: { amount: review.minor, reason }
          })
        )
        onDone(`Refunded ${money(review.minor, payment.currency)}.`)
      }}
    >
      Refund {money(review.minor, payment.currency)} of payment <code>{payment.id}</code> to the customer's card? Reason: “{reason.trim()}”.
      This cannot be undone.
    </Confirm>
  )
}

function Detail({ detail, onChange }: { detail: AdminInvoiceDetail; onChange: (message: string) => void }) {
  const { invoice, payments, audit } = detail
  return (
    <>
      <dl className="facts">
        <dt>Status</dt><dd><Status value={invoice.status} /></dd>
        <dt>User</dt><dd><a href={`#/admin/subscribers/${invoice.userId}`}><code>{invoice.userId}</code></a></dd>
        <dt>Subscription</dt><dd><code>{invoice.subscriptionId}</code></dd>
        <dt>Amount</dt><dd>{money(invoice.amount, invoice.currency)}</dd>
        <dt>Credited</dt><dd>{money(invoice.creditedAmount, invoice.currency)}</dd>
        <dt>Period</dt><dd>{dateTime(invoice.periodStart)} – {dateTime(invoice.periodEnd)}</dd>
        <dt>Created</dt><dd>{dateTime(invoice.createdAt)}</dd>
      </dl>
      <Table caption="Lines" columns={["Kind", "Description", "Period", "Amount"]}>
        {invoice.lines.map((line, i) => (
          <tr key={i}>
            <td>{line.kind}</td>
            <td>{line.description}</td>
            <td>{dateTime(line.periodStart)} – {dateTime(line.periodEnd)}</td>
            <td className="num">{money(line.amount, line.currency)}</td>
          </tr>
        ))}
      </Table>
      <h2>Payments and refunds</h2>
      {payments.length === 0 ? <Empty>No payment was made on this invoice.</Empty> : (
        <Table columns={["Payment", "Status", "Amount", "Refunded", "Made", "Refund"]}>
          {payments.map((payment) => (
            <tr key={payment.id}>
              <td><code>{payment.id}</code></td>
              <td>
                <Status value={payment.status} />
                {payment.failureMessage === undefined ? null : <small> {payment.failureMessage}</small>}
              </td>
              <td className="num">{money(payment.amount, payment.currency)}</td>
              <td className="num">{money(payment.refundedAmount, payment.currency)}</td>
              <td>{dateTime(payment.createdAt)}</td>
              <td><Refund payment={payment} onDone={onChange} /></td>
            </tr>
          ))}
        </Table>
      )}
      <h2>Audit trail</h2>
      {audit.length === 0 ? <Empty>No admin has changed this invoice or its payments.</Empty> : (
        <Table columns={["When", "Action", "Object", "By", "Reason", "Details"]}>
          {audit.map((entry) => (
            <tr key={entry.id}>
              <td>{dateTime(entry.at)}</td>
              <td>{entry.action}</td>
              <td>{entry.objectType} <code>{entry.objectId}</code></td>
              <td><code>{entry.actorId}</code></td>
              <td>{entry.reason}</td>
              <td><code className="details">{JSON.stringify(entry.details)}</code></td>
            </tr>
          ))}
        </Table>
      )}
    </>
  )
}

export function AdminInvoice({ id }: { id: string }) {
  const [notice, setNotice] = useState<string | undefined>(undefined)
  const loaded = useLoad(() => api((c) => c.billing.adminBilling.invoice({ params: { id: id as InvoiceId } })), [id])
  return (
    <section>
      <p><a href="#/admin/invoices">← Invoices</a></p>
      <h1>Invoice <code>{id}</code></h1>
      {notice === undefined ? null : <Notice>{notice}</Notice>}
      <Async loaded={loaded}>
        {(detail) => <Detail detail={detail} onChange={(message) => (setNotice(message), loaded.reload())} />}
      </Async>
    </section>
  )
}
