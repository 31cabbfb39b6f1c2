// Stripe's error answers: `{ error: { type, code?, decline_code?, message, param?, … } }` with Stripe's status
// codes, and the readers that turn a decoded form into typed parameters or such an error.
import { Data, Effect } from "effect"
import type { Param, ParamObject } from "./form.ts"

export type ErrorType = "api_error" | "card_error" | "idempotency_error" | "invalid_request_error"

export interface ErrorBody {
  readonly type: ErrorType
  readonly message: string
  readonly code?: string
  readonly decline_code?: string
  readonly param?: string
  readonly doc_url?: string
  readonly [extra: string]: unknown
}

/**
 * A Stripe error answer. `validation` marks a request refused before any endpoint ran: Stripe keeps no
 * idempotent result for it, so the same key may be used again.
 */
export class StripeApiError extends Data.TaggedError("StripeApiError")<{
  readonly status: number
  readonly body: ErrorBody
  readonly validation: boolean
}> {}

const docUrl = (code: string) => `https://stripe.com/docs/error-codes/${code.replaceAll("_", "-")}`

export const invalidRequest = (message: string, extra: { code?: string; param?: string } = {}, status = 400) =>
  new StripeApiError({
    status,
    validation: true,
    body: {
      type: "invalid_request_error",
      message,
      ...extra,
      ...(extra.code === undefined ? {} : { doc_url: docUrl(extra.code) })
    }
  })

/** A request that ran but is not allowed in the object's current state (the result is kept for the key). */
export const unexpectedState = (message: string, code: string, param?: string) =>
  new StripeApiError({
    status: 400,
    validation: false,
    body: {
      type: "invalid_request_error",
      message,
      code,
      doc_url: docUrl(code),
      ...(param === undefined ? {} : { param })
    }
  })

export const resourceMissing = (kind: string, id: string, param?: string) =>
  new StripeApiError({
    status: param === undefined ? 404 : 400,
    validation: param !== undefined,
    body: {
      type: "invalid_request_error",
      code: "resource_missing",
      doc_url: docUrl("resource_missing"),
      message: `No such ${kind}: '${id}'`,
      param: param ?? "id"
    }
  })

export const unauthenticated = (message: string) =>
  new StripeApiError({ status: 401, validation: true, body: { type: "invalid_request_error", message } })

// ---- parameters ------------------------------------------------------------------------------------------

const missing = (name: string) =>
  invalidRequest(`Missing required param: ${name}.`, { code: "parameter_missing", param: name })

const invalid = (name: string, message: string, code = "parameter_invalid_string") =>
  invalidRequest(message, { code, param: name })

export interface Params {
  /** Fails like Stripe on a top-level key the endpoint does not take. */
  readonly only: (allowed: ReadonlyArray<string>) => Effect.Effect<void, StripeApiError>
  readonly string: (name: string) => Effect.Effect<string | undefined, StripeApiError>
  readonly requiredString: (name: string) => Effect.Effect<string, StripeApiError>
  readonly int: (name: string) => Effect.Effect<number | undefined, StripeApiError>
  readonly boolean: (name: string) => Effect.Effect<boolean | undefined, StripeApiError>
  readonly oneOf: <const A extends string>(
    name: string,
    values: ReadonlyArray<A>
  ) => Effect.Effect<A | undefined, StripeApiError>
  /** A flat `name[key]=value` map such as `metadata`. */
  readonly map: (name: string) => Effect.Effect<Record<string, string>, StripeApiError>
  readonly nested: (name: string) => Params
}

const describe = (value: Param): string => typeof value === "string" ? value : JSON.stringify(value)

export const params = (raw: ParamObject, prefix = ""): Params => {
  const full = (name: string) => prefix === "" ? name : `${prefix}[${name}]`
  const scalar = (name: string): Effect.Effect<string | undefined, StripeApiError> => {
    const value = raw[name]
    if (value === undefined) return Effect.succeed(undefined)
    return typeof value === "string"
      ? Effect.succeed(value)
      : Effect.fail(invalid(full(name), `Invalid string: ${describe(value)}`))
  }
  const self: Params = {
    only: (allowed) => {
      const unknown = Object.keys(raw).find((key) => !allowed.includes(key))
      return unknown === undefined
        ? Effect.void
        : Effect.fail(invalidRequest(`Received unknown parameter: ${full(unknown)}`, {
          code: "parameter_unknown",
          param: full(unknown)
        }))
    },
    string: scalar,
    requiredString: (name) =>
      Effect.flatMap(
        scalar(name),
        (value) => value === undefined || value === "" ? Effect.fail(missing(full(name))) : Effect.succeed(value)
      ),
    int: (name) =>
      Effect.flatMap(scalar(name), (value) => {
        if (value === undefined) return Effect.succeed(undefined)
        return /^-?\d+$/.test(value) && Number.isSafeInteger(Number(value))
          ? Effect.succeed(Number(value))
          : Effect.fail(invalid(full(name), `Invalid integer: ${value}`, "parameter_invalid_integer"))
      }),
    boolean: (name) =>
      Effect.flatMap(scalar(name), (value) => {
        if (value === undefined) return Effect.succeed(undefined)
        if (value === "true") return Effect.succeed(true)
        if (value === "false") return Effect.succeed(false)
        return Effect.fail(invalid(full(name), `Invalid boolean: ${value}`, "parameter_invalid_boolean"))
      }),
    oneOf: (name, values) =>
      Effect.flatMap(scalar(name), (value) => {
        if (value === undefined) return Effect.succeed(undefined)
        const found = values.find((v) => v === value)
        return found !== undefined
          ? Effect.succeed(found)
          : Effect.fail(invalid(full(name), `Invalid ${full(name)}: must be one of ${values.join(", ")}`))
      }),
    map: (name) => {
      const value = raw[name]
      if (value === undefined || value === "") return Effect.succeed({})
      if (typeof value !== "object" || Array.isArray(value)) {
        return Effect.fail(invalid(full(name), `Invalid object: ${describe(value)}`, "parameter_invalid_object"))
      }
      const entries = Object.entries(value as ParamObject)
      const bad = entries.find(([, v]) => typeof v !== "string")
      return bad === undefined
        ? Effect.succeed(Object.fromEntries(entries) as Record<string, string>)
        : Effect.fail(invalid(`${full(name)}[${bad[0]}]`, `Invalid string: ${describe(bad[1])}`))
    },
    nested: (name) => {
      const value = raw[name]
      return params(typeof value === "object" && !Array.isArray(value) ? value as ParamObject : {}, full(name))
    }
  }
  return self
}
