// A statement as tables: balances per currency, then the entries with their running balance.
import type { Statement } from "@kassa/domain/statement"
import { dateTime, money } from "../format.ts"
import { Empty, Table } from "../ui.tsx"

const kinds = { invoice: "Invoice", credit: "Credit note", payment: "Payment", refund: "Refund" } as const

export function StatementTables({ statement }: { statement: Statement }) {
  return (
    <>
      <p>
        {statement.from} to {statement.to}, days in the account's time zone ({statement.timeZone}).
      </p>
      {statement.balances.length === 0 ? null : (
        <Table caption="Balances" columns={["Currency", "Opening", "Closing"]}>
          {statement.balances.map((b) => (
            <tr key={b.currency}>
              <td>{b.currency}</td>
              <td className="num">{money(b.opening, b.currency)}</td>
              <td className="num">{money(b.closing, b.currency)}</td>
            </tr>
          ))}
        </Table>
      )}
      {statement.entries.length === 0 ? <Empty>Nothing happened in these days.</Empty> : (
        <Table caption="Entries" columns={["When", "Kind", "Reference", "Amount", "Balance"]}>
          {statement.entries.map((e, i) => (
            <tr key={`${e.reference}-${e.kind}-${i}`}>
              <td>{dateTime(e.at)}</td>
              <td>{kinds[e.kind]}</td>
              <td><code>{e.reference}</code></td>
              <td className="num">{money(e.amount, e.currency)}</td>
              <td className="num">{money(e.balance, e.currency)}</td>
            </tr>
          ))}
        </Table>
      )}
    </>
  )
}
