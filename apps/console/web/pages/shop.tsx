// The products on sale, and subscribing to one of their plans with a card.
import { useState } from "react"
import type { SubscribeResult } from "@kassa/domain/billing"
import type { OfferedPlan, ProductOffer } from "@kassa/domain/products"
import { newKey } from "../api.ts"
import { money, dateTime } from "../format.ts"
import { api, useSession } from "../session.ts"
import { Async, Empty, ErrorBox, Notice, Pager, pageQuery, Select, useAction, usePagedLoad } from "../ui.tsx"
import { type TestCard, testCards } from "./cards.ts"

export const planLabel = (plan: Pick<OfferedPlan, "amount" | "currency" | "interval" | "trialDays">) =>
  `${money(plan.amount, plan.currency)} per ${plan.interval}${plan.trialDays > 0 ? `, ${plan.trialDays} days free` : ""}`

/** What the subscribe answer means for the viewer: paid, in trial, declined (with the card's reason), or pending. */
export function SubscribeOutcome({ result }: { result: SubscribeResult }) {
  const { subscription, payment, invoice } = result
  if (payment?.status === "failed") {
    return (
      <p className="error" role="alert">
        Payment declined: {payment.failureMessage ?? "the card was refused."}
        {payment.failureCode === undefined ? "" : ` (${payment.failureCode})`}. Nothing was charged; the invoice of{" "}
        {money(invoice.amount, invoice.currency)} stays open under Invoices &amp; payments, where you can pay it with another card.
      </p>
    )
  }
  if (subscription.status === "active" || subscription.status === "trialing") {
    return (
      <Notice>
        Subscribed ({subscription.status}) until {dateTime(subscription.currentPeriodEnd)}. Your films are under{" "}
        <a href="#/watch">My films</a>.
      </Notice>
    )
  }
  return <Notice>Subscription {subscription.status.replaceAll("_", " ")}: the payment is still being processed.</Notice>
}

function SubscribeForm({ plan, onDone }: { plan: OfferedPlan; onDone: () => void }) {
  const [card, setCard] = useState<TestCard>("pm_card_visa")
  const [key] = useState(newKey)
  const [result, setResult] = useState<SubscribeResult | undefined>(undefined)
  const action = useAction()
  if (result !== undefined) {
    return (
      <div className="panel">
        <SubscribeOutcome result={result} />
        <button type="button" onClick={onDone}>Close</button>
      </div>
    )
  }
  return (
    <form
      className="panel"
      onSubmit={(e) => {
        e.preventDefault()
        void action.act(async () => {
          setResult(
            await api((c) =>
              c.billing.subscriptions.create({
                headers: { "idempotency-key": key },
                payload: { planId: plan.id, paymentMethod: card }
              })
            )
          )
        })
      }}
    >
      <Select label="Card (test payment method)" value={card} options={testCards} onChange={setCard} />
      <p>You will be charged {planLabel(plan)}.</p>
      <ErrorBox error={action.error} />
      <div className="actions">
        <button type="submit" disabled={action.busy}>{action.busy ? "Subscribing…" : "Pay and subscribe"}</button>
        <button type="button" className="secondary" onClick={onDone}>Cancel</button>
      </div>
    </form>
  )
}

function Offer({ product }: { product: ProductOffer }) {
  const session = useSession()
  const [choosing, setChoosing] = useState<OfferedPlan | undefined>(undefined)
  return (
    <article className="card">
      <h2>{product.name}</h2>
      {product.description === "" ? null : <p>{product.description}</p>}
      <p className="films">
        <strong>Films:</strong> {product.films.length === 0 ? "none yet" : product.films.map((f) => f.title).join(", ")}
      </p>
      <ul className="plans">
        {product.plans.map((plan) => (
          <li key={plan.id}>
            <span>{planLabel(plan)}</span>
            {session.status === "signed-in"
              ? (
                <button type="button" onClick={() => setChoosing(plan)} aria-label={`Subscribe to ${product.name}: ${planLabel(plan)}`}>
                  Subscribe
                </button>
              )
              : null}
          </li>
        ))}
      </ul>
      {session.status === "signed-out" ? <p><a href="#/signin">Sign in</a> or <a href="#/signup">sign up</a> to subscribe.</p> : null}
      {choosing === undefined ? null : <SubscribeForm key={choosing.id} plan={choosing} onDone={() => setChoosing(undefined)} />}
    </article>
  )
}

export function Shop() {
  const { paging, loaded } = usePagedLoad((paging) => api((c) => c.billing.products.list({ query: pageQuery(paging, 12) })), [])
  return (
    <section>
      <h1>Products on sale</h1>
      <Async loaded={loaded}>
        {(page) => (
          <>
            {page.items.length === 0 ? <Empty>Nothing is on sale yet.</Empty> : null}
            <div className="grid">
              {page.items.filter((p) => p.status === "active").map((product) => <Offer key={product.id} product={product} />)}
            </div>
            <Pager paging={paging} nextCursor={page.nextCursor} />
          </>
        )}
      </Async>
    </section>
  )
}
