// The Stripe sandbox's test payment methods a viewer may pick (Stripe's own test ids; the sandbox behaves like them).
export const testCards = [
  ["pm_card_visa", "Visa •••• 4242 (succeeds)"],
  ["pm_card_mastercard", "Mastercard •••• 4444 (succeeds)"],
  ["pm_card_chargeDeclined", "Visa •••• 0002 (declined)"],
  ["pm_card_chargeDeclinedInsufficientFunds", "Visa •••• 9995 (insufficient funds)"],
  ["pm_card_chargeDeclinedExpiredCard", "Visa •••• 0069 (expired card)"]
] as const
export type TestCard = (typeof testCards)[number][0]
