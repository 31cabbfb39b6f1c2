// Shared building blocks: loading, empty and error states, paging over cursors, labelled fields, a router on the
// URL's hash (the console's server only has to serve one page).
import { type ReactNode, useCallback, useEffect, useId, useState, useSyncExternalStore } from "react"
import { ApiError } from "./api.ts"

// ---- routing ---------------------------------------------------------------------------------------------------

const subscribeHash = (listener: () => void) => {
  window.addEventListener("hashchange", listener)
  return () => window.removeEventListener("hashchange", listener)
}

/** The route: the hash without `#`, e.g. "/admin/invoices/inv_1". */
export const useRoute = (): string =>
  useSyncExternalStore(subscribeHash, () => window.location.hash.replace(/^#/, "") || "/")

export const navigate = (path: string) => {
  window.location.hash = path
}

// ---- loading -----------------------------------------------------------------------------------------------------

export interface Loaded<A> {
  readonly data: A | undefined
  readonly error: ApiError | undefined
  readonly loading: boolean
  readonly reload: () => void
}

/** Runs `load` when `deps` change (and on reload); the latest answer wins. */
export const useLoad = <A,>(load: () => Promise<A>, deps: ReadonlyArray<unknown>): Loaded<A> => {
  const [data, setData] = useState<A | undefined>(undefined)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const [loading, setLoading] = useState(true)
  const [round, setRound] = useState(0)
  useEffect(() => {
    let current = true
    setLoading(true)
    setError(undefined)
    load().then(
      (value) => current && (setData(value), setLoading(false)),
      (e: unknown) => current && (setError(asApiError(e)), setLoading(false))
    )
    return () => {
      current = false
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, round])
  const reload = useCallback(() => setRound((r) => r + 1), [])
  return { data, error, loading, reload }
}

export const asApiError = (e: unknown): ApiError =>
  e instanceof ApiError ? e : new ApiError("Something went wrong. Try again.", undefined)

/** A page of a keyset list with previous/next: the cursors seen so far are kept as a stack. */
export const usePaging = (): Paging => {
  const [cursors, setCursors] = useState<ReadonlyArray<string>>([])
  const cursor = cursors[cursors.length - 1]
  return {
    cursor,
    page: cursors.length + 1,
    next: (nextCursor: string) => setCursors((c) => [...c, nextCursor]),
    previous: () => setCursors((c) => c.slice(0, -1)),
    reset: () => setCursors([])
  }
}

export interface Paging {
  readonly cursor: string | undefined
  readonly page: number
  readonly next: (cursor: string) => void
  readonly previous: () => void
  readonly reset: () => void
}

/** The page's query fields: `limit`, and the cursor once past the first page. */
export const pageQuery = (paging: Paging, limit = 20) => ({ limit, ...(paging.cursor === undefined ? {} : { cursor: paging.cursor }) })

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

/** A paged list: its paging and the current page, loaded again when `deps` or the page change. */
export const usePagedLoad = <A,>(load: (paging: Paging) => Promise<Page<A>>, deps: ReadonlyArray<unknown>) => {
  const paging = usePaging()
  const loaded = useLoad(() => load(paging), [...deps, paging.cursor])
  return { paging, loaded }
}

export function Pager(props: { paging: Paging; nextCursor: string | null | undefined }) {
  const { paging, nextCursor } = props
  if (paging.page === 1 && !nextCursor) return null
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={paging.page === 1} onClick={paging.previous}>Previous</button>
      <span>Page {paging.page}</span>
      <button type="button" disabled={!nextCursor} onClick={() => nextCursor && paging.next(nextCursor)}>Next</button>
    </nav>
  )
}

// ---- states ------------------------------------------------------------------------------------------------------

export const Loading = ({ what = "Loading" }: { what?: string }) => <p className="loading" role="status">{what}…</p>

export const ErrorBox = ({ error }: { error: ApiError | string | undefined }) =>
  error === undefined ? null : (
    <p className="error" role="alert">{typeof error === "string" ? error : error.message}</p>
  )

export const Empty = ({ children }: { children: ReactNode }) => <p className="empty">{children}</p>

export const Notice = ({ children }: { children: ReactNode }) => <p className="notice" role="status">{children}</p>

/** Loading, error or the content. */
export function Async<A>(props: { loaded: Loaded<A>; children: (data: A) => ReactNode }) {
  const { loaded } = props
  if (loaded.error !== undefined) return <ErrorBox error={loaded.error} />
  if (loaded.data === undefined) return <Loading />
  return <>{props.children(loaded.data)}</>
}

// ---- forms -------------------------------------------------------------------------------------------------------

export function Field(props: {
  label: string
  value: string
  onChange: (value: string) => void
  type?: string
  required?: boolean
  autoComplete?: string
  hint?: string
  inputMode?: "numeric" | "decimal" | "email"
  placeholder?: string
}) {
  const id = useId()
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        type={props.type ?? "text"}
        value={props.value}
        required={props.required}
        autoComplete={props.autoComplete}
        inputMode={props.inputMode}
        placeholder={props.placeholder}
        aria-describedby={props.hint === undefined ? undefined : `${id}-hint`}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {props.hint === undefined ? null : <small id={`${id}-hint`}>{props.hint}</small>}
    </div>
  )
}

export function Select<V extends string>(props: {
  label: string
  value: V
  options: ReadonlyArray<readonly [V, string]>
  onChange: (value: V) => void
}) {
  const id = useId()
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <select id={id} value={props.value} onChange={(e) => props.onChange(e.target.value as V)}>
        {props.options.map(([value, label]) => <option key={value} value={value}>{label}</option>)}
      </select>
    </div>
  )
}

/** A submit handler that runs one async action at a time and keeps its error. */
export const useAction = () => {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<ApiError | undefined>(undefined)
  const act = async <A,>(action: () => Promise<A>): Promise<A | undefined> => {
    setBusy(true)
    setError(undefined)
    try {
      return await action()
    } catch (e) {
      setError(asApiError(e))
      return undefined
    } finally {
      setBusy(false)
    }
  }
  return { busy, error, setError, act }
}

/** A table with a header row, scrolling sideways in its own focusable region when the screen is narrow. */
export function Table(props: { caption?: string; columns: ReadonlyArray<string>; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={props.caption ?? "Table, scrolls sideways on narrow screens"}>
      <table>
        {props.caption === undefined ? null : <caption>{props.caption}</caption>}
        <thead>
          <tr>{props.columns.map((column) => <th scope="col" key={column}>{column}</th>)}</tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  )
}

/** A paged list as a table: loading, error, empty, or its rows with the pager below. */
export function PagedTable<A>(props: {
  list: { readonly paging: Paging; readonly loaded: Loaded<Page<A>> }
  empty: ReactNode
  columns: ReadonlyArray<string>
  row: (item: A) => ReactNode
}) {
  return (
    <Async loaded={props.list.loaded}>
      {(page) =>
        page.items.length === 0 ? <Empty>{props.empty}</Empty> : (
          <>
            <Table columns={props.columns}>{page.items.map(props.row)}</Table>
            <Pager paging={props.list.paging} nextCursor={page.nextCursor} />
          </>
        )}
    </Async>
  )
}

/** The second step of an action that cannot be undone: what will happen, then confirm or go back. */
export function Confirm(props: {
  label: string
  children: ReactNode
  confirm: string
  busy: string
  back: string
  onConfirm: () => Promise<void>
  onBack: () => void
}) {
  const action = useAction()
  return (
    <div className="confirm" role="group" aria-label={props.label}>
      <p>{props.children}</p>
      <ErrorBox error={action.error} />
      <div className="actions">
        <button type="button" disabled={action.busy} onClick={() => void action.act(props.onConfirm)}>
          {action.busy ? props.busy : props.confirm}
        </button>
        <button type="button" className="secondary" onClick={props.onBack}>{props.back}</button>
      </div>
    </div>
  )
}

/** A from–to range of days, applied with its button; `children` adds more buttons to the form. */
export const useDayRange = (from: string, to: string) => {
  const [draft, setDraft] = useState({ from, to })
  const [range, setRange] = useState({ from, to })
  return { draft, setDraft, range, apply: () => setRange(draft) }
}

export function DayRange(props: { range: ReturnType<typeof useDayRange>; zone?: string; children?: ReactNode }) {
  const { draft, setDraft, apply } = props.range
  const suffix = props.zone === undefined ? "" : ` (${props.zone} day)`
  return (
    <form className="filters" onSubmit={(e) => (e.preventDefault(), apply())}>
      <Field label={`From${suffix}`} type="date" value={draft.from} onChange={(from) => setDraft({ ...draft, from })} required />
      <Field label={`To${suffix}`} type="date" value={draft.to} onChange={(to) => setDraft({ ...draft, to })} required />
      <button type="submit">Show</button>
      {props.children}
    </form>
  )
}

export const Status = ({ value }: { value: string }) => <span className={`status status-${value}`}>{value.replaceAll("_", " ")}</span>
