// The public webhook route against hostile input: signed events that can never be stored are a 400 (Stripe would
// retry a 503 forever) and leave nothing behind; bodies over 1 MiB are refused with 413 before they are buffered,
// declared or chunked, and a 100 MB upload leaves the payments process's memory where it was (measured on the app
// as its own process: `npx vitest run apps/payments/test/webhook-input.test.ts` prints the figure).
import { assert, layer } from "@effect/vitest"
import { defaultMaxBodyBytes } from "@kassa/platform/validation"
import { makeTestDatabase } from "@kassa/platform/testing"
import { signatureHeader } from "@kassa/stripe-sandbox"
import { spawn } from "node:child_process"
import { randomBytes, randomUUID } from "node:crypto"
import { readFileSync, writeFileSync } from "node:fs"
import { request } from "node:http"
import { fileURLToPath } from "node:url"
import { Clock, Effect, Redacted } from "effect"
import { SqlClient } from "effect/sql"
import { appUrl, PaymentsHarness, webhookSecret } from "./harness.ts"

const storedEvents = SqlClient.SqlClient.use((sql) =>
  sql<{ readonly n: number }>`SELECT count(*)::int AS n FROM payments.webhook_events`
)
  .pipe(Effect.map((rows) => rows[0]?.n ?? -1), Effect.orDie)

const postSigned = (body: string) =>
  Effect.gen(function*() {
    const url = yield* appUrl
    const signature = signatureHeader(body, webhookSecret, Math.floor((yield* Clock.currentTimeMillis) / 1000))
    return yield* Effect.promise(async () => {
      const response = await fetch(`${url}/webhooks/stripe`, {
        method: "POST",
        headers: { "content-type": "application/json", "stripe-signature": signature },
        body
      })
      return {
        status: response.status,
        body: await response.json() as { readonly _tag?: string; readonly message?: string }
      }
    })
  })

/**
 * POSTs `totalBytes` of JSON-ish filler (one 64 KiB chunk, resent) with Content-Length or chunked, honouring
 * backpressure, and stops writing once the server answers. Resolves with the status, or "closed" when the
 * connection went away before an answer arrived.
 */
const upload = (url: string, totalBytes: number, declared: boolean) =>
  new Promise<number | "closed">((resolve) => {
    const chunk = Buffer.alloc(64 * 1024, "x")
    let sent = 0
    let done = false
    const finish = (outcome: number | "closed") => {
      if (done) return
      done = true
      resolve(outcome)
    }
    const req = request(`${url}/webhooks/stripe`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "stripe-signature": "t=1,v1=00",
        ...(declared ? { "content-length": String(totalBytes) } : {})
      }
    })
    req.on("response", (response) => {
      response.resume()
      finish(response.statusCode ?? 0)
      req.destroy()
    })
    req.on("error", () => finish("closed"))
    req.on("close", () => finish("closed"))
    const pump = () => {
      while (!done && sent < totalBytes) {
        sent += chunk.length
        if (!req.write(chunk)) return void req.once("drain", pump)
      }
      if (!done) req.end()
    }
    pump()
  })

layer(PaymentsHarness(), { excludeTestServices: true, timeout: 60_000 })(
  "the webhook route against hostile input",
  (it) => {
    it.effect("a signed event that can never be stored is a 400 BadRequest, and nothing is stored", () =>
      Effect.gen(function*() {
        const before = yield* storedEvents
        const id = () => `evt_${randomUUID().replaceAll("-", "")}`
        const object = { id: "pi_1", object: "payment_intent", status: "succeeded" }
        const bodies = [
          JSON.stringify({ object: "event", type: "payment_intent.succeeded", data: { object } }), // no id
          JSON.stringify([{ id: id(), type: "payment_intent.succeeded", data: { object } }]), // an array
          JSON.stringify({
            id: id(),
            type: "payment_intent.succeeded",
            data: { object: { ...object, id: "pi_\u0000" } }
          }),
          JSON.stringify({
            id: id(),
            type: "payment_intent.succeeded",
            data: { object: { ...object, status: "\ud800" } }
          }),
          JSON.stringify({ id: id(), type: "payment_intent.succeeded" }), // no data.object
          JSON.stringify({ id: "not-an-event-id", type: "payment_intent.succeeded", data: { object } }),
          JSON.stringify({ id: id(), type: 42, data: { object } }),
          JSON.stringify("evt_just_a_string"),
          "null"
        ]
        for (const body of bodies) {
          const answer = yield* postSigned(body)
          assert.deepStrictEqual([answer.status, answer.body._tag], [400, "BadRequest"], body)
          assert.isString(answer.body.message)
        }
        assert.strictEqual(yield* storedEvents, before)
        // a well-formed one still goes through
        const good = yield* postSigned(
          JSON.stringify({ id: id(), type: "invoice.finalized", data: { object: { id: "in_1" } } })
        )
        assert.strictEqual(good.status, 200)
        assert.strictEqual(yield* storedEvents, before + 1)
      }))

    it.effect("a body over 1 MiB is refused with 413, declared or chunked, and the connection is closed", () =>
      Effect.gen(function*() {
        const url = yield* appUrl
        const before = yield* storedEvents
        const tooBig = defaultMaxBodyBytes + 64 * 1024
        for (const declared of [true, false]) {
          assert.strictEqual(
            yield* Effect.promise(() => upload(url, tooBig, declared)),
            413,
            declared ? "declared" : "chunked"
          )
        }
        const answer = yield* Effect.promise(() =>
          fetch(`${url}/webhooks/stripe`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: "x".repeat(tooBig)
          })
            .then(async (r) => ({
              status: r.status,
              connection: r.headers.get("connection"),
              body: await r.json() as { _tag: string }
            }))
        )
        assert.deepStrictEqual([answer.status, answer.body._tag, answer.connection], [413, "PayloadTooLarge", "close"])
        assert.strictEqual(yield* storedEvents, before)
      }))

    it.effect(
      "a 100 MB upload to payments as its own process: 413, and its RSS grows by less than 10 MB",
      () =>
        Effect.gen(function*() {
          const databaseUrl = Redacted.value(yield* makeTestDatabase())
          const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
          const child = yield* Effect.acquireRelease(
            Effect.sync(() =>
              spawn(process.execPath, [main], {
                env: {
                  PATH: process.env["PATH"] ?? "",
                  DATABASE_URL: databaseUrl,
                  REDIS_URL: "redis://127.0.0.1:6379",
                  REDIS_KEY_PREFIX: `test:${randomBytes(6).toString("hex")}:`,
                  AMQP_URL: "amqp://guest:guest@127.0.0.1:5672",
                  PAYMENTS_PORT: "0",
                  STRIPE_API_BASE: "http://127.0.0.1:9",
                  STRIPE_WEBHOOK_SECRET: webhookSecret,
                  SERVICE_TOKEN: "webhook-input-test-token",
                  PAYMENTS_RECONCILE_INTERVAL: "1 hour",
                  LOG_FORMAT: "json"
                },
                stdio: ["ignore", "pipe", "inherit"]
              })
            ),
            (child) => Effect.sync(() => child.kill("SIGTERM"))
          )
          const url = yield* Effect.callback<string>((resume) => {
            let output = ""
            child.stdout?.on("data", (data: Buffer) => {
              output += data.toString()
              const found = /listening on (http:\/\/[^\s"]+)/.exec(output)
              if (found?.[1] !== undefined) resume(Effect.succeed(found[1]))
            })
            child.once(
              "exit",
              (code) => resume(Effect.die(new Error(`payments exited with ${code} before listening:\n${output}`)))
            )
          }).pipe(Effect.timeout("30 seconds"))

          const status = () => readFileSync(`/proc/${child.pid}/status`, "utf8")
          const kib = (text: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(text)?.[1])
          // warm the paths up first (a small bad request and refused bodies), so the measure is the upload's alone
          for (const declared of [true, false, true, false]) {
            yield* Effect.promise(() => upload(url, 2 * defaultMaxBodyBytes, declared))
          }
          yield* Effect.sleep("500 millis")
          const baseline = kib(status(), "VmRSS")
          writeFileSync(`/proc/${child.pid}/clear_refs`, "5") // resets the peak (VmHWM) to the current RSS
          const hundredMegabytes = 100 * 1024 * 1024
          const outcomes = [
            yield* Effect.promise(() => upload(url, hundredMegabytes, true)),
            yield* Effect.promise(() => upload(url, hundredMegabytes, false))
          ]
          const peak = kib(status(), "VmHWM")
          const growthMb = (peak - baseline) / 1024
          console.log(
            `payments RSS on a 100 MB webhook: baseline ${(baseline / 1024).toFixed(1)} MB, peak ${
              (peak / 1024).toFixed(1)
            } MB, growth ${growthMb.toFixed(1)} MB`
          )
          assert.deepStrictEqual(outcomes, [413, 413])
          assert.isBelow(growthMb, 10)
        }).pipe(Effect.scoped),
      { timeout: 90_000 }
    )
  }
)
