// Admin: products built from films, with plans (price, currency, interval, trial); archive. A changed price makes
// a new plan version: existing subscribers keep the plan (and price) they bought.
import { useState } from "react"
import { Result } from "effect"
import type { PlanInterval, PlanSpec, Product, ProductStatus } from "@kassa/domain/catalog"
import type { FilmId, ProductId } from "@kassa/domain/ids"
import { currencies, type Currency } from "@kassa/domain/money"
import { ApiError } from "../api.ts"
import { dateTime, majorInput, parseAmount } from "../format.ts"
import { api } from "../session.ts"
import {
  Async,
  Confirm,
  Empty,
  ErrorBox,
  Field,
  Loading,
  navigate,
  Notice,
  PagedTable,
  pageQuery,
  Select,
  Status,
  Table,
  useAction,
  useLoad,
  usePagedLoad
} from "../ui.tsx"
import { planLabel } from "./shop.tsx"

export function AdminProducts() {
  const [status, setStatus] = useState<ProductStatus>("active")
  const list = usePagedLoad((paging) => api((c) => c.catalog.products.list({ query: { status, ...pageQuery(paging) } })), [status])
  return (
    <section>
      <h1>Products</h1>
      <div className="filters">
        <Select
          label="Status"
          value={status}
          options={[["active", "On sale"], ["archived", "Archived"]]}
          onChange={(s) => (list.paging.reset(), setStatus(s))}
        />
        <button type="button" onClick={() => navigate("/admin/products/new")}>New product</button>
      </div>
      <PagedTable
        list={list}
        empty={`No ${status === "active" ? "products on sale" : "archived products"}.`}
        columns={["Name", "Films", "Plans offered", "Changed"]}
        row={(p) => (
          <tr key={p.id}>
            <td><a href={`#/admin/products/${p.id}`}>{p.name}</a></td>
            <td>{p.filmIds.length}</td>
            <td>{p.plans.filter((plan) => plan.status === "active").map(planLabel).join("; ") || "—"}</td>
            <td>{dateTime(p.updatedAt)}</td>
          </tr>
        )}
      />
    </section>
  )
}

interface PlanRow {
  readonly key: number
  interval: PlanInterval
  currency: Currency
  amount: string
  trialDays: string
}

let rowKey = 0
const newRow = (plan?: Product["plans"][number]): PlanRow => ({
  key: rowKey++,
  interval: plan?.interval ?? "month",
  currency: plan?.currency ?? "EUR",
  amount: plan === undefined ? "" : majorInput(plan.amount, plan.currency),
  trialDays: String(plan?.trialDays ?? 0)
})

const toSpecs = (rows: ReadonlyArray<PlanRow>): Result.Result<Array<PlanSpec>, string> => {
  const specs: Array<PlanSpec> = []
  for (const row of rows) {
    const amount = parseAmount(row.amount, row.currency)
    if (Result.isFailure(amount)) return Result.fail(`Plan ${row.interval}/${row.currency}: ${amount.failure}`)
    specs.push({ interval: row.interval, currency: row.currency, amount: amount.success, trialDays: Number(row.trialDays || "0") })
  }
  return Result.succeed(specs)
}

function FilmPicker({ chosen, onChange }: { chosen: ReadonlyArray<FilmId>; onChange: (ids: Array<FilmId>) => void }) {
  const [search, setSearch] = useState("")
  const films = useLoad(
    () => api((c) => c.catalog.films.list({ query: { limit: 100, ...(search.trim() === "" ? {} : { search }) } })),
    [search]
  )
  return (
    <fieldset>
      <legend>Films ({chosen.length} chosen)</legend>
      <Field label="Find films" type="search" value={search} onChange={setSearch} />
      <Async loaded={films}>
        {(page) =>
          page.items.length === 0 ? <Empty>No films match.</Empty> : (
            <ul className="checks">
              {page.items.map((film) => (
                <li key={film.id}>
                  <label>
                    <input
                      type="checkbox"
                      checked={chosen.includes(film.id)}
                      onChange={(e) => onChange(e.target.checked ? [...chosen, film.id] : chosen.filter((id) => id !== film.id))}
                    />{" "}
                    {film.title} ({film.releaseYear})
                  </label>
                </li>
              ))}
            </ul>
          )}
      </Async>
    </fieldset>
  )
}

function ProductEditor({ product, onSaved }: { product: Product | undefined; onSaved: (product: Product) => void }) {
  const [name, setName] = useState(product?.name ?? "")
  const [description, setDescription] = useState(product?.description ?? "")
  const [filmIds, setFilmIds] = useState<Array<FilmId>>([...(product?.filmIds ?? [])])
  const active = product?.plans.filter((p) => p.status === "active") ?? []
  const [rows, setRows] = useState<Array<PlanRow>>(active.length === 0 ? [newRow()] : active.map(newRow))
  const action = useAction()
  const [archiving, setArchiving] = useState(false)
  const readOnly = product?.status === "archived"
  const update = (key: number, change: Partial<PlanRow>) => setRows((all) => all.map((r) => (r.key === key ? { ...r, ...change } : r)))
  return (
    <form
      className="panel"
      aria-label="Product"
      onSubmit={(e) => {
        e.preventDefault()
        const plans = toSpecs(rows)
        if (Result.isFailure(plans)) return action.setError(new ApiError(plans.failure, undefined))
        void action.act(async () => {
          const payload = { name, description, filmIds, plans: plans.success }
          const result = product === undefined
            ? await api((c) => c.catalog.products.create({ payload }))
            : await api((c) => c.catalog.products.update({ params: { id: product.id }, payload }))
          onSaved(result)
        })
      }}
    >
      {readOnly ? <Notice>This product is archived: it is no longer sold and cannot change; its subscribers keep it.</Notice> : null}
      <fieldset disabled={readOnly}>
        <Field label="Name" value={name} onChange={setName} required />
        <Field label="Description" value={description} onChange={setDescription} />
        <FilmPicker chosen={filmIds} onChange={setFilmIds} />
        <fieldset>
          <legend>Plans</legend>
          <p className="hint">
            One plan per interval and currency. Changing a price or a trial creates a new version of that plan for new
            buyers; existing subscribers keep the price they subscribed at. Removing a plan stops selling it.
          </p>
          {rows.map((row, i) => (
            <div className="plan-row" key={row.key} role="group" aria-label={`Plan ${i + 1}`}>
              <Select
                label="Interval"
                value={row.interval}
                options={[["month", "Monthly"], ["year", "Yearly"]]}
                onChange={(interval) => update(row.key, { interval })}
              />
              <Select
                label="Currency"
                value={row.currency}
                options={currencies.map((c) => [c, c] as const)}
                onChange={(currency) => update(row.key, { currency })}
              />
              <Field label="Price" value={row.amount} onChange={(amount) => update(row.key, { amount })} inputMode="decimal" required />
              <Field label="Trial days" value={row.trialDays} onChange={(trialDays) => update(row.key, { trialDays })} inputMode="numeric" />
              <button type="button" className="secondary" disabled={rows.length === 1} onClick={() => setRows(rows.filter((r) => r.key !== row.key))}>
                Remove plan {i + 1}
              </button>
            </div>
          ))}
          <button type="button" onClick={() => setRows([...rows, newRow()])}>Add a plan</button>
        </fieldset>
        <ErrorBox error={action.error} />
        <div className="actions">
          <button type="submit" disabled={action.busy}>{product === undefined ? "Create product" : "Save product"}</button>
          {product === undefined || readOnly ? null : (
            <button type="button" className="secondary" onClick={() => setArchiving(true)}>Archive product</button>
          )}
        </div>
        {product === undefined || !archiving ? null : (
          <Confirm
            label="Confirm the archive"
            confirm="Yes, archive it"
            busy="Archiving…"
            back="Keep selling it"
            onBack={() => setArchiving(false)}
            onConfirm={async () => {
              await api((c) => c.catalog.products.archive({ params: { id: product.id } }))
              navigate("/admin/products")
            }}
          >
            Archive “{product.name}”? It stops being sold to new buyers and cannot be changed any more; its subscribers keep it.
          </Confirm>
        )}
      </fieldset>
      {product === undefined ? null : <PlanHistory product={product} />}
    </form>
  )
}

function PlanHistory({ product }: { product: Product }) {
  return (
    <Table caption="Plan versions" columns={["Plan", "Status", "Created", "Retired"]}>
      {product.plans.map((plan) => (
        <tr key={plan.id}>
          <td>{planLabel(plan)}</td>
          <td><Status value={plan.status} /></td>
          <td>{dateTime(plan.createdAt)}</td>
          <td>{dateTime(plan.retiredAt)}</td>
        </tr>
      ))}
    </Table>
  )
}

export function AdminProductForm({ id }: { id: string | undefined }) {
  const [saved, setSaved] = useState<string | undefined>(undefined)
  const loaded = useLoad(
    () => (id === undefined ? Promise.resolve(undefined) : api((c) => c.catalog.products.get({ params: { id: id as ProductId } }))),
    [id]
  )
  return (
    <section>
      <p><a href="#/admin/products">← Products</a></p>
      <h1>{id === undefined ? "New product" : loaded.data?.name ?? "Product"}</h1>
      {saved === undefined ? null : <Notice>{saved}</Notice>}
      {loaded.error !== undefined ? <ErrorBox error={loaded.error} /> : loaded.loading ? <Loading /> : (
        <ProductEditor
          key={loaded.data?.updatedAt.toString() ?? "new"}
          product={loaded.data}
          onSaved={(product) => {
            setSaved(`Saved “${product.name}”.`)
            if (id === undefined) navigate(`/admin/products/${product.id}`)
            else loaded.reload()
          }}
        />
      )}
    </section>
  )
}
