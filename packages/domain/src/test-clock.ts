// The deployment's test clock (admin only, and only where KASSA_TEST_CLOCK=on): read it, and move it forward for
// every app at once, as Stripe's test clocks do, so a black-box test can see a renewal a month on.
import { Schema } from "effect"
import { HttpApiEndpoint, OpenApi } from "effect/http-api"
import { adminGroup } from "./auth.ts"
import { ServiceUnavailable } from "./errors.ts"
import { Instant, UtcDateTime } from "./time.ts"

export const TestClockState = Schema.Struct({
  /** false unless the deployment runs with KASSA_TEST_CLOCK=on */
  enabled: Schema.Boolean,
  /** the deployment's time now */
  now: UtcDateTime,
  /** how far it is ahead of the real time, in whole seconds */
  offsetSeconds: Schema.Int
}).annotate({ identifier: "TestClockState" })
export type TestClockState = typeof TestClockState.Type

/** An ISO 8601 duration of days and time (`P31D`, `PT6H`, `P1DT30M`); months and years are not fixed lengths. */
export const IsoDuration = Schema.String.check(
  Schema.isPattern(/^P(?!$)(\d{1,5}D)?(T(?=\d)(\d{1,6}H)?(\d{1,7}M)?(\d{1,9}S)?)?$/, {
    message: "expected an ISO 8601 duration of days and time such as P31D or PT6H"
  })
).annotate({ identifier: "IsoDuration", examples: ["P31D", "PT6H"] })

/** Exactly one of the two: move by a duration, or to an instant (which must not be in the past). */
export const MoveTestClock = Schema.Struct({
  advanceBy: Schema.optionalKey(IsoDuration),
  setTo: Schema.optionalKey(Instant)
}).annotate({ identifier: "MoveTestClock" })

/** 404: this deployment has no test clock (KASSA_TEST_CLOCK is not on). */
export class TestClockOff
  extends Schema.TaggedError<TestClockOff>()("TestClockOff", { message: Schema.String }, { httpApiStatus: 404 })
{}

/** 422: the move would take time back, or says neither or both of `advanceBy` and `setTo`. */
export class TestClockMoveRefused extends Schema.TaggedError<TestClockMoveRefused>()(
  "TestClockMoveRefused",
  { message: Schema.String },
  { httpApiStatus: 422 }
) {}

export class TestClockGroup extends adminGroup(
  "testClock",
  HttpApiEndpoint.get("get", "/test-clock", { success: TestClockState, error: [TestClockOff, ServiceUnavailable] })
    .annotate(OpenApi.Summary, "Read the deployment's test clock"),
  HttpApiEndpoint.post("move", "/test-clock", {
    payload: MoveTestClock,
    success: TestClockState,
    error: [TestClockOff, TestClockMoveRefused, ServiceUnavailable]
  }).annotate(OpenApi.Summary, "Move the deployment's test clock forward")
).annotateMerge(OpenApi.annotations({
  title: "Admin: test clock",
  description: "Only with KASSA_TEST_CLOCK=on (never in production): moves time forward for every app of the " +
    "deployment at once — every clock read, token expiry, refund windows, grace periods, the scheduler's next cycle."
})) {}

/** Milliseconds of an `IsoDuration`. */
export const isoDurationMillis = (text: string): number => {
  const match = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(text)
  if (match === null) return 0
  const [days = "0", hours = "0", minutes = "0", seconds = "0"] = match.slice(1).map((part) => part ?? "0")
  return ((Number(days) * 24 + Number(hours)) * 60 + Number(minutes)) * 60_000 + Number(seconds) * 1000
}
