// Stripe's test payment methods (https://docs.stripe.com/testing) and what attaching or charging each one does.

export interface Decline {
  readonly kind: "declines"
  readonly code: string
  readonly declineCode: string
  readonly message: string
  /** The card field Stripe names (`exp_month`, `cvc`), when it names one. */
  readonly param?: string
  readonly adviceCode?: string
}

export type CardBehavior =
  | { readonly kind: "succeeds" }
  | Decline
  /** 3-D Secure: on-session the intent waits in `requires_action`; off-session it fails `authentication_required`. */
  | { readonly kind: "requires_authentication" }

export interface TestCard {
  readonly brand: string
  readonly last4: string
  readonly funding: "credit" | "debit"
  readonly behavior: CardBehavior
  /** Stripe checks a card when it is attached: a declining card is refused then, except chargeCustomerFail's. */
  readonly attachable: boolean
}

const declines = (
  code: string,
  declineCode: string,
  message: string,
  adviceCode?: string,
  param?: string
): Decline => ({
  kind: "declines",
  code,
  declineCode,
  message,
  ...(adviceCode === undefined ? {} : { adviceCode }),
  ...(param === undefined ? {} : { param })
})

const generic = declines("card_declined", "generic_decline", "Your card was declined.", "try_again_later")
const insufficientFunds = declines(
  "card_declined",
  "insufficient_funds",
  "Your card has insufficient funds.",
  "try_again_later"
)
const lostCard = declines("card_declined", "lost_card", "Your card was declined.", "do_not_try_again")
const stolenCard = declines("card_declined", "stolen_card", "Your card was declined.", "do_not_try_again")
const expiredCard = declines("expired_card", "expired_card", "Your card has expired.", "confirm_card_data", "exp_month")
const incorrectCvc = declines(
  "incorrect_cvc",
  "incorrect_cvc",
  "Your card's security code is incorrect.",
  "confirm_card_data",
  "cvc"
)
const processingError = declines(
  "processing_error",
  "processing_error",
  "An error occurred while processing your card. Try again in a little bit.",
  "try_again_later"
)

const visa = (last4: string, behavior: CardBehavior, attachable = behavior.kind !== "declines"): TestCard => ({
  brand: "visa",
  last4,
  funding: "credit",
  behavior,
  attachable
})

const succeeds: CardBehavior = { kind: "succeeds" }

export const testCards: Readonly<Record<string, TestCard>> = {
  pm_card_visa: visa("4242", succeeds),
  pm_card_visa_debit: { ...visa("5556", succeeds), funding: "debit" },
  pm_card_mastercard: { ...visa("4444", succeeds), brand: "mastercard" },
  pm_card_visa_chargeDeclined: visa("0002", generic),
  pm_card_visa_chargeDeclinedInsufficientFunds: visa("9995", insufficientFunds),
  pm_card_visa_chargeDeclinedLostCard: visa("9987", lostCard),
  pm_card_visa_chargeDeclinedStolenCard: visa("9979", stolenCard),
  pm_card_chargeDeclinedExpiredCard: visa("0069", expiredCard),
  pm_card_chargeDeclinedIncorrectCvc: visa("0127", incorrectCvc),
  pm_card_chargeDeclinedProcessingError: visa("0119", processingError),
  /** Attaches to a customer; every charge on it then fails: what renewal and dunning tests need. */
  pm_card_chargeCustomerFail: visa("0341", generic, true),
  pm_card_authenticationRequired: visa("3184", { kind: "requires_authentication" }),
  // the same cards without `visa_` (as in Stripe's tok_chargeDeclined… tokens), which Kassa's tests use
  pm_card_chargeDeclined: visa("0002", generic),
  pm_card_chargeDeclinedInsufficientFunds: visa("9995", insufficientFunds)
}

export const authenticationRequired = declines(
  "authentication_required",
  "authentication_required",
  "Your card was declined. This transaction requires authentication."
)

/** The body of Stripe's card_error for a decline. */
export const cardErrorBody = (decline: Decline) => ({
  type: "card_error" as const,
  code: decline.code,
  decline_code: decline.declineCode,
  message: decline.message,
  ...(decline.param === undefined ? {} : { param: decline.param }),
  ...(decline.adviceCode === undefined ? {} : { advice_code: decline.adviceCode }),
  doc_url: `https://stripe.com/docs/error-codes/${decline.code.replaceAll("_", "-")}`
})
