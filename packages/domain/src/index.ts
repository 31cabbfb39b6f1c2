// Modules whose function names would clash when flattened (money) are namespaces, in the style of
// effect's `DateTime.DateTime`: `Money.add(a, b)`, `Money.Money` (schema) and the `Money` type.
// Schemas, types and errors that stand on their own are exported flat.
import type * as MoneyModule from "./money.ts"

export * from "./errors.ts"
export * from "./ids.ts"
export * as Money from "./money.ts"
export type Money = MoneyModule.Money
export * from "./events.ts"
export { Currency, CurrencyMismatch, InvalidAmount, MoneyOverflow } from "./money.ts"
export * from "./pagination.ts"
export * from "./system.ts"
