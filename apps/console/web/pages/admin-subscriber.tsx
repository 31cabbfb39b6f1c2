// Admin: one user's subscriptions with the scheduler's view of each (next charge, dunning), the films they give,
// their open invoices and the user's statement. Built from the admin lists filtered by the user.
import { useState } from "react"
import type { Subscription } from "@kassa/domain/billing"
import type { UserId } from "@kassa/domain/ids"
import type { Payment } from "@kassa/domain/payments"
import { dateTime, daysAgo } from "../format.ts"
import { api } from "../session.ts"
import { Async, DayRange, Empty, ErrorBox, Field, navigate, Status, Table, useDayRange, useLoad } from "../ui.tsx"
import { useProductOffers } from "./products.ts"
import { StatementTables } from "./statement-table.tsx"

/** What the scheduler will do next with the subscription, in words. */
const schedulerState = (s: Subscription, failures: number): string => {
  if (s.parkedAt !== null) return `Parked ${dateTime(s.parkedAt)}: ${s.parkedReason ?? "safety bound"}; billing stops until an admin unparks it.`
  switch (s.status) {
    case "active":
      return s.cancelAtPeriodEnd ? `Ends ${dateTime(s.currentPeriodEnd)}; no further charge.` : `Next charge at ${dateTime(s.currentPeriodEnd)}.`
    case "trialing":
      return s.cancelAtPeriodEnd ? `Trial ends ${dateTime(s.currentPeriodEnd)}; no charge.` : `Trial ends and first charge at ${dateTime(s.currentPeriodEnd)}.`
    case "past_due":
      return `Dunning: ${failures} failed attempt${failures === 1 ? "" : "s"} on the open invoice${s.failureCode === null ? "" : ` (last: ${s.failureCode})`}; the scheduler retries on its schedule, then cancels.`
    case "incomplete":
      return `First payment failed${s.failureCode === null ? "" : ` (${s.failureCode})`}; expires if not paid within a day of subscribing.`
    default:
      return "Ended; nothing scheduled."
  }
}

const live = (s: Subscription) => s.status === "active" || s.status === "trialing" || s.status === "past_due"

function Subscriber({ userId }: { userId: UserId }) {
  const days = useDayRange(daysAgo(30), daysAgo(0))
  const { range } = days
  const data = useLoad(
    () =>
      api((c) =>
        c.billing.adminBilling.subscriptions({ query: { userId, limit: 100 } })
      ).then(async (subscriptions) => ({
        subscriptions: subscriptions.items,
        open: (await api((c) => c.billing.adminBilling.invoices({ query: { userId, status: "open", limit: 100 } }))).items,
        failed: (await api((c) => c.billing.adminBilling.payments({ query: { userId, status: "failed", limit: 100 } }))).items
      })),
    [userId]
  )
  const statement = useLoad(() => api((c) => c.billing.adminBilling.statement({ params: { id: userId }, query: range })), [userId, range.from, range.to])
  const offers = useProductOffers(data.data?.subscriptions.map((s) => s.productId) ?? [])
  const failuresOf = (s: Subscription, open: ReadonlyArray<{ id: string; subscriptionId: string }>, failed: ReadonlyArray<Payment>) => {
    const invoices = new Set(open.filter((i) => i.subscriptionId === s.id).map((i) => i.id))
    return failed.filter((p) => invoices.has(p.invoiceId)).length
  }
  return (
    <>
      <p>
        <a href={`#/admin/invoices?user=${userId}`}>Invoices</a> · <a href={`#/admin/payments?user=${userId}`}>Payments</a>
      </p>
      <h2>Subscriptions and schedule</h2>
      <Async loaded={data}>
        {({ subscriptions, open, failed }) =>
          subscriptions.length === 0 ? <Empty>This user has no subscriptions.</Empty> : (
            <Table columns={["Product", "Status", "Period", "Scheduler"]}>
              {subscriptions.map((s) => (
                <tr key={s.id}>
                  <td>{offers.get(s.productId)?.name ?? s.productId}<br /><small><code>{s.id}</code></small></td>
                  <td><Status value={s.status} /></td>
                  <td>{dateTime(s.currentPeriodStart)} – {dateTime(s.currentPeriodEnd)}</td>
                  <td>{schedulerState(s, failuresOf(s, open, failed))}</td>
                </tr>
              ))}
            </Table>
          )}
      </Async>
      <h2>Entitlements</h2>
      <Async loaded={data}>
        {({ subscriptions }) => {
          const granting = subscriptions.filter(live)
          return granting.length === 0 ? <Empty>No live subscription: the user may not watch any film.</Empty> : (
            <ul className="films-list">
              {granting.map((s) => (
                <li key={s.id}>
                  <strong>{offers.get(s.productId)?.name ?? s.productId}</strong> until {dateTime(s.currentPeriodEnd)}:{" "}
                  {offers.get(s.productId)?.films.map((f) => f.title).join(", ") || "no films"}
                </li>
              ))}
            </ul>
          )
        }}
      </Async>
      <h2>Statement</h2>
      <DayRange range={days} />
      <Async loaded={statement}>{(s) => <StatementTables statement={s} />}</Async>
    </>
  )
}

export function AdminSubscriber({ userId }: { userId: string }) {
  const [input, setInput] = useState(userId)
  return (
    <section>
      <h1>Subscriber</h1>
      <form className="filters" role="search" onSubmit={(e) => (e.preventDefault(), navigate(`/admin/subscribers/${input.trim()}`))}>
        <Field label="User id" value={input} onChange={setInput} placeholder="usr_…" hint="Open a user from an invoice or a payment." />
        <button type="submit">Open</button>
      </form>
      {userId === "" ? null : /^usr_[A-Za-z0-9_-]+$/.test(userId) ? <Subscriber key={userId} userId={userId as UserId} /> : (
        <ErrorBox error="That is not a user id (usr_…)." />
      )}
    </section>
  )
}
