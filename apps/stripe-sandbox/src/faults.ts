// Fault injection for tests: per request with the `Stripe-Sandbox-Fault` header, or queued rules that the next
// matching requests consume (set in-process or through POST /_sandbox/faults).
import { Clock, Context, Effect, Layer, Schema } from "effect"

export const FaultAction = Schema.Literals([
  /** answer Stripe's 500 api_error without doing anything */
  "error_500",
  /** answer Stripe's 429 rate limit without doing anything */
  "error_429",
  /** wait `delayMs`, then handle the request normally */
  "delay",
  /** close the connection without doing anything */
  "drop_before_commit",
  /** do the work and keep its idempotent result (a replay has nothing to do), then close without answering */
  "drop_after_commit"
])
export type FaultAction = typeof FaultAction.Type

export const FaultRule = Schema.Struct({
  action: FaultAction,
  /** Only requests with this method (e.g. "POST"); any when omitted. */
  method: Schema.optionalKey(Schema.String),
  /** Only requests to exactly this path (e.g. "/v1/payment_intents"); any when omitted. */
  path: Schema.optionalKey(Schema.String),
  delayMs: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  /** How many matching requests it applies to; default 1. */
  times: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThan(0)))
})
export type FaultRule = typeof FaultRule.Type

export interface Fault {
  readonly action: FaultAction
  readonly delayMs: number
}

export const faultHeader = "stripe-sandbox-fault"

const resendWindowMs = 2_000

/** `error_500`, `error_429`, `drop_before_commit`, `drop_after_commit` or `delay=<ms>`. */
export const parseFaultHeader = (value: string): Fault | undefined => {
  const delay = /^delay=(\d+)$/.exec(value)
  if (delay !== null) return { action: "delay", delayMs: Number(delay[1]) }
  const action = FaultAction.literals.find((a) => a === value && a !== "delay")
  return action === undefined ? undefined : { action, delayMs: 0 }
}

export class Faults extends Context.Service<Faults, {
  inject(rule: FaultRule): Effect.Effect<void>
  readonly clear: Effect.Effect<void>
  /** The fault for this request, consuming one use of the first matching rule (the header wins). */
  take(method: string, path: string, header: string | undefined): Effect.Effect<Fault | undefined>
  /**
   * The stripe SDK resends a request once by itself when its connection is reset, even with retries off. After a
   * `drop_after_commit`, that immediate resend (a replay of the key within 2 s) is dropped too, so the caller
   * really sees no answer: the outcome Kassa must treat as unknown.
   */
  droppedAfterCommit(idempotencyKey: string): Effect.Effect<void>
  /** True (once) when this replay is the immediate resend of a dropped request. */
  takeDroppedReplay(idempotencyKey: string): Effect.Effect<boolean>
}>()("stripe-sandbox/Faults") {
  static readonly layer = Layer.sync(Faults, () => {
    const rules: Array<{ rule: FaultRule; left: number }> = []
    const dropped = new Map<string, number>()
    return Faults.of({
      droppedAfterCommit: (key) =>
        Effect.map(Clock.currentTimeMillis, (now) => void dropped.set(key, now + resendWindowMs)),
      takeDroppedReplay: (key) =>
        Effect.map(Clock.currentTimeMillis, (now) => {
          for (const [k, until] of dropped) if (until <= now) dropped.delete(k)
          return dropped.delete(key)
        }),
      inject: (rule) => Effect.sync(() => void rules.push({ rule, left: rule.times ?? 1 })),
      clear: Effect.sync(() => void rules.splice(0)),
      take: (method, path, header) =>
        Effect.sync(() => {
          const fromHeader = header === undefined ? undefined : parseFaultHeader(header)
          if (fromHeader !== undefined) return fromHeader
          const index = rules.findIndex(({ rule }) =>
            (rule.method === undefined || rule.method.toUpperCase() === method) &&
            (rule.path === undefined || rule.path === path)
          )
          const found = rules[index]
          if (found === undefined) return undefined
          if (--found.left === 0) rules.splice(index, 1)
          return { action: found.rule.action, delayMs: found.rule.delayMs ?? 0 }
        })
    })
  })
}
