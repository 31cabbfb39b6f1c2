// The server side of the domain's RequestValidation middleware: schema failures become a 400 naming the
// field, every string the client sent (path, query, JSON body) must be storable text, and bodies are bounded
// so a huge one is refused with a 413 instead of being buffered. Plus `orUnavailable`, which keeps database
// failures behind validated input from turning into 500s.
import { BadRequest, ServiceUnavailable } from "@kassa/domain/errors"
import { isStorableText, storableTextMessage, unstorableAt } from "@kassa/domain/text"
import { PayloadTooLarge, RequestValidation, UnsupportedMediaType } from "@kassa/domain/validation"
import { ByteSize, Cause, Effect, Layer, type Schema, SchemaIssue } from "effect"
import {
  HttpEffect,
  HttpIncomingMessage,
  HttpRouter,
  HttpServerError,
  HttpServerRequest,
  HttpServerResponse
} from "effect/http"
import { HttpApiError } from "effect/http-api"
import { SqlError } from "effect/sql"
import type { unhandled } from "effect/Types"

/** Default body limit: far above any JSON document the APIs take. */
export const defaultMaxBodyBytes = 1_048_576

const formatIssues = SchemaIssue.makeFormatterStandardSchemaV1()

const slotNames = { Params: "path", Query: "query", Headers: "header", Payload: "body" } as const

const segment = (key: PropertyKey | { readonly key: PropertyKey }): string => {
  const k = typeof key === "object" ? key.key : key
  return typeof k === "symbol" ? k.description ?? "" : String(k)
}

/** The first issue of a request decoding failure as a BadRequest, e.g. field `plans.0.amount`. */
export const toBadRequest = (error: HttpApiError.HttpApiSchemaError): BadRequest => {
  const slot = error.kind in slotNames ? slotNames[error.kind as keyof typeof slotNames] : "request"
  const issue = formatIssues(error.cause.issue).issues[0]
  const field = (issue?.path ?? []).map(segment).join(".")
  const problem = issue?.message ?? "invalid"
  return field === ""
    ? new BadRequest({ message: `invalid ${slot}: ${problem}` })
    : new BadRequest({ message: `invalid ${slot} field ${field}: ${problem}`, field })
}

// the connection is closed after the 413, so what the client still sends is not read (nor drained) any further
const tooLarge = (maxBytes: number) =>
  Effect.andThen(
    HttpEffect.appendPreResponseHandler((_request, response) =>
      Effect.succeed(response.status === 413 ? HttpServerResponse.setHeader(response, "connection", "close") : response)
    ),
    Effect.fail(new PayloadTooLarge({ message: `request body exceeds ${maxBytes} bytes`, maxBytes }))
  )

// a body sent without Content-Length (chunked) is cut off while it is read, which the HttpApi turns into a defect
const isBodyTooLarge = (defect: unknown): boolean =>
  HttpServerError.isHttpServerError(defect) && defect.reason._tag === "RequestParseError" &&
  defect.reason.reason === "BodyTooLarge"

const unstorable = (slot: string, path: ReadonlyArray<string | number>) => {
  const field = path.join(".")
  return new BadRequest({ message: `invalid ${slot} field ${field}: ${storableTextMessage}`, field })
}

const isJson = (request: HttpServerRequest.HttpServerRequest) =>
  /[/+]json\b/i.test(request.headers["content-type"] ?? "")

const undecodable = (raw: string): boolean => {
  try {
    decodeURIComponent(raw)
    return false
  } catch {
    return true
  }
}

const badEncoding = (slot: string, field: string | undefined) =>
  new BadRequest({
    message: `invalid ${slot}${field === undefined ? "" : ` field ${field}`}: not percent-encoded UTF-8`,
    ...(field === undefined ? {} : { field })
  })

/**
 * The URL as sent: percent-encoding that is not UTF-8 (`%ED%A0%80`, a lone surrogate's bytes, or a cut-off `%E0%A4%A`)
 * cannot be decoded, and the router would pass it on raw; it is refused instead.
 */
const checkEncoding = (url: string, params: Readonly<Record<string, string | undefined>>) => {
  const mark = url.indexOf("?")
  const path = mark === -1 ? url : url.slice(0, mark)
  for (const segment of path.split("/")) {
    if (segment.includes("%") && undecodable(segment)) {
      return badEncoding("path", Object.entries(params).find(([, value]) => value === segment)?.[0])
    }
  }
  if (mark === -1) return undefined
  for (const pair of url.slice(mark + 1).split("&")) {
    const equals = pair.indexOf("=")
    const [key, value] = equals === -1 ? [pair, ""] : [pair.slice(0, equals), pair.slice(equals + 1)]
    if (undecodable(key.replaceAll("+", " "))) return badEncoding("query", undefined)
    if (undecodable(value.replaceAll("+", " "))) {
      return badEncoding("query", decodeURIComponent(key.replaceAll("+", " ")))
    }
  }
  return undefined
}

/**
 * Every string a client sent, before any schema sees it: the URL's percent-encoding, path parameters, query
 * parameters and, for a JSON body, every string value and key. Checking the raw input here covers routes added
 * later without naming their fields. A body that does not parse is left to the endpoint's own decoding (400 or 415).
 */
const checkStrings = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.gen(function*() {
    const params = yield* HttpRouter.params
    const encoding = checkEncoding(request.url, params)
    if (encoding !== undefined) return yield* encoding
    for (const [name, value] of Object.entries(params)) {
      if (value !== undefined && !isStorableText(value)) return yield* unstorable("path", [name])
    }
    const query = yield* HttpServerRequest.ParsedSearchParams
    for (const [name, value] of Object.entries(query)) {
      const at = unstorableAt({ [name]: value })
      if (at !== undefined) return yield* unstorable("query", at.slice(0, 1))
    }
    if (!isJson(request)) return
    const body = yield* request.json.pipe(Effect.option)
    if (body._tag === "None") return
    const at = unstorableAt(body.value)
    if (at !== undefined) return yield* unstorable("body", at)
  })

export const layerRequestValidation = (
  options?: { readonly maxBodyBytes?: number }
): Layer.Layer<RequestValidation> => {
  const maxBytes = options?.maxBodyBytes ?? defaultMaxBodyBytes
  const limit = ByteSize.bytes(maxBytes)
  return Layer.succeed(RequestValidation, (httpEffect) =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const declared = Number(request.headers["content-length"] ?? 0)
      if (declared > maxBytes) return yield* tooLarge(maxBytes)
      return yield* Effect.andThen(checkStrings(request), httpEffect).pipe(
        Effect.provideService(HttpIncomingMessage.MaxBodySize, limit),
        // Body and ResponseHeaders failures are the server's own encoding bugs: they stay 500s
        Effect.catch((e): Effect.Effect<never, unhandled | BadRequest> =>
          HttpApiError.HttpApiSchemaError.is(e) && e.kind !== "Body" && e.kind !== "ResponseHeaders"
            ? Effect.fail(toBadRequest(e))
            : Effect.fail(e)
        ),
        Effect.catchDefect((defect) => isBodyTooLarge(defect) ? tooLarge(maxBytes) : Effect.die(defect)),
        Effect.tapError(retryAfterHeader),
        Effect.catchCause((cause): Effect.Effect<never, unhandled | BadRequest | ServiceUnavailable> => {
          // the database gone mid-request, however it surfaced (a failed rollback is a defect): an outage, 503
          if (outageIn(cause)) {
            return Effect.andThen(Effect.logWarning("database unavailable", cause), Effect.fail(databaseDown()))
          }
          // what becomes a 500 is a bug: logged with its cause here, where the cause is still at hand
          if (
            Cause.hasDies(cause) ||
            cause.reasons.some((r) => Cause.isFailReason(r) && HttpApiError.HttpApiSchemaError.is(r.error))
          ) {
            return Effect.andThen(
              Effect.logError("request failed: a bug", cause).pipe(
                Effect.annotateLogs({ method: request.method, url: request.url })
              ),
              Effect.failCause(cause as Cause.Cause<unhandled | BadRequest>)
            )
          }
          return Effect.failCause(cause as Cause.Cause<unhandled | BadRequest>)
        }),
        // the HttpApi answers a body of a type it does not decode with a plain-text 415: the JSON error instead
        Effect.flatMap((response) =>
          response.status === 415
            ? Effect.fail(new UnsupportedMediaType({
              message: `unsupported Content-Type ${request.headers["content-type"] ?? "(none)"}; send application/json`
            }))
            : Effect.succeed(response)
        )
      )
    }))
}

/** An error that says when to come back (429, 409 in flight, 202 pending) also says it in `Retry-After`. */
const retryAfterHeader = (error: unknown) =>
  typeof error === "object" && error !== null && "retryAfterSeconds" in error &&
    typeof error.retryAfterSeconds === "number"
    ? HttpEffect.appendPreResponseHandler((_request, response) =>
      Effect.succeed(HttpServerResponse.setHeader(response, "retry-after", String(error.retryAfterSeconds)))
    )
    : Effect.void

/** RequestValidation with the default body limit. */
export const RequestValidationLive = layerRequestValidation()

type Infrastructure = SqlError.SqlError | Schema.SchemaError

const isInfrastructure = (error: unknown): error is Infrastructure =>
  typeof error === "object" && error !== null && "_tag" in error &&
  (error._tag === "SqlError" || error._tag === "SchemaError")

// SQLSTATE classes of a server that is going away or out of resources: 08 connection, 53 insufficient resources,
// 57 operator intervention (shutdown, terminated backend), 58 system error
const outageClasses = ["08", "53", "57", "58"]

const sqlState = (error: SqlError.SqlError): string | undefined => {
  const cause: unknown = error.reason.cause
  return typeof cause === "object" && cause !== null && "code" in cause && typeof cause.code === "string"
    ? cause.code
    : undefined
}

/**
 * The one policy for database failures: the database down, going away or overloaded (a retryable SqlError, one
 * with an outage SQLSTATE, or one with none at all — a dropped socket) is an outage, 503. A syntax error, a
 * violated constraint or a row that does not decode is a bug, since input is validated before it gets there: a
 * defect.
 */
export const isOutage = (error: SqlError.SqlError): boolean => {
  if (error.isRetryable) return true
  if (error.reason._tag !== "UnknownError") return false
  const state = sqlState(error)
  return state === undefined || outageClasses.includes(state.slice(0, 2))
}

const databaseDown = () => new ServiceUnavailable({ message: "the database is unavailable; try again" })

/** Whether a failed request's cause is a database outage (see `isOutage`), as a failure or a defect. */
const outageIn = (cause: Cause.Cause<unknown>): boolean =>
  cause.reasons.some((reason) => {
    const error = Cause.isFailReason(reason) ? reason.error : Cause.isDieReason(reason) ? reason.defect : undefined
    return SqlError.isSqlError(error) && isOutage(error)
  })

/**
 * The one database-error policy, for every handler (HTTP or RPC) and anything else answering a caller: an outage
 * (see `isOutage`) is a 503 the caller can retry, logged with its cause, however it surfaced (a failed rollback is
 * a defect); any other SqlError or SchemaError is a bug, a defect.
 */
export const orUnavailable = <A, E, R>(
  effect: Effect.Effect<A, E | Infrastructure, R>
): Effect.Effect<A, Exclude<E, Infrastructure> | ServiceUnavailable, R> =>
  Effect.catch(effect, (error): Effect.Effect<never, Exclude<E, Infrastructure> | ServiceUnavailable> => {
    if (!isInfrastructure(error)) return Effect.fail(error as Exclude<E, Infrastructure>)
    return SqlError.isSqlError(error) && isOutage(error)
      ? Effect.andThen(Effect.logWarning("database unavailable", error), Effect.fail(databaseDown()))
      : Effect.die(error)
  }).pipe(
    Effect.catchCause((cause): Effect.Effect<never, Exclude<E, Infrastructure> | ServiceUnavailable> =>
      outageIn(cause)
        ? Effect.andThen(Effect.logWarning("database unavailable", cause), Effect.fail(databaseDown()))
        : Effect.failCause(cause)
    )
  )
