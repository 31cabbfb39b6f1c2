// The viewer's statement for a range of days, as a table and as a CSV download.
import { useState } from "react"
import { daysAgo, timeZone } from "../format.ts"
import { api } from "../session.ts"
import { Async, ErrorBox, Field, Notice, useAction, useLoad } from "../ui.tsx"
import { StatementTables } from "./statement-table.tsx"

const download = (text: string, filename: string) => {
  const url = URL.createObjectURL(new Blob([text], { type: "text/csv;charset=utf-8" }))
  const link = document.createElement("a")
  link.href = url
  link.download = filename
  document.body.append(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

export function MyStatement() {
  const [from, setFrom] = useState(daysAgo(30))
  const [to, setTo] = useState(daysAgo(0))
  const [range, setRange] = useState({ from, to })
  const loaded = useLoad(() => api((c) => c.billing.statement.get({ query: range })), [range.from, range.to])
  const csv = useAction()
  const zone = useLoad(() => api((c) => c.billing.me.timeZone()), [])
  const setZone = useAction()
  const browserZone = timeZone()
  return (
    <section>
      <h1>Statement</h1>
      {zone.data === undefined ? null : (
        <Notice>
          Days are counted in your account's time zone, {zone.data.timeZone}.{" "}
          {zone.data.timeZone === browserZone ? null : (
            <button
              type="button"
              className="secondary"
              disabled={setZone.busy}
              onClick={() =>
                void setZone.act(async () => {
                  await api((c) => c.billing.me.setTimeZone({ payload: { timeZone: browserZone } }))
                  zone.reload()
                  loaded.reload()
                })}
            >
              Use {browserZone} (this device's zone)
            </button>
          )}
        </Notice>
      )}
      <ErrorBox error={setZone.error} />
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault()
          setRange({ from, to })
        }}
      >
        <Field label="From" type="date" value={from} onChange={setFrom} required />
        <Field label="To" type="date" value={to} onChange={setTo} required />
        <button type="submit">Show</button>
        <button
          type="button"
          disabled={csv.busy}
          onClick={() =>
            void csv.act(async () => {
              const answer = await api((c) => c.billing.statement.get({ query: { from, to, format: "csv" } }))
              if (!("body" in answer)) throw new Error("expected CSV")
              const name = /filename="([^"]+)"/.exec(answer.headers["content-disposition"])?.[1] ?? `statement-${from}-${to}.csv`
              download(answer.body, name)
            })}
        >
          Download CSV
        </button>
      </form>
      <ErrorBox error={csv.error} />
      <Async loaded={loaded}>
        {(statement) => ("entries" in statement ? <StatementTables statement={statement} /> : null)}
      </Async>
    </section>
  )
}
