// Webhook delivery as Stripe does it: each event POSTed to every endpoint, signed with the endpoint's secret
// (`Stripe-Signature: t=<unix seconds>,v1=<HMAC-SHA256 of "t.body">`), retried with backoff until a 2xx.
// Tests can hold events and release them in another order or several times, or turn on random duplicates and
// delays ("chaos"), since real Stripe neither orders nor deduplicates deliveries. What is owed survives a restart:
// the journal keeps each event with the endpoint URLs it has not reached yet, and the sandbox resumes those
// deliveries when an endpoint with that URL is there again (at start, or when it is added).
import { createHmac } from "node:crypto"
import { Clock, Context, Duration, Effect, FiberSet, Layer, Queue, Random, type Scope } from "effect"
import { HttpBody, HttpClient, HttpClientRequest } from "effect/http"
import { Journal, type PendingDelivery } from "./journal.ts"
import { newId, type RaisedEvent } from "./state.ts"
import { backoff } from "@kassa/platform/backoff"

export interface WebhookEndpoint {
  readonly id: string
  readonly url: string
  readonly secret: string
}

export interface FlushOptions {
  readonly order?: "created" | "reverse" | "shuffle"
  /** Each held event is delivered this many times (duplicates); default 1. */
  readonly copies?: number
}

export interface Chaos {
  /** Chance (0..1) that a delivery is sent twice. */
  readonly duplicateProbability: number
  /** Each delivery waits a random 0..maxDelay first, so later events can overtake earlier ones. */
  readonly maxDelay: Duration.Input
}

export interface DeliveryAttempt {
  readonly eventId: string
  readonly type: string
  readonly endpointId: string
  readonly attempt: number
  /** HTTP status, or 0 when the endpoint did not answer. */
  readonly status: number
}

export interface WebhooksOptions {
  readonly endpoints?: ReadonlyArray<{ readonly url: string; readonly secret: string }>
  /** First retry delay (doubles per attempt, jittered, capped at 30 s); default 500 ms. */
  readonly retryBase?: Duration.Input
  /** Attempts per delivery before giving up; default 12. */
  readonly maxAttempts?: number
  readonly journal?: Journal["Service"]
}

/** The header value Stripe sends; the SDK's `webhooks.constructEvent` verifies it. */
export const signatureHeader = (payload: string, secret: string, timestampSeconds: number): string =>
  `t=${timestampSeconds},v1=${
    createHmac("sha256", secret).update(`${timestampSeconds}.${payload}`, "utf8").digest("hex")
  }`

type Mode = { readonly kind: "deliver" } | { readonly kind: "hold" } | { readonly kind: "chaos"; readonly chaos: Chaos }

export class Webhooks extends Context.Service<Webhooks, {
  /** Called by the ledger for every event it raises. */
  publish(event: RaisedEvent): void
  addEndpoint(url: string, secret: string): Effect.Effect<WebhookEndpoint>
  removeEndpoint(id: string): Effect.Effect<void>
  readonly endpoints: Effect.Effect<ReadonlyArray<WebhookEndpoint>>
  /** From now on events are kept, not delivered, until `flush`. */
  readonly hold: Effect.Effect<void>
  /**
   * Delivers the held events one after another (each waits for its endpoint's first answer), then goes back to
   * delivering as events happen. Returns how many deliveries it started.
   */
  flush(options?: FlushOptions): Effect.Effect<number>
  /** Drops the held events and goes back to delivering. */
  readonly discardHeld: Effect.Effect<number>
  /** Random duplicates and delays for the events that follow (`undefined` turns it off). */
  chaos(options: Chaos | undefined): Effect.Effect<void>
  /** Every delivery attempt so far, oldest first. */
  readonly attempts: Effect.Effect<ReadonlyArray<DeliveryAttempt>>
}>()("stripe-sandbox/Webhooks") {
  static readonly make = (
    options: WebhooksOptions
  ): Effect.Effect<Webhooks["Service"], never, HttpClient.HttpClient | Scope.Scope> =>
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const fibers = yield* FiberSet.make()
      const journal = options.journal ?? Journal.memory
      // read synchronously by `publish`, which records the URLs each event is owed to
      let endpoints: ReadonlyArray<WebhookEndpoint> = (options.endpoints ?? []).map((e) => ({
        id: newId("we"),
        url: e.url,
        secret: e.secret
      }))
      // owed from before a restart, to endpoints not added yet
      let waiting: ReadonlyArray<PendingDelivery> = journal.restored.pending
      // read synchronously by `publish`, so an event raised while holding is held even before anything runs
      let mode: Mode = { kind: "deliver" }
      const held: Array<RaisedEvent> = []
      const log: Array<DeliveryAttempt> = []
      const incoming = yield* Queue.unbounded<{ readonly event: RaisedEvent; readonly chaos: Chaos | undefined }>()
      const maxAttempts = options.maxAttempts ?? 12
      /** Nothing more is owed to this endpoint for this event: it answered 2xx, or the sandbox gave up. */
      const settled = (event: RaisedEvent, endpoint: WebhookEndpoint) =>
        Effect.try(() => {
          journal.delivered(event.id, endpoint.url)
          journal.commit()
        }).pipe(Effect.ignore({ log: "Warn", message: "could not record a webhook delivery" }))

      const retrySchedule = backoff({ base: options.retryBase ?? Duration.millis(500), cap: "30 seconds" })

      // one attempt: signed afresh with the current time, like Stripe
      const attempt = (event: RaisedEvent, endpoint: WebhookEndpoint, n: number) =>
        Effect.gen(function*() {
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const request = HttpClientRequest.post(endpoint.url, {
            body: HttpBody.text(event.payload, "application/json; charset=utf-8"),
            headers: {
              "stripe-signature": signatureHeader(event.payload, endpoint.secret, now),
              "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
            }
          })
          const status = yield* client.execute(request).pipe(
            Effect.flatMap((response) => Effect.as(response.text.pipe(Effect.ignore), response.status)),
            Effect.timeout("10 seconds"),
            Effect.catch(() => Effect.succeed(0))
          )
          log.push({ eventId: event.id, type: event.type, endpointId: endpoint.id, attempt: n, status })
          return status >= 200 && status < 300 ? settled(event, endpoint) : Effect.fail(status)
        }).pipe(Effect.flatten)

      const deliverTo = (event: RaisedEvent, endpoint: WebhookEndpoint) => {
        let n = 0
        return Effect.suspend(() => attempt(event, endpoint, ++n))
      }

      /** Retries in the background, `attempts` times at most. */
      const keepTrying = (
        once: Effect.Effect<void, number>,
        event: RaisedEvent,
        endpoint: WebhookEndpoint,
        attempts: number
      ) =>
        once.pipe(
          Effect.retry({ schedule: retrySchedule, times: attempts - 1 }),
          Effect.catch(() =>
            Effect.logWarning("webhook delivery gave up").pipe(
              Effect.annotateLogs({ event: event.id, endpoint: endpoint.url }),
              Effect.andThen(settled(event, endpoint))
            )
          ),
          FiberSet.run(fibers)
        )

      /** The first attempt, then the retries in the background. */
      const deliver = (event: RaisedEvent) =>
        Effect.gen(function*() {
          for (const endpoint of endpoints) {
            const once = deliverTo(event, endpoint)
            const first = yield* Effect.result(once)
            if (first._tag === "Failure") yield* keepTrying(once, event, endpoint, maxAttempts - 1)
          }
        })

      /** Deliveries owed since before a restart to an endpoint with this one's URL start again. */
      const resume = (endpoint: WebhookEndpoint) =>
        Effect.gen(function*() {
          const owed = waiting.filter((d) => d.url === endpoint.url)
          waiting = waiting.filter((d) => d.url !== endpoint.url)
          for (const { event } of owed) yield* keepTrying(deliverTo(event, endpoint), event, endpoint, maxAttempts)
        })

      const chaotic = (event: RaisedEvent, chaos: Chaos) =>
        Effect.gen(function*() {
          const copies = (yield* Random.next) < chaos.duplicateProbability ? 2 : 1
          const maxDelay = Duration.toMillis(Duration.fromInputUnsafe(chaos.maxDelay))
          for (let i = 0; i < copies; i++) {
            const delay = Math.floor((yield* Random.next) * maxDelay)
            yield* Effect.sleep(Duration.millis(delay)).pipe(Effect.andThen(deliver(event)), FiberSet.run(fibers))
          }
        })

      for (const endpoint of endpoints) yield* resume(endpoint)

      yield* Effect.forever(Effect.gen(function*() {
        const { event, chaos } = yield* Queue.take(incoming)
        if (chaos !== undefined) yield* chaotic(event, chaos)
        else yield* FiberSet.run(fibers, deliver(event))
      })).pipe(Effect.forkScoped)

      const flush = (flushOptions?: FlushOptions) =>
        Effect.gen(function*() {
          const events = held.splice(0)
          mode = { kind: "deliver" }
          const order = flushOptions?.order ?? "created"
          const ordered = order === "reverse"
            ? events.reverse()
            : order === "shuffle"
            ? yield* Random.shuffle(events)
            : events
          const copies = Math.max(1, flushOptions?.copies ?? 1)
          let started = 0
          for (const event of ordered) {
            for (let i = 0; i < copies; i++) {
              yield* deliver(event)
              started++
            }
          }
          return started
        })

      return Webhooks.of({
        publish: (event) => {
          journal.event(event, endpoints.map((e) => e.url))
          if (mode.kind === "hold") held.push(event)
          else Queue.offerUnsafe(incoming, { event, chaos: mode.kind === "chaos" ? mode.chaos : undefined })
        },
        addEndpoint: (url, secret) =>
          Effect.gen(function*() {
            const endpoint = { id: newId("we"), url, secret }
            endpoints = [...endpoints, endpoint]
            yield* resume(endpoint)
            return endpoint
          }),
        removeEndpoint: (id) => Effect.sync(() => void (endpoints = endpoints.filter((e) => e.id !== id))),
        endpoints: Effect.sync(() => endpoints),
        hold: Effect.sync(() => {
          mode = { kind: "hold" }
        }),
        flush,
        discardHeld: Effect.sync(() => {
          mode = { kind: "deliver" }
          return held.splice(0).length
        }),
        chaos: (chaos) =>
          Effect.sync(() => {
            mode = chaos === undefined ? { kind: "deliver" } : { kind: "chaos", chaos }
          }),
        attempts: Effect.sync(() => [...log])
      })
    })

  static readonly layer = (options: WebhooksOptions) => Layer.effect(Webhooks, Webhooks.make(options))
}
