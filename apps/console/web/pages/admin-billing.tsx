// Admin: every invoice and every payment, filtered by user, status, product and creation days (the user's zone).
import { type ReactNode, useState } from "react"
import type { InvoiceStatus } from "@kassa/domain/billing"
import type { ProductId, UserId } from "@kassa/domain/ids"
import { paymentStatuses, type PaymentStatus } from "@kassa/domain/payments"
import { dateTime, localMidnight, money } from "../format.ts"
import { api } from "../session.ts"
import { Field, PagedTable, pageQuery, type Paging, Select, Status, usePagedLoad } from "../ui.tsx"

export interface Filters<S extends string> {
  readonly user: string
  readonly status: S | ""
  readonly product: string
  readonly from: string
  readonly to: string
}

/** The admin list query for the filters: days are the user's local days, `to` inclusive (the API's is exclusive). */
export const filterQuery = <S extends string>(f: Filters<S>, paging: Paging) => ({
  ...pageQuery(paging),
  ...(f.user.trim() === "" ? {} : { userId: f.user.trim() as UserId }),
  ...(f.product.trim() === "" ? {} : { productId: f.product.trim() as ProductId }),
  ...(f.status === "" ? {} : { status: f.status }),
  ...(f.from === "" ? {} : { from: localMidnight(f.from) }),
  ...(f.to === "" ? {} : { to: localMidnight(f.to, 1) })
})

function FilterForm<S extends string>(props: {
  initial: Filters<S>
  statuses: ReadonlyArray<S>
  onApply: (filters: Filters<S>) => void
}) {
  const [f, setF] = useState(props.initial)
  const set = (change: Partial<Filters<S>>) => setF({ ...f, ...change })
  return (
    <form
      className="filters"
      aria-label="Filters"
      onSubmit={(e) => {
        e.preventDefault()
        props.onApply(f)
      }}
    >
      <Field label="User id" value={f.user} onChange={(user) => set({ user })} placeholder="usr_…" />
      <Select
        label="Status"
        value={f.status}
        options={[["" as const, "Any"], ...props.statuses.map((s) => [s, s.replaceAll("_", " ")] as const)]}
        onChange={(status) => set({ status })}
      />
      <Field label="Product id" value={f.product} onChange={(product) => set({ product })} placeholder="prod_…" />
      <Field label="Created from" type="date" value={f.from} onChange={(from) => set({ from })} />
      <Field label="Created to" type="date" value={f.to} onChange={(to) => set({ to })} />
      <button type="submit">Apply filters</button>
    </form>
  )
}

const noFilters = (user: string) => ({ user, status: "" as const, product: "", from: "", to: "" })

const UserLink = ({ id }: { id: string }) => <a href={`#/admin/subscribers/${id}`}><code>{id}</code></a>

function Listing(props: { title: string; filters: ReactNode; children: ReactNode }) {
  return (
    <section>
      <h1>{props.title}</h1>
      {props.filters}
      {props.children}
    </section>
  )
}

const invoiceStatuses: ReadonlyArray<InvoiceStatus> = ["draft", "open", "paid", "void", "uncollectible"]

export function AdminInvoices({ initialUser }: { initialUser: string }) {
  const [filters, setFilters] = useState<Filters<InvoiceStatus>>(noFilters(initialUser))
  const list = usePagedLoad((paging) => api((c) => c.billing.adminBilling.invoices({ query: filterQuery(filters, paging) })), [filters])
  return (
    <Listing
      title="Invoices"
      filters={<FilterForm initial={filters} statuses={invoiceStatuses} onApply={(f) => (list.paging.reset(), setFilters(f))} />}
    >
      <PagedTable
        list={list}
        empty="No invoice matches these filters."
        columns={["Invoice", "User", "Status", "Amount", "Refunded", "Created"]}
        row={(invoice) => (
          <tr key={invoice.id}>
            <td><a href={`#/admin/invoices/${invoice.id}`}><code>{invoice.id}</code></a></td>
            <td><UserLink id={invoice.userId} /></td>
            <td><Status value={invoice.status} /></td>
            <td className="num">{money(invoice.amount, invoice.currency)}</td>
            <td className="num">{invoice.creditedAmount === 0 ? "—" : money(invoice.creditedAmount, invoice.currency)}</td>
            <td>{dateTime(invoice.createdAt)}</td>
          </tr>
        )}
      />
    </Listing>
  )
}

export function AdminPayments({ initialUser }: { initialUser: string }) {
  const [filters, setFilters] = useState<Filters<PaymentStatus>>(noFilters(initialUser))
  const list = usePagedLoad((paging) => api((c) => c.billing.adminBilling.payments({ query: filterQuery(filters, paging) })), [filters])
  return (
    <Listing
      title="Payments"
      filters={<FilterForm initial={filters} statuses={paymentStatuses} onApply={(f) => (list.paging.reset(), setFilters(f))} />}
    >
      <PagedTable
        list={list}
        empty="No payment matches these filters."
        columns={["Payment", "User", "Status", "Amount", "Refunded", "Made", "Invoice"]}
        row={(payment) => (
          <tr key={payment.id}>
            <td><code>{payment.id}</code></td>
            <td><UserLink id={payment.userId} /></td>
            <td>
              <Status value={payment.status} />
              {payment.failureCode === undefined ? null : <small> {payment.failureCode}</small>}
            </td>
            <td className="num">{money(payment.amount, payment.currency)}</td>
            <td className="num">{payment.refundedAmount === 0 ? "—" : money(payment.refundedAmount, payment.currency)}</td>
            <td>{dateTime(payment.createdAt)}</td>
            <td><a href={`#/admin/invoices/${payment.invoiceId}`}><code>{payment.invoiceId}</code></a></td>
          </tr>
        )}
      />
    </Listing>
  )
}
