// The one backoff: exponential from `base`, capped at `cap`, each delay scaled by a random factor in 0.8..1.2 so
// replicas that failed together do not retry together. For anything retried until it comes back (a broker, a
// feed, a database, a peer); bound it with `times` or `Schedule.upTo` where giving up is right.
import { Duration, Effect, Random, Schedule } from "effect"

export interface Backoff {
  readonly base: Duration.Input
  readonly cap: Duration.Input
}

/** As a Schedule, for `Effect.retry` / `Effect.repeat`. */
export const backoff = ({ base, cap }: Backoff) =>
  Schedule.min([Schedule.exponential(base), Schedule.spaced(cap)]).pipe(Schedule.jittered)

/** The delay before retry number `attempt` (0 = the first), given `random` in [0, 1): for code outside Effect. */
export const backoffMillis = (attempt: number, { base, cap }: Backoff, random: number): number => {
  const exponential = Duration.toMillis(Duration.fromInputUnsafe(base)) * 2 ** Math.min(attempt, 40)
  return Math.round(Math.min(Duration.toMillis(Duration.fromInputUnsafe(cap)), exponential) * (0.8 + 0.4 * random))
}

/** The same delay as an Effect, for retries a table schedules (the row's next attempt) rather than a fiber. */
export const backoffDelay = (attempt: number, options: Backoff): Effect.Effect<Duration.Duration> =>
  Effect.map(Random.next, (random) => Duration.millis(backoffMillis(attempt, options, random)))
