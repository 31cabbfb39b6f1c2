// Support for the fault suite: Kassa's apps as child processes (killed and restarted at will), each dependency
// reached through a TCP proxy the test can cut or stall, and a client that retries a money request with the same
// Idempotency-Key until it gets a final answer, counting every answer it saw.
import { BillingMigrations } from "@kassa/billing/migrations"
import { CatalogMigrations } from "@kassa/catalog/migrations"
import { PaymentsMigrations } from "@kassa/payments/migrations"
import { layerFromUrl } from "@kassa/platform/db"
import { makeTestDatabase, tcpProxy } from "@kassa/platform/testing"
import { type ChildProcess, spawn } from "node:child_process"
import { createServer } from "node:net"
import { fileURLToPath } from "node:url"
import { Context, Effect, Layer, Redacted, Schedule, type Scope } from "effect"
import { SqlClient } from "effect/sql"
import { SetupFailed } from "./processes.ts"

const root = fileURLToPath(new URL("../", import.meta.url))

/**
 * A fresh database with every app's schema, for apps run as processes: its name (their DATABASE_URL) and a SQL client
 * of the test's own (`maxConnections` of them) to seed and check it.
 */
export const migratedDatabase = (maxConnections: number) =>
  Effect.gen(function*() {
    const database = yield* makeTestDatabase()
    const context = yield* Layer.build(
      Layer.mergeAll(BillingMigrations, PaymentsMigrations, CatalogMigrations).pipe(
        Layer.provideMerge(layerFromUrl(database, { maxConnections }))
      )
    )
    return {
      dbName: new URL(Redacted.value(database)).pathname.slice(1),
      sql: Context.get(context, SqlClient.SqlClient)
    }
  })

export const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const address = s.address()
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })
)

/** A TCP proxy to `upstream` on a port of its own, with cut/stall/restore. */
export const link = (upstream: number) =>
  Effect.gen(function*() {
    const proxy = yield* tcpProxy(upstream)
    const port = yield* proxy.start(0)
    // (a stalled proxy still listens: restoring closes it first)
    return {
      port,
      cut: proxy.cut,
      stall: proxy.stall,
      restore: Effect.andThen(proxy.cut, Effect.asVoid(proxy.start(port)))
    }
  })
export type Link = Effect.Success<ReturnType<typeof link>>

const getStatus = (url: string) =>
  Effect.tryPromise(async () => (await fetch(url, { signal: AbortSignal.timeout(2000) })).status)

/**
 * An app (`apps/<name>/src/main.ts`) as a child process with exactly `env`, up once `/health` answers. `kill` sends
 * SIGKILL (nothing runs after it), `start` starts it again with the same environment. Killed at scope end.
 */
export const appProcess = (name: string, port: number, env: Record<string, string>) =>
  Effect.gen(function*() {
    let child: ChildProcess | undefined
    const output: Array<string> = []
    const start = Effect.gen(function*() {
      const started = spawn(process.execPath, [`apps/${name}/src/main.ts`], {
        cwd: root,
        env: { PATH: process.env["PATH"] ?? "", LOG_FORMAT: "json", LOG_LEVEL: "Warn", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      child = started
      for (const stream of [started.stdout, started.stderr]) {
        stream?.on("data", (chunk: Buffer) => {
          output.push(chunk.toString())
          if (output.length > 2000) output.shift()
        })
      }
      yield* getStatus(`http://127.0.0.1:${port}/health`).pipe(
        Effect.flatMap((status) =>
          status === 200 ? Effect.void : Effect.fail(new SetupFailed({ message: `health ${status}` }))
        ),
        Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.upTo({ times: 300 }))),
        Effect.catch(() => Effect.die(new Error(`${name} did not come up:\n${output.join("")}`)))
      )
    })
    const kill = Effect.promise(() =>
      new Promise<void>((resolve) => {
        const running = child
        // a process killed by a signal has no exit code, only a signal code: it has exited all the same
        if (running === undefined || running.exitCode !== null || running.signalCode !== null) return resolve()
        running.once("exit", () => resolve())
        running.kill("SIGKILL")
      })
    )
    yield* Effect.addFinalizer(() => kill)
    yield* start
    return { name, port, start, kill, output: () => output.join("") }
  })

/** What the load saw: each answer's status, tagged with whether a fault was active. */
export interface Tally {
  readonly during: Map<string, number>
  readonly after: Map<string, number>
  /** answers that are not allowed: any 5xx but 502/503 (and any 5xx after the faults), network errors after */
  readonly violations: Array<string>
}

export const makeTally = (): Tally => ({ during: new Map(), after: new Map(), violations: [] })

export interface Answer {
  readonly status: number
  readonly body: Record<string, unknown>
}

/**
 * Sends a money request with one Idempotency-Key until its answer is final: a 202 (outcome pending), a 409
 * IdempotencyInFlight, a 5xx or no answer at all is retried after a pause (what a careful client does).
 */
export const untilFinal = (
  tallyNow: () => Tally,
  faulty: () => boolean,
  request: () => Promise<Answer>
): Effect.Effect<Answer, never, Scope.Scope> =>
  Effect.gen(function*() {
    for (let attempt = 0; attempt < 400; attempt++) {
      const during = faulty()
      const answer = yield* Effect.promise(() =>
        request().catch((error: unknown) => ({ status: 0, body: { error: String(error) } }) as Answer)
      )
      // counted in the scenario it came back in; a fault that began while it was in flight counts too
      const tally = tallyNow()
      const faultSeen = during || faulty()
      const label = answer.status === 0 ? "no answer" : String(answer.status)
      const bucket = faultSeen ? tally.during : tally.after
      bucket.set(label, (bucket.get(label) ?? 0) + 1)
      if (answer.status >= 500 && answer.status !== 502 && answer.status !== 503) {
        tally.violations.push(`${answer.status} ${JSON.stringify(answer.body).slice(0, 300)}`)
      } else if (!faultSeen && answer.status >= 500) {
        tally.violations.push(`${answer.status} with no fault active: ${JSON.stringify(answer.body).slice(0, 300)}`)
      }
      const pending = answer.status === 0 || answer.status === 202 || answer.status >= 500 ||
        (answer.status === 409 && answer.body["_tag"] === "IdempotencyInFlight")
      if (!pending) return answer
      yield* Effect.sleep(answer.status === 0 ? "300 millis" : "200 millis")
    }
    return yield* Effect.die(new Error("no final answer after 400 tries"))
  })
