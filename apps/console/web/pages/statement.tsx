// The viewer's statement for a range of days, as a table and as a CSV download.
import { daysAgo, timeZone } from "../format.ts"
import { api } from "../session.ts"
import { Async, DayRange, ErrorBox, Notice, useAction, useDayRange, useLoad } from "../ui.tsx"
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
  const days = useDayRange(daysAgo(30), daysAgo(0))
  const { range } = days
  const { from, to } = days.draft
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
      <DayRange range={days}>
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
      </DayRange>
      <ErrorBox error={csv.error} />
      <Async loaded={loaded}>
        {(statement) => ("entries" in statement ? <StatementTables statement={statement} /> : null)}
      </Async>
    </section>
  )
}
