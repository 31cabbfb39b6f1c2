// Registration writes `user.registered` to the outbox in the same transaction as the user; the relay
// publishes it to RabbitMQ. Checked with a queue bound on the real broker.
import { assert, layer } from "@effect/vitest"
import { decodeEnvelope, type EventEnvelope } from "@kassa/domain"
import { UserRegistered } from "@kassa/domain/auth"
import { EventBus } from "@kassa/platform/bus"
import { Effect, Queue, Schema } from "effect"
import { SqlClient } from "effect/sql"
import { billingClient, BillingUnderTest, uniqueEmail } from "./support.ts"

layer(BillingUnderTest(), { excludeTestServices: true, timeout: 30_000 })("user.registered", (it) => {
  it.effect("is published through RabbitMQ with the new user's id, email and role", () =>
    Effect.gen(function*() {
      const bus = yield* EventBus
      const inbox = yield* Queue.unbounded<EventEnvelope>()
      yield* bus.subscribe(
        ["user.registered"],
        (delivery) => Effect.flatMap(decodeEnvelope(delivery.body), (envelope) => Queue.offer(inbox, envelope))
      )

      const client = yield* billingClient()
      const email = uniqueEmail("events")
      const account = yield* client.auth.register({ payload: { email, password: "events password" } })

      // other test files register users too: take arrivals until ours
      let ours: EventEnvelope | undefined
      while (ours === undefined) {
        const envelope = yield* Queue.take(inbox)
        if (envelope.aggregateId === account.id) ours = envelope
      }
      assert.strictEqual(ours.type, "user.registered")
      assert.strictEqual(ours.sequence, 1)
      const data = yield* Schema.decodeUnknownEffect(UserRegistered)(ours.data)
      assert.deepStrictEqual(data, { userId: account.id, email, role: "user" })
    }))

  it.effect("a refused registration (email taken) writes no event", () =>
    Effect.gen(function*() {
      const client = yield* billingClient()
      const email = uniqueEmail("taken")
      const account = yield* client.auth.register({ payload: { email, password: "events password" } })
      yield* client.auth.register({ payload: { email, password: "events password" } }).pipe(Effect.flip)
      const sql = yield* SqlClient.SqlClient
      const rows = yield* sql<{ readonly count: number }>`
        SELECT count(*)::int AS count FROM billing.outbox WHERE type = 'user.registered' AND data->>'email' = ${email}`
      assert.strictEqual(rows[0]?.count, 1)
      assert.strictEqual((yield* sql`SELECT 1 FROM billing.users WHERE id = ${account.id}`).length, 1)
    }))
})
