// Stripe's test payment methods (https://docs.stripe.com/testing) and what a charge on each one does.

export type CardBehavior =
  | { readonly kind: "succeeds" }
  | { readonly kind: "declines"; readonly code: string; readonly declineCode: string; readonly message: string }
  /** 3-D Secure: on-session the intent waits in `requires_action`; off-session it fails `authentication_required`. */
  | { readonly kind: "requires_authentication" }

export interface TestCard {
  readonly brand: string
  readonly last4: string
  readonly funding: "credit" | "debit"
  readonly behavior: CardBehavior
}

export type Decline = Extract<CardBehavior, { readonly kind: "declines" }>

const declines = (code: string, declineCode: string, message: string): Decline => ({
  kind: "declines",
  code,
  declineCode,
  message
})

export const testCards: Readonly<Record<string, TestCard>> = {
  pm_card_visa: { brand: "visa", last4: "4242", funding: "credit", behavior: { kind: "succeeds" } },
  pm_card_visa_debit: { brand: "visa", last4: "5556", funding: "debit", behavior: { kind: "succeeds" } },
  pm_card_mastercard: { brand: "mastercard", last4: "4444", funding: "credit", behavior: { kind: "succeeds" } },
  pm_card_chargeDeclined: {
    brand: "visa",
    last4: "0002",
    funding: "credit",
    behavior: declines("card_declined", "generic_decline", "Your card was declined.")
  },
  pm_card_chargeDeclinedInsufficientFunds: {
    brand: "visa",
    last4: "9995",
    funding: "credit",
    behavior: declines("card_declined", "insufficient_funds", "Your card has insufficient funds.")
  },
  pm_card_chargeDeclinedExpiredCard: {
    brand: "visa",
    last4: "0069",
    funding: "credit",
    behavior: declines("expired_card", "expired_card", "Your card has expired.")
  },
  pm_card_chargeDeclinedIncorrectCvc: {
    brand: "visa",
    last4: "0127",
    funding: "credit",
    behavior: declines("incorrect_cvc", "incorrect_cvc", "Your card's security code is incorrect.")
  },
  pm_card_authenticationRequired: {
    brand: "visa",
    last4: "3184",
    funding: "credit",
    behavior: { kind: "requires_authentication" }
  }
}

export const authenticationRequired = declines(
  "authentication_required",
  "authentication_required",
  "Your card was declined. This transaction requires authentication."
)
