// POST /webhooks/stripe: the raw body is read unparsed (the signature covers its exact bytes), stored, answered.
import { ServiceUnavailable } from "@kassa/domain"
import { PaymentsApi } from "@kassa/domain/apis"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { WebhookInbox } from "./inbox.ts"

export const WebhooksHttpLive = HttpApiBuilder.group(PaymentsApi, "webhooks", Effect.fn(function*(handlers) {
  const inbox = yield* WebhookInbox
  return handlers.handleRaw("stripe", Effect.fn(function*({ request, headers }) {
    const raw = yield* request.text.pipe(
      Effect.mapError(() => new ServiceUnavailable({ message: "could not read the request body" }))
    )
    yield* inbox.ingest(raw, headers["stripe-signature"])
    return { received: true }
  }))
}))
