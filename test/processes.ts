// Apps as separate node processes, for tests of how they are run (npm start, docker/compose.yaml): scoped, so
// every process is killed when the test's scope closes, with its output kept for the failure message. And what
// such tests talk to them with: clients derived from the contracts, a consumer on the exchange.
import { spawn } from "node:child_process"
import { connect, createServer, type Server, type Socket } from "node:net"
import { resolve } from "node:path"
import { fileURLToPath } from "node:url"
import { joinSockets } from "@kassa/platform/testing"
import * as amqp from "amqplib"
import { Effect, Queue, Schedule, Schema } from "effect"
import { FetchHttpClient, HttpClient, HttpClientRequest } from "effect/http"
import { type HttpApi, HttpApiClient, type HttpApiGroup } from "effect/http-api"

export const repoRoot = fileURLToPath(new URL("..", import.meta.url))

/** A port nothing listens on right now. */
export const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const address = s.address()
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })
)

export interface AppProcess {
  readonly name: string
  /** stdout and stderr so far */
  readonly output: () => string
  readonly exitCode: () => number | null
}

/**
 * Runs `node <entry>` (a path from the repo root) in `cwd` with exactly `env` (plus PATH), until the scope closes
 * (SIGTERM, then SIGKILL after 5 s).
 */
export const spawnApp = (name: string, entry: string, env: Record<string, string>, cwd = repoRoot) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const child = spawn(process.execPath, [resolve(repoRoot, entry)], {
        cwd,
        env: { PATH: process.env["PATH"] ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"]
      })
      let output = ""
      const keep = (chunk: Buffer) => {
        output = (output + chunk.toString()).slice(-20_000)
      }
      child.stdout.on("data", keep)
      child.stderr.on("data", keep)
      const app: AppProcess = { name, output: () => output, exitCode: () => child.exitCode }
      return { child, app }
    }),
    ({ child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        const force = setTimeout(() => child.kill("SIGKILL"), 5_000)
        child.once("exit", () => {
          clearTimeout(force)
          resume(Effect.void)
        })
        child.kill("SIGTERM")
      })
  ).pipe(Effect.map(({ app }) => app))

export const fetchText = (url: string, init?: RequestInit) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url, init)
    return { status: response.status, body: await response.text() }
  })

/** A process, port or fixture the test stands on did not come up as it should. */
export class SetupFailed extends Schema.TaggedError<SetupFailed>()("SetupFailed", { message: Schema.String }) {}

/** Waits until `url` answers 200; fails with the app's output if it exits or takes longer than `seconds`. */
export const waitHealthy = (app: AppProcess, url: string, seconds = 40) =>
  Effect.gen(function*() {
    const code = app.exitCode()
    if (code !== null) return yield* new SetupFailed({ message: `${app.name} exited with ${code}:\n${app.output()}` })
    const answer = yield* fetchText(url)
    if (answer.status !== 200) {
      return yield* new SetupFailed({ message: `${app.name}: ${url} answered ${answer.status}` })
    }
  }).pipe(
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: seconds * 10 }),
    Effect.mapError((error) =>
      new SetupFailed({ message: `${app.name} did not become healthy at ${url}: ${error}\n${app.output()}` })
    )
  )

/**
 * A TCP proxy on a free port that hands each new connection to the next of `ports`, as Docker's DNS answer for a
 * replicated service (or a round-robin balancer in front of it) would. Closed with the scope.
 */
export const roundRobinProxy = (ports: ReadonlyArray<number>) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: Server; readonly port: number; readonly sockets: Set<Socket> }>((resume) => {
      let next = 0
      const sockets = new Set<Socket>()
      const server = createServer((client) => {
        const upstream = connect(ports[next++ % ports.length]!, "127.0.0.1")
        joinSockets(client, upstream, sockets)
        client.pipe(upstream).pipe(client)
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        resume(Effect.succeed({ server, port: typeof address === "object" && address ? address.port : 0, sockets }))
      })
    }),
    ({ server, sockets }) =>
      Effect.sync(() => {
        server.close()
        for (const socket of sockets) socket.destroy()
      })
  ).pipe(Effect.map(({ port }) => port))

/** A client derived from `api` at `baseUrl`. */
export const clientAt = <Id extends string, Groups extends HttpApiGroup.Constraint>(
  api: HttpApi.HttpApi<Id, Groups>,
  baseUrl: string,
  bearer?: string
) =>
  HttpApiClient.make(api, {
    baseUrl,
    transformClient: HttpClient.mapRequest((request) =>
      bearer === undefined ? request : HttpClientRequest.bearerToken(request, bearer)
    )
  }).pipe(Effect.provide(FetchHttpClient.layer))

/** Every message on the exchange, from now on. */
export const consumeAll = (url: string, exchange: string) =>
  Effect.gen(function*() {
    const connection = yield* Effect.acquireRelease(
      Effect.promise(() => amqp.connect(url)),
      (c) => Effect.promise(() => c.close().catch(() => {}))
    )
    const channel = yield* Effect.promise(() => connection.createChannel())
    yield* Effect.promise(() => channel.assertExchange(exchange, "topic", { durable: true }))
    const { queue } = yield* Effect.promise(() => channel.assertQueue("", { exclusive: true, autoDelete: true }))
    yield* Effect.promise(() => channel.bindQueue(queue, exchange, "#"))
    const inbox = yield* Queue.unbounded<{ readonly type: string; readonly body: string }>()
    yield* Effect.promise(() =>
      channel.consume(
        queue,
        (m) => m && Queue.offerUnsafe(inbox, { type: m.fields.routingKey, body: m.content.toString() }),
        {
          noAck: true
        }
      )
    )
    return inbox
  })
