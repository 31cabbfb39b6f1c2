// Idempotent requests as Stripe documents them (https://docs.stripe.com/api/idempotent_requests): the first
// result for a key is kept for 24 hours and replayed for the same request; the same key with other parameters
// or on another endpoint is an idempotency_error; while the first request runs, others with its key get a 409.
// A request refused before any endpoint ran (bad parameters, a rate limit, our own 500) keeps nothing. Results are
// journaled (claims are not: after a restart, a request that never answered may run again, as it never ran).
import { Clock, Context, Duration, Effect, Layer } from "effect"
import { Journal } from "./journal.ts"

export const keyLifetime = Duration.hours(24)

export interface StoredResponse {
  readonly status: number
  readonly body: string
  readonly requestId: string
}

interface Entry {
  readonly endpoint: string
  readonly fingerprint: string
  readonly createdAt: number
  response: StoredResponse | undefined
}

export type Begin =
  | { readonly _tag: "New" }
  | { readonly _tag: "Replay"; readonly response: StoredResponse }
  | { readonly _tag: "InFlight" }
  | { readonly _tag: "Mismatch" }

export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  /** Claims `key` for this request, or says why it cannot run. */
  begin(key: string, endpoint: string, fingerprint: string): Effect.Effect<Begin>
  /** Keeps the result for replays. */
  complete(key: string, response: StoredResponse): Effect.Effect<void>
  /** Forgets the claim: nothing ran, so the key may be used again. */
  release(key: string): Effect.Effect<void>
}>()("stripe-sandbox/IdempotencyStore") {
  static readonly make = (journal: Journal["Service"]): IdempotencyStore["Service"] => {
    const entries = new Map<string, Entry>()
    for (const { key, ...entry } of journal.restored.idempotency) entries.set(key, entry)
    const lifetime = Duration.toMillis(keyLifetime)
    const prune = (now: number) => {
      // insertion order is creation order: stop at the first live entry
      for (const [key, entry] of entries) {
        if (now - entry.createdAt < lifetime) break
        entries.delete(key)
        if (entry.response !== undefined) journal.forgetIdempotent(key)
      }
    }
    return IdempotencyStore.of({
      begin: (key, endpoint, fingerprint) =>
        Effect.map(Clock.currentTimeMillis, (now): Begin => {
          prune(now)
          const entry = entries.get(key)
          if (entry === undefined) {
            entries.set(key, { endpoint, fingerprint, createdAt: now, response: undefined })
            return { _tag: "New" }
          }
          if (entry.endpoint !== endpoint || entry.fingerprint !== fingerprint) return { _tag: "Mismatch" }
          return entry.response === undefined ? { _tag: "InFlight" } : { _tag: "Replay", response: entry.response }
        }),
      complete: (key, response) =>
        Effect.sync(() => {
          const entry = entries.get(key)
          if (entry === undefined) return
          entry.response = response
          journal.idempotent({
            key,
            endpoint: entry.endpoint,
            fingerprint: entry.fingerprint,
            createdAt: entry.createdAt,
            response
          })
        }),
      release: (key) => Effect.sync(() => void entries.delete(key))
    })
  }

  static readonly layer = (journal: Journal["Service"] = Journal.memory) =>
    Layer.succeed(IdempotencyStore, IdempotencyStore.make(journal))
}
