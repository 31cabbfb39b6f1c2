// Bad input answers with a body that names the problem. Without this middleware an HttpApi
// answers a request that fails its schemas with an empty 400, and reads bodies of any size.
import { Schema } from "effect"
import { HttpApiMiddleware } from "effect/http-api"
import { BadRequest, ServiceUnavailable } from "./errors.ts"

/** 413: the request body is larger than the server accepts. */
export class PayloadTooLarge extends Schema.TaggedError<PayloadTooLarge>()(
  "PayloadTooLarge",
  { message: Schema.String, maxBytes: Schema.Int },
  { httpApiStatus: 413 }
) {}

/** 415: a body in a media type the endpoint does not take (JSON endpoints take `application/json`). */
export class UnsupportedMediaType extends Schema.TaggedError<UnsupportedMediaType>()(
  "UnsupportedMediaType",
  { message: Schema.String },
  { httpApiStatus: 415 }
) {}

/**
 * Put on a group (`.middleware(RequestValidation)`) before any authentication middleware, so that a
 * missing token is reported before bad input. A path, query, header or body that fails its schema gets
 * a 400 `BadRequest` whose `field` is the offending path (`plans.0.currency`); a body over the limit
 * gets a 413 `PayloadTooLarge` before it is read, and one in a media type the endpoint does not take a 415
 * `UnsupportedMediaType`. A database that goes away under a request is a 503 `ServiceUnavailable`, whatever the
 * endpoint.
 */
export class RequestValidation extends HttpApiMiddleware.Service<RequestValidation>()("kassa/RequestValidation", {
  error: [BadRequest, PayloadTooLarge, UnsupportedMediaType, ServiceUnavailable]
}) {}
