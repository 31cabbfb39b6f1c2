// The only door to Stripe. The SDK never retries on its own (maxNetworkRetries: 0): retries are ours, with
// Schedule, and because `call` captures the caller's idempotency key, every retry of one call resends that key.
import { Clock, Context, Duration, Effect, Layer, Option, Redacted, Schema } from "effect"
import Stripe from "stripe"
import { developmentApiKey, StripeConfig } from "./config.ts"
import { backoff } from "@kassa/platform/backoff"

/**
 * Stripe answered with an error. A 4xx applied nothing; a 5xx is Stripe's own failure, which Stripe calls
 * indeterminate: retry with the same key (see `retryable`) or retrieve the object before concluding.
 */
export class StripeError extends Schema.TaggedError<StripeError>()("StripeError", {
  type: Schema.Literals([
    "card_error",
    "invalid_request_error",
    "idempotency_error",
    "api_error",
    "rate_limit_error",
    "authentication_error",
    "permission_error"
  ]),
  code: Schema.optionalKey(Schema.String),
  declineCode: Schema.optionalKey(Schema.String),
  statusCode: Schema.Int,
  message: Schema.String,
  requestId: Schema.optionalKey(Schema.String),
  // Worth repeating with the same idempotency key: 409 (same key in flight), 429, 5xx, or Stripe-Should-Retry: true.
  retryable: Schema.Boolean
}) {}

/**
 * No usable answer (refused, reset, timed out, unreadable body): the request may or may not have been applied.
 * Never treat it as a failure; retry with the same idempotency key or ask Stripe (retrieve) what happened.
 */
export class StripeConnectionError extends Schema.TaggedError<StripeConnectionError>()("StripeConnectionError", {
  reason: Schema.Literals(["timeout", "network", "invalid_response"]),
  message: Schema.String,
  requestId: Schema.optionalKey(Schema.String),
  retryable: Schema.Boolean
}) {}

export type StripeCallError = StripeError | StripeConnectionError

export class InvalidSignature extends Schema.TaggedError<InvalidSignature>()(
  "InvalidSignature",
  { message: Schema.String },
  { httpApiStatus: 400 }
) {}

/** Stripe's own default: a signed webhook older than this is a replay. */
export const webhookToleranceSeconds = 300

const knownTypes: ReadonlyArray<StripeError["type"]> = StripeError.fields.type.literals

const errorType = (e: Stripe.errors.StripeError): StripeError["type"] => {
  // The SDK classifies 429 as a rate limit whatever the body's `type` says.
  if (e instanceof Stripe.errors.StripeRateLimitError) return "rate_limit_error"
  const raw = knownTypes.find((t) => t === e.rawType)
  if (raw !== undefined) return raw
  if (e instanceof Stripe.errors.StripeCardError) return "card_error"
  if (e instanceof Stripe.errors.StripeIdempotencyError) return "idempotency_error"
  if (e instanceof Stripe.errors.StripeInvalidRequestError) return "invalid_request_error"
  if (e instanceof Stripe.errors.StripeAuthenticationError) return "authentication_error"
  if (e instanceof Stripe.errors.StripePermissionError) return "permission_error"
  return "api_error"
}

const isRetryableStatus = (statusCode: number, shouldRetry: string | undefined): boolean =>
  shouldRetry === "true" ?
    true
    : shouldRetry === "false" ?
    false
    : statusCode === 409 || statusCode === 429 || statusCode >= 500

const optional = <K extends string>(key: K, value: string | undefined): { [P in K]?: string } =>
  (value === undefined || value === "" ? {} : { [key]: value }) as { [P in K]?: string }

const timeoutCode = "ETIMEDOUT" // HttpClient.TIMEOUT_ERROR_CODE

/** What the SDK threw, before it is told apart (fromSdkFailure). */
class SdkThrew extends Schema.TaggedError<SdkThrew>()("SdkThrew", { cause: Schema.Defect() }) {}

const fromSdkFailure = (cause: unknown): Effect.Effect<never, StripeCallError> => {
  // Anything that is not a Stripe error was thrown before a request left (bad arguments, a bug in `f`).
  if (!(cause instanceof Stripe.errors.StripeError)) return Effect.die(cause)
  const requestId = optional("requestId", cause.requestId)
  if (cause instanceof Stripe.errors.StripeConnectionError) {
    const detail = cause.detail
    const timedOut = typeof detail === "object" && detail !== null && "code" in detail && detail.code === timeoutCode
    return Effect.fail(
      new StripeConnectionError({
        reason: timedOut ? "timeout" : "network",
        message: cause.message,
        ...requestId,
        retryable: true
      })
    )
  }
  // No status code: the body could not be read as Stripe JSON, so we cannot know what happened.
  if (cause.statusCode === undefined) {
    return Effect.fail(
      new StripeConnectionError({ reason: "invalid_response", message: cause.message, ...requestId, retryable: true })
    )
  }
  return Effect.fail(
    new StripeError({
      type: errorType(cause),
      ...optional("code", cause.code),
      ...optional("declineCode", cause.decline_code),
      statusCode: cause.statusCode,
      message: cause.message,
      ...requestId,
      retryable: isRetryableStatus(cause.statusCode, cause.headers?.["stripe-should-retry"])
    })
  )
}

export interface StripeClientOptions {
  /** Unset → `developmentApiKey`. */
  readonly apiKey?: Redacted.Redacted<string> | undefined
  /** Origin of a Stripe-compatible API (the sandbox); unset → api.stripe.com. Only the origin is used. */
  readonly apiBase?: URL | undefined
  /** Per-request deadline; default 10 s. */
  readonly timeout?: Duration.Input | undefined
}

export class StripeClient extends Context.Service<StripeClient, {
  /**
   * Any request that changes state. The key is mandatory and sent as-is in `Idempotency-Key` (pass `opts` to
   * the SDK method); use a deterministic one such as `payment:<attempt id>`. Wrap the returned effect in a
   * retry (e.g. `retryTransient`), never `call` again with a new key, so a retry cannot double-charge.
   */
  call<A>(
    idempotencyKey: string,
    f: (sdk: Stripe, opts: Stripe.RequestOptions) => Promise<A>
  ): Effect.Effect<A, StripeCallError>
  /**
   * GET requests only (retrieve, list, search). Stripe ignores idempotency keys on GET, so none is taken;
   * anything that writes goes through `call`, otherwise the SDK would invent a random key.
   */
  read<A>(f: (sdk: Stripe) => Promise<A>): Effect.Effect<A, StripeCallError>
  /**
   * Checks `Stripe-Signature` against each secret (several during a rotation) and the timestamp against
   * the Clock (tolerance 300 s). `rawBody` must be the bytes as received, never re-serialised JSON.
   */
  verifyWebhook(
    rawBody: string | Uint8Array,
    signatureHeader: string | undefined,
    secrets: ReadonlyArray<Redacted.Redacted<string>>
  ): Effect.Effect<Stripe.Event, InvalidSignature>
}>()("kassa/StripeClient") {
  static readonly make = (options: StripeClientOptions) =>
    Effect.sync(() => {
      const base = options.apiBase
      const sdk = new Stripe(Redacted.value(options.apiKey ?? Redacted.make(developmentApiKey)), {
        maxNetworkRetries: 0,
        timeout: Duration.toMillis(options.timeout ?? Duration.seconds(10)),
        ...(base === undefined ? {} : {
          host: base.hostname,
          protocol: base.protocol === "http:" ? "http" as const : "https" as const,
          // the SDK defaults to 443 even for http
          port: base.port !== "" ? Number(base.port) : base.protocol === "http:" ? 80 : 443
        })
      })

      const run = <A>(name: string, attributes: Record<string, string>, f: () => Promise<A>) =>
        Effect.tryPromise({ try: f, catch: (cause) => new SdkThrew({ cause }) }).pipe(
          Effect.catch(({ cause }) => fromSdkFailure(cause)),
          Effect.withSpan(name, { attributes }, { captureStackTrace: false })
        )

      const call = <A>(idempotencyKey: string, f: (sdk: Stripe, opts: Stripe.RequestOptions) => Promise<A>) =>
        // An empty key would make the SDK fall back to a random one, which defeats the point.
        idempotencyKey === ""
          ? Effect.die(new Error("StripeClient.call: empty idempotency key"))
          : run("StripeClient.call", { idempotencyKey }, () => f(sdk, { idempotencyKey }))

      const read = <A>(f: (sdk: Stripe) => Promise<A>) => run("StripeClient.read", {}, () => f(sdk))

      const verifyWebhook = Effect.fn("StripeClient.verifyWebhook")(function*(
        rawBody: string | Uint8Array,
        signatureHeader: string | undefined,
        secrets: ReadonlyArray<Redacted.Redacted<string>>
      ) {
        if (signatureHeader === undefined || signatureHeader === "") {
          return yield* new InvalidSignature({ message: "missing Stripe-Signature header" })
        }
        // First find the secret that signed it (tolerance 0 = signature only), then check its age, so a stale
        // but genuine delivery is reported as stale rather than as "no matching signature".
        const signedWith = secrets.find((secret) => {
          try {
            return sdk.webhooks.signature?.verifyHeader(rawBody, signatureHeader, Redacted.value(secret), 0) === true
          } catch {
            return false
          }
        })
        if (signedWith === undefined) {
          return yield* new InvalidSignature({ message: "no signature matches any configured webhook secret" })
        }
        const now = yield* Clock.currentTimeMillis
        return yield* Effect.try({
          try: () =>
            sdk.webhooks.constructEvent(
              rawBody,
              signatureHeader,
              Redacted.value(signedWith),
              webhookToleranceSeconds,
              undefined,
              now
            ),
          catch: (e) => new InvalidSignature({ message: e instanceof Error ? e.message : String(e) })
        })
      })

      return StripeClient.of({ call, read, verifyWebhook })
    })

  static readonly layer = Layer.effect(
    StripeClient,
    Effect.gen(function*() {
      const config = yield* StripeConfig
      return yield* StripeClient.make({
        apiKey: Option.getOrUndefined(config.apiKey),
        apiBase: Option.getOrUndefined(config.apiBase),
        timeout: config.timeout
      })
    })
  )

  static readonly layerWith = (options: StripeClientOptions) => Layer.effect(StripeClient, StripeClient.make(options))
}

/** Reads STRIPE_API_KEY, STRIPE_API_BASE and STRIPE_TIMEOUT. */
export const StripeClientLive = StripeClient.layer
export const layerWith = StripeClient.layerWith

/**
 * Bounded, jittered retry of retryable failures only (429, 409, 5xx, no answer). Apply it to the effect
 * returned by `call`: each attempt resends the same idempotency key, so Stripe applies the request at most once.
 */
export const retryTransient = <A, R>(
  self: Effect.Effect<A, StripeCallError, R>
): Effect.Effect<A, StripeCallError, R> =>
  Effect.retry(self, {
    schedule: backoff({ base: "200 millis", cap: "5 seconds" }),
    times: 3,
    while: (error) => error.retryable
  })
