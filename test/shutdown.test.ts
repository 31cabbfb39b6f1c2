// Graceful shutdown: closing an app's scope stops accepting, lets in-flight requests finish, and a
// SIGTERM'd app process exits 0.
import { HttpConfig } from "@kassa/platform/config"
import { serveApi, serverUrl } from "@kassa/platform/http"
import { makeTestDatabase } from "@kassa/platform/testing"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Fiber, Layer, Redacted, Schedule, Schema, Scope } from "effect"
import { HttpServer } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import { spawn } from "node:child_process"
import { createServer } from "node:net"

class SlowGroup extends HttpApiGroup.make("slow").add(
  HttpApiEndpoint.get("slow", "/slow", { success: Schema.Struct({ done: Schema.Boolean }) })
) {}
class SlowApi extends HttpApi.make("slow").add(SlowGroup) {}

const fetchStatus = (url: string) =>
  Effect.tryPromise(async () => {
    const response = await fetch(url)
    return { status: response.status, body: await response.text() }
  })

const freePort = Effect.promise(() =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const address = s.address()
      s.close(() => resolve(typeof address === "object" && address ? address.port : 0))
    })
  })
)

describe("graceful shutdown", () => {
  it.live("closing the scope refuses new connections and drains the in-flight request", () =>
    Effect.gen(function*() {
      const started = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const SlowLive = HttpApiBuilder.group(
        SlowApi,
        "slow",
        (handlers) =>
          handlers.handle(
            "slow",
            () =>
              Deferred.succeed(started, undefined).pipe(
                Effect.andThen(Deferred.await(release)),
                Effect.as({ done: true })
              )
          )
      )
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(
        serveApi({ service: "slow", api: SlowApi, groups: SlowLive, http: HttpConfig("SLOW_TEST_PORT", 0) }),
        scope
      )
      const url = serverUrl(Context.get(context, HttpServer.HttpServer))

      const inFlight = yield* Effect.forkChild(fetchStatus(`${url}/slow`))
      yield* Deferred.await(started)
      const closing = yield* Effect.forkChild(Scope.close(scope, Exit.void))
      yield* Effect.sleep("200 millis")

      const refused = yield* Effect.exit(fetchStatus(`${url}/slow`))
      assert.isTrue(Exit.isFailure(refused), "a new connection after shutdown began must be refused")
      assert.isUndefined(closing.pollUnsafe(), "shutdown waits for the in-flight request")

      yield* Deferred.succeed(release, undefined)
      const response = yield* Fiber.join(inFlight)
      assert.deepStrictEqual(response, { status: 200, body: JSON.stringify({ done: true }) })
      yield* Fiber.join(closing)
    }))

  it.live("SIGTERM: the billing process stops serving and exits 0", () =>
    Effect.gen(function*() {
      const databaseUrl = yield* makeTestDatabase()
      const port = yield* freePort
      const child = spawn(process.execPath, ["apps/billing/src/main.ts"], {
        cwd: new URL("..", import.meta.url).pathname,
        env: {
          PATH: process.env.PATH ?? "",
          DATABASE_URL: Redacted.value(databaseUrl),
          REDIS_URL: "redis://127.0.0.1:6379",
          AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
          BILLING_PORT: String(port),
          LOG_LEVEL: "Warn"
        },
        stdio: "ignore"
      })
      const exited = Effect.callback<number | null>((resume) => {
        if (child.exitCode !== null) resume(Effect.succeed(child.exitCode))
        else child.once("exit", (code) => resume(Effect.succeed(code)))
      })
      const health = fetchStatus(`http://127.0.0.1:${port}/health`)
      yield* health.pipe(Effect.retry({ schedule: Schedule.spaced("100 millis"), times: 300 }))
      child.kill("SIGTERM")
      const code = yield* exited.pipe(Effect.timeout("15 seconds"))
      assert.strictEqual(code, 0)
      assert.isTrue(Exit.isFailure(yield* Effect.exit(health)))
    }), 30_000)
})
