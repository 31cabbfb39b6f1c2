// POST /webhooks/stripe: the raw body is read unparsed (the signature covers its exact bytes), stored, answered.
// RequestValidation (on the group) has refused a body over its limit before this reads it.
import { BadRequest } from "@kassa/domain"
import { PaymentsApi } from "@kassa/domain/apis"
import { RequestValidationLive } from "@kassa/platform/validation"
import { Effect, Layer } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { WebhookInbox } from "./inbox.ts"

export const WebhooksHttpLive = HttpApiBuilder.group(
  PaymentsApi,
  "webhooks",
  Effect.fn(function*(handlers) {
    const inbox = yield* WebhookInbox
    return handlers.handleRaw(
      "stripe",
      Effect.fn(function*({ request, headers }) {
        // RequestValidation bounds the body: past the limit the read fails and it answers 413
        const raw = yield* request.text.pipe(
          Effect.catch((error) =>
            error.reason._tag === "RequestParseError" && error.reason.reason === "BodyTooLarge"
              ? Effect.die(error)
              : Effect.fail(new BadRequest({ message: "the request body could not be read" }))
          )
        )
        yield* inbox.ingest(raw, headers["stripe-signature"])
        return { received: true }
      })
    )
  })
).pipe(Layer.provide(RequestValidationLive))
