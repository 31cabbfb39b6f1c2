// The testClock group of BillingApi: the deployment's test clock, read and moved forward by an admin, and only where
// KASSA_TEST_CLOCK=on (everywhere else 404). Moving it moves every app's time: they all read the shared offset.
import { BillingApi } from "@kassa/domain/apis"
import { ServiceUnavailable } from "@kassa/domain/errors"
import { isoDurationMillis, TestClockMoveRefused, TestClockOff } from "@kassa/domain/test-clock"
import { DeploymentClock } from "@kassa/platform/test-clock"
import { DateTime, Duration, Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"

export const TestClockHttpLive = HttpApiBuilder.group(BillingApi, "testClock", (handlers) =>
  Effect.gen(function*() {
    const clock = yield* DeploymentClock
    const off = () => new TestClockOff({ message: "this deployment has no test clock (KASSA_TEST_CLOCK is not on)" })
    const state = Effect.gen(function*() {
      const offset = yield* clock.offset
      return { enabled: true, now: yield* DateTime.now, offsetSeconds: Math.floor(Duration.toSeconds(offset)) }
    })
    return handlers
      .handle("get", () => clock.enabled ? state : Effect.fail(off()))
      .handle("move", ({ payload }) =>
        Effect.gen(function*() {
          if (!clock.enabled) return yield* off()
          if ((payload.advanceBy === undefined) === (payload.setTo === undefined)) {
            return yield* new TestClockMoveRefused({ message: "give exactly one of advanceBy and setTo" })
          }
          const by = payload.advanceBy !== undefined
            ? isoDurationMillis(payload.advanceBy)
            : DateTime.toEpochMillis(payload.setTo!) - DateTime.toEpochMillis(yield* DateTime.now)
          if (by < 0) return yield* new TestClockMoveRefused({ message: "the test clock only moves forward" })
          yield* clock.advance(Duration.millis(by)).pipe(
            Effect.mapError(() =>
              new ServiceUnavailable({ message: "the cache that keeps the test clock is unavailable" })
            )
          )
          return yield* state
        }))
  }))
