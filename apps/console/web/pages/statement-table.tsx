// A statement as tables: balances per currency, then the entries with their running balance.
import type { Statement } from "@kassa/domain/statement"
import { dateTime, money } from "../format.ts"
import { Empty } from "../ui.tsx"

const kinds = { invoice: "Invoice", credit: "Credit note", payment: "Payment", refund: "Refund" } as const

export function StatementTables({ statement }: { statement: Statement }) {
  return (
    <>
      <p>
        {statement.from} to {statement.to}, days in the account's time zone ({statement.timeZone}).
      </p>
      {statement.balances.length === 0 ? null : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Table, scrolls sideways on narrow screens">
          <table>
            <caption>Balances</caption>
            <thead><tr><th scope="col">Currency</th><th scope="col">Opening</th><th scope="col">Closing</th></tr></thead>
            <tbody>
              {statement.balances.map((b) => (
                <tr key={b.currency}>
                  <td>{b.currency}</td>
                  <td className="num">{money(b.opening, b.currency)}</td>
                  <td className="num">{money(b.closing, b.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {statement.entries.length === 0 ? <Empty>Nothing happened in these days.</Empty> : (
        <div className="table-wrap" tabIndex={0} role="region" aria-label="Table, scrolls sideways on narrow screens">
          <table>
            <caption>Entries</caption>
            <thead>
              <tr>
                <th scope="col">When</th><th scope="col">Kind</th><th scope="col">Reference</th><th scope="col">Amount</th>
                <th scope="col">Balance</th>
              </tr>
            </thead>
            <tbody>
              {statement.entries.map((e, i) => (
                <tr key={`${e.reference}-${e.kind}-${i}`}>
                  <td>{dateTime(e.at)}</td>
                  <td>{kinds[e.kind]}</td>
                  <td><code>{e.reference}</code></td>
                  <td className="num">{money(e.amount, e.currency)}</td>
                  <td className="num">{money(e.balance, e.currency)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </>
  )
}
