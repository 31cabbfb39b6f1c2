// The viewer's subscriptions: cancel (at period end or now) and resume.
import type { Subscription } from "@kassa/domain/billing"
import { dateTime } from "../format.ts"
import { api } from "../session.ts"
import { ErrorBox, PagedTable, pageQuery, Status, useAction, usePagedLoad } from "../ui.tsx"
import { useProductNames } from "./products.ts"

const ended = (s: Subscription) => s.status === "canceled" || s.status === "expired" || s.status === "incomplete_expired"

function Row({ subscription, product, onChange }: { subscription: Subscription; product: string; onChange: () => void }) {
  const action = useAction()
  const call = (f: () => Promise<unknown>) => void action.act(f).then(onChange)
  const id = subscription.id
  return (
    <tr>
      <td>{product}</td>
      <td><Status value={subscription.status} />{subscription.cancelAtPeriodEnd ? <small> ends at period end</small> : null}</td>
      <td>{dateTime(subscription.currentPeriodStart)} – {dateTime(subscription.currentPeriodEnd)}</td>
      <td className="actions">
        {ended(subscription) ? null : subscription.cancelAtPeriodEnd
          ? (
            <button type="button" disabled={action.busy} onClick={() => call(() => api((c) => c.billing.subscriptions.resume({ params: { id } })))}>
              Resume
            </button>
          )
          : (
            <>
              <button
                type="button"
                disabled={action.busy}
                onClick={() => call(() => api((c) => c.billing.subscriptions.cancel({ params: { id }, payload: { atPeriodEnd: true } })))}
              >
                Cancel at period end
              </button>
              <button
                type="button"
                className="secondary"
                disabled={action.busy}
                onClick={() => call(() => api((c) => c.billing.subscriptions.cancel({ params: { id }, payload: { atPeriodEnd: false } })))}
              >
                Cancel now
              </button>
            </>
          )}
        <ErrorBox error={action.error} />
      </td>
    </tr>
  )
}

export function MySubscriptions() {
  const list = usePagedLoad((paging) => api((c) => c.billing.subscriptions.list({ query: pageQuery(paging) })), [])
  const names = useProductNames(list.loaded.data?.items.map((s) => s.productId) ?? [])
  return (
    <section>
      <h1>Your subscriptions</h1>
      <PagedTable
        list={list}
        empty={<>You have no subscriptions yet. <a href="#/">See the products</a>.</>}
        columns={["Product", "Status", "Period", "Actions"]}
        row={(s) => <Row key={s.id} subscription={s} product={names.get(s.productId) ?? s.productId} onChange={list.loaded.reload} />}
      />
    </section>
  )
}
