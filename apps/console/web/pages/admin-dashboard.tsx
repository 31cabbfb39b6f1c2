// Admin: the dashboard's figures for a range of UTC days, as charts (with the figures as tables beside them).
// Money is never summed across currencies: each currency is its own series.
import { Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts"
import type { Dashboard, Ratio, RevenuePoint } from "@kassa/domain/dashboard"
import type { Currency } from "@kassa/domain/money"
import { major, money, percent } from "../format.ts"
import { api } from "../session.ts"
import { Async, DayRange, Empty, Table, useDayRange, useLoad } from "../ui.tsx"

const palette = ["#1f5fbf", "#b3471b", "#2e7d32", "#6a1b9a", "#00838f", "#8d6e00"] as const
const color = (i: number): string => palette[i % palette.length] ?? palette[0]

const utcDay = (daysBack: number) => new Date(Date.now() - daysBack * 86_400_000).toISOString().slice(0, 10)

/** Rows of period → major units per currency, and the currencies seen. */
const pivot = (points: ReadonlyArray<RevenuePoint>) => {
  const currencies = [...new Set(points.map((p) => p.currency))].sort() as Array<Currency>
  const rows = new Map<string, Record<string, number | string>>()
  for (const p of points) {
    const row = rows.get(p.period) ?? { period: p.period }
    row[p.currency] = major(p.net, p.currency)
    rows.set(p.period, row)
  }
  return { currencies, rows: [...rows.values()] }
}

function RevenueChart({ title, points, kind }: { title: string; points: ReadonlyArray<RevenuePoint>; kind: "line" | "bar" }) {
  const { currencies, rows } = pivot(points)
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      {points.length === 0 ? <Empty>No charge or refund in this range.</Empty> : (
        <>
          <ResponsiveContainer width="100%" height={260}>
            {kind === "line"
              ? (
                <LineChart data={rows}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="period" />
                  <YAxis />
                  <Tooltip />
                  <Legend />
                  {currencies.map((c, i) => <Line key={c} type="monotone" dataKey={c} name={`${c} net`} stroke={color(i)} />)}
                </LineChart>
              )
              : (
                <BarChart data={rows}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="period" />
                  <YAxis />
                  <Tooltip />
                  <Legend />
                  {currencies.map((c, i) => <Bar key={c} dataKey={c} name={`${c} net`} fill={color(i)} />)}
                </BarChart>
              )}
          </ResponsiveContainer>
          <details>
            <summary>{title} as a table</summary>
            <Table columns={["Period", "Charged", "Refunded", "Net"]}>
              {points.map((p) => (
                <tr key={`${p.period}-${p.currency}`}>
                  <td>{p.period}</td>
                  <td className="num">{money(p.charged, p.currency)}</td>
                  <td className="num">{money(p.refunded, p.currency)}</td>
                  <td className="num">{money(p.net, p.currency)}</td>
                </tr>
              ))}
            </Table>
          </details>
        </>
      )}
    </figure>
  )
}

const ratioText = (r: Ratio) => `${percent(r.rate)} (${r.count} of ${r.total})`

function Figures({ dashboard }: { dashboard: Dashboard }) {
  const rates = [
    { name: "Churn", rate: dashboard.churn.rate * 100 },
    { name: "Failed payments", rate: dashboard.failedPayments.rate * 100 }
  ]
  const mrr = dashboard.mrr.map((m) => ({ currency: m.currency, amount: major(m.amount, m.currency), subscriptions: m.subscriptions }))
  return (
    <>
      <dl className="tiles">
        <div><dt>Active subscriptions</dt><dd>{dashboard.activeSubscriptions}</dd></div>
        <div>
          <dt>MRR</dt>
          <dd>{dashboard.mrr.length === 0 ? "—" : dashboard.mrr.map((m) => money(m.amount, m.currency)).join(" · ")}</dd>
        </div>
        <div><dt>Churn</dt><dd>{ratioText(dashboard.churn)}</dd></div>
        <div><dt>Failed-payment rate</dt><dd>{ratioText(dashboard.failedPayments)}</dd></div>
      </dl>
      <div className="charts">
        <RevenueChart title="Net revenue per day (UTC)" points={dashboard.revenueByDay} kind="line" />
        <RevenueChart title="Net revenue per month (UTC)" points={dashboard.revenueByMonth} kind="bar" />
        <figure className="chart">
          <figcaption>MRR per currency (major units)</figcaption>
          {mrr.length === 0 ? <Empty>No paying subscription at the end of the range.</Empty> : (
            <ResponsiveContainer width="100%" height={220}>
              <BarChart data={mrr}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="currency" />
                <YAxis />
                <Tooltip />
                <Bar dataKey="amount" name="MRR" fill={color(0)} />
              </BarChart>
            </ResponsiveContainer>
          )}
        </figure>
        <figure className="chart">
          <figcaption>Churn and failed-payment rate (%)</figcaption>
          <ResponsiveContainer width="100%" height={220}>
            <BarChart data={rates}>
              <CartesianGrid strokeDasharray="3 3" />
              <XAxis dataKey="name" />
              <YAxis unit="%" domain={[0, 100]} />
              <Tooltip />
              <Bar dataKey="rate" name="Rate" fill={color(1)} />
            </BarChart>
          </ResponsiveContainer>
        </figure>
      </div>
    </>
  )
}

export function AdminDashboard() {
  const days = useDayRange(utcDay(30), utcDay(0))
  const { range } = days
  const loaded = useLoad(() => api((c) => c.billing.adminBilling.dashboard({ query: range })), [range.from, range.to])
  return (
    <section>
      <h1>Dashboard</h1>
      <DayRange range={days} zone="UTC" />
      <Async loaded={loaded}>{(dashboard) => <Figures dashboard={dashboard} />}</Async>
    </section>
  )
}
