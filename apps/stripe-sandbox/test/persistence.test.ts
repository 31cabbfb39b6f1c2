// The sandbox keeps its account in a data directory: a new sandbox on the same directory (after a clean stop, or after
// its process was killed) answers for the customers, cards, payments, refunds and idempotent results of the old one,
// and delivers the webhooks the old one still owed. The SDK is the real `stripe` package throughout.
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import * as Http from "node:http"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import Stripe from "stripe"
import { Journal } from "../src/journal.ts"
import { type SandboxOptions, StripeSandbox } from "../src/sandbox.ts"

// the sandbox takes any test-mode key
const sandboxApiKey = "sk_test_kassa_sandbox"

const secret = "whsec_persistence_test"

const dataDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "kassa-sandbox-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

/** A sandbox on `dir` that the test stops itself. */
const start = (dir: string, options: SandboxOptions = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      StripeSandbox.layer({ dataDir: dir, webhookRetryBase: "20 millis", ...options }),
      scope
    )
    return { sandbox: Context.get(context, StripeSandbox), stop: Scope.close(scope, Exit.void) }
  })

const sdkAt = (url: URL) =>
  new Stripe(sandboxApiKey, { host: url.hostname, port: Number(url.port), protocol: "http", maxNetworkRetries: 0 })

const call = <A>(f: () => Promise<A>) => Effect.promise(f)

/** A webhook endpoint answering `status` (changeable), recording every body it is sent. */
const receiver = Effect.acquireRelease(
  Effect.callback<
    { server: Http.Server; url: string; bodies: Array<{ body: string; signature: string }>; answer: { status: number } }
  >(
    (resume) => {
      const bodies: Array<{ body: string; signature: string }> = []
      const answer = { status: 503 }
      const server = Http.createServer((req, res) => {
        const chunks: Array<Buffer> = []
        req.on("data", (c: Buffer) => chunks.push(c))
        req.on("end", () => {
          bodies.push({
            body: Buffer.concat(chunks).toString("utf8"),
            signature: String(req.headers["stripe-signature"])
          })
          res.writeHead(answer.status).end()
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const address = server.address()
        const port = typeof address === "object" && address !== null ? address.port : 0
        resume(Effect.succeed({ server, url: `http://127.0.0.1:${port}/webhooks/stripe`, bodies, answer }))
      })
    }
  ),
  ({ server }) =>
    Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const until = <A>(what: string, probe: Effect.Effect<A | undefined>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 400; i++) {
      const found = yield* probe
      if (found !== undefined) return found
      yield* Effect.sleep("25 millis")
    }
    return yield* Effect.die(new Error(`timed out waiting for ${what}`))
  })

describe("a sandbox with a data directory", () => {
  it.live("a customer, their card, a charge and a refund are still there after a restart, and usable", () =>
    Effect.gen(function*() {
      const dir = yield* dataDir
      const first = yield* start(dir)
      const before = sdkAt(first.sandbox.url)
      const customer = yield* call(() => before.customers.create({ email: "old@example.com" }))
      const card = yield* call(() => before.paymentMethods.attach("pm_card_visa", { customer: customer.id }))
      yield* call(() => before.customers.update(customer.id, { invoice_settings: { default_payment_method: card.id } }))
      const params: Stripe.PaymentIntentCreateParams = {
        amount: 1000,
        currency: "eur",
        customer: customer.id,
        payment_method: card.id,
        confirm: true,
        off_session: true
      }
      const paid = yield* call(() => before.paymentIntents.create(params, { idempotencyKey: "charge-1" }))
      const refund = yield* call(() => before.refunds.create({ payment_intent: paid.id, amount: 400 }))
      yield* first.stop

      const second = yield* start(dir)
      const after = sdkAt(second.sandbox.url)
      assert.notStrictEqual(second.sandbox.url.port, "")
      const read = yield* call(() => after.customers.retrieve(customer.id)) as Effect.Effect<Stripe.Customer>
      assert.deepStrictEqual([read.email, read.invoice_settings.default_payment_method], ["old@example.com", card.id])
      const cards = yield* call(() => after.customers.listPaymentMethods(customer.id))
      assert.deepStrictEqual(cards.data.map((pm) => [pm.id, pm.card?.last4]), [[card.id, "4242"]])
      assert.strictEqual((yield* call(() => after.paymentIntents.retrieve(paid.id))).status, "succeeded")
      assert.strictEqual((yield* call(() => after.refunds.retrieve(refund.id))).amount, 400)
      // the same key replays the first answer instead of charging again
      const replayed = yield* call(() => after.paymentIntents.create(params, { idempotencyKey: "charge-1" }))
      assert.deepStrictEqual([replayed.id, replayed.lastResponse.headers["idempotent-replayed"]], [paid.id, "true"])
      const again = yield* call(() => after.paymentIntents.create({ ...params, amount: 700 }))
      assert.strictEqual(again.status, "succeeded")
      const rest = yield* call(() => after.refunds.create({ payment_intent: paid.id }))
      assert.strictEqual(rest.amount, 600)
      const charge = yield* call(() => after.charges.retrieve(String(paid.latest_charge)))
      assert.deepStrictEqual([charge.amount_refunded, charge.refunded], [1000, true])
      const listed = yield* call(() => after.paymentIntents.list({ customer: customer.id }))
      assert.deepStrictEqual(listed.data.map((pi) => pi.id), [again.id, paid.id])
      yield* second.stop
    }).pipe(Effect.scoped))

  it.live("a webhook still owed when the sandbox stops is delivered once its endpoint is back after the restart", () =>
    Effect.gen(function*() {
      const dir = yield* dataDir
      const endpoint = yield* receiver
      const first = yield* start(dir, { webhookEndpoints: [{ url: endpoint.url, secret }], webhookRetryBase: "1 hour" })
      const paid = yield* call(() => sdkAt(first.sandbox.url).paymentIntents.create({
        amount: 1500,
        currency: "eur",
        payment_method: "pm_card_visa",
        confirm: true
      }))
      // refused (503); the sandbox stops before its next try
      const refused = yield* until("the first attempt", Effect.sync(() => endpoint.bodies[0]))
      yield* first.stop
      const attemptsBefore = endpoint.bodies.length
      endpoint.answer.status = 200

      // as under `npm start`: the endpoint is registered after the sandbox is up
      const second = yield* start(dir)
      assert.strictEqual(endpoint.bodies.length, attemptsBefore)
      yield* second.sandbox.webhooks.addEndpoint(endpoint.url, secret)
      const delivered = yield* until(
        "the delivery after the restart",
        Effect.sync(() => endpoint.bodies[attemptsBefore])
      )
      const event = Stripe.webhooks.constructEvent(delivered.body, delivered.signature, secret)
      assert.strictEqual(event.id, JSON.parse(refused.body).id)
      assert.deepStrictEqual(
        [event.type, (event.data.object as Stripe.PaymentIntent).id],
        ["payment_intent.succeeded", paid.id]
      )
      yield* until(
        "the answer to be recorded",
        Effect.map(second.sandbox.webhooks.attempts, (all) => all.find((a) => a.status === 200))
      )
      yield* second.stop
      // nothing is owed any more
      const journal = yield* Journal.make(dir)
      assert.deepStrictEqual(journal.restored.pending, [])
    }).pipe(Effect.scoped))

  it.live("a sandbox process killed without warning keeps what it answered", () =>
    Effect.gen(function*() {
      const dir = yield* dataDir
      const main = fileURLToPath(new URL("../src/main.ts", import.meta.url))
      const launch = Effect.acquireRelease(
        Effect.callback<{ child: ReturnType<typeof spawn>; url: URL }>((resume) => {
          const child = spawn(process.execPath, [main], {
            env: { ...process.env, STRIPE_SANDBOX_PORT: "0", STRIPE_SANDBOX_DATA_DIR: dir, LOG_FORMAT: "json" },
            stdio: ["ignore", "pipe", "inherit"]
          })
          let output = ""
          child.stdout.on("data", (chunk: Buffer) => {
            output += chunk.toString("utf8")
            const found = /listening on (http:\/\/[0-9.]+:\d+)/.exec(output)
            if (found?.[1] !== undefined) resume(Effect.succeed({ child, url: new URL(found[1]) }))
          })
        }).pipe(Effect.timeout("20 seconds")),
        ({ child }) => Effect.sync(() => void child.kill("SIGKILL"))
      )
      const first = yield* launch
      const s = sdkAt(first.url)
      const customer = yield* call(() => s.customers.create({}))
      const card = yield* call(() => s.paymentMethods.attach("pm_card_mastercard", { customer: customer.id }))
      const paid = yield* call(() =>
        s.paymentIntents.create({
          amount: 900,
          currency: "usd",
          customer: customer.id,
          payment_method: card.id,
          confirm: true
        })
      )
      first.child.kill("SIGKILL")
      yield* Effect.callback<void>((resume) => void first.child.once("exit", () => resume(Effect.void)))

      const second = yield* launch
      const after = sdkAt(second.url)
      assert.strictEqual((yield* call(() => after.paymentMethods.retrieve(card.id))).customer, customer.id)
      const refund = yield* call(() => after.refunds.create({ payment_intent: paid.id }))
      assert.deepStrictEqual([refund.amount, refund.status], [900, "succeeded"])
    }).pipe(Effect.scoped), 60_000)
})
