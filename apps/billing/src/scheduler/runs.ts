// Scheduler cycles started by hand (POST /admin/v1/billing/run): each runs in the app's own scope, apart from the
// request that started it, so a request timeout or a client gone away never interrupts money movement. Its record
// (running → succeeded | failed, with what it did) lives in billing.scheduler_runs, readable from any replica.
import { SchedulerRun, type SchedulerRunRecord } from "@kassa/domain/billing-admin"
import { NotFound, type ServiceUnavailable } from "@kassa/domain/errors"
import { orUnavailable } from "@kassa/platform/validation"
import { randomUUID } from "node:crypto"
import { Cause, Context, DateTime, Effect, Layer, Option, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { SchedulerCycle } from "./cycle.ts"

const RunRow = Schema.Struct({
  id: Schema.String,
  status: Schema.Literals(["running", "succeeded", "failed"]),
  startedAt: Schema.Date,
  finishedAt: Schema.NullOr(Schema.Date),
  result: Schema.NullOr(Schema.fromJsonString(SchedulerRun)),
  error: Schema.NullOr(Schema.String)
})
const decodeRuns = Schema.decodeUnknownEffect(Schema.Array(RunRow))
const encodeResult = Schema.encodeSync(Schema.fromJsonString(SchedulerRun))

const toRecord = (row: typeof RunRow.Type): SchedulerRunRecord => ({
  id: row.id,
  status: row.status,
  startedAt: DateTime.fromDateUnsafe(row.startedAt),
  finishedAt: row.finishedAt === null ? null : DateTime.fromDateUnsafe(row.finishedAt),
  result: row.result,
  error: row.error
})

export class SchedulerRuns extends Context.Service<SchedulerRuns, {
  /** Starts a cycle in the background and answers with its record at once. */
  readonly start: Effect.Effect<SchedulerRunRecord, ServiceUnavailable>
  status(id: string): Effect.Effect<SchedulerRunRecord, NotFound | ServiceUnavailable>
}>()("billing/SchedulerRuns") {
  static readonly layer = Layer.effect(
    SchedulerRuns,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const cycle = yield* SchedulerCycle
      const scope = yield* Effect.scope
      const now = Effect.map(DateTime.now, DateTime.toDateUtc)
      const columns = sql`id, status, started_at, finished_at, result::text AS result, error`

      const finish = (id: string, exit: { readonly result: SchedulerRun } | { readonly error: string }) =>
        Effect.flatMap(now, (at) =>
          "result" in exit
            ? sql`UPDATE billing.scheduler_runs SET status = 'succeeded', finished_at = ${at},
              result = ${encodeResult(exit.result)}::jsonb WHERE id = ${id}`
            : sql`UPDATE billing.scheduler_runs SET status = 'failed', finished_at = ${at}, error = ${exit.error}
              WHERE id = ${id}`)

      const start = Effect.gen(function*() {
        const id = `run_${randomUUID().replaceAll("-", "")}`
        const rows =
          yield* sql`INSERT INTO billing.scheduler_runs (id, status, started_at) VALUES (${id}, 'running', ${yield* now})
        RETURNING ${columns}`.pipe(Effect.flatMap(decodeRuns))
        yield* cycle.run.pipe(
          Effect.matchCauseEffect({
            onSuccess: (result) => finish(id, { result }),
            onFailure: (cause) =>
              Effect.andThen(
                Effect.logError("scheduler run failed", cause).pipe(Effect.annotateLogs({ runId: id })),
                finish(id, { error: Cause.pretty(cause).split("\n")[0] ?? "failed" })
              )
          }),
          Effect.ignore,
          Effect.forkIn(scope)
        )
        return toRecord(rows[0]!)
      }).pipe(orUnavailable)

      const status = (id: string) =>
        sql`SELECT ${columns} FROM billing.scheduler_runs WHERE id = ${id}`.pipe(
          Effect.flatMap(decodeRuns),
          Effect.flatMap((rows) =>
            Option.match(Option.fromNullishOr(rows[0]), {
              onNone: () => Effect.fail(new NotFound({ message: "scheduler run not found", resource: "run" })),
              onSome: (row) => Effect.succeed(toRecord(row))
            })
          ),
          orUnavailable
        )

      return SchedulerRuns.of({ start, status })
    })
  )
}
