import { assert, describe, it } from "@effect/vitest"
import { DateTime, Effect, Schema } from "effect"
import {
  decodeEnvelope,
  encodeEnvelope,
  type EventEnvelope,
  EventEnvelopeJson,
  EventId,
  eventTypes,
  EventType
} from "../src/index.ts"

const envelope: EventEnvelope = {
  id: EventId.make("0b7e7f56-3c1d-4f43-9a55-7c1f4b0c2d9e"),
  type: "payment.refunded",
  occurredAt: DateTime.makeUnsafe("2025-03-01T12:34:56.789Z"),
  aggregateId: "pay_123",
  sequence: 4,
  data: { paymentId: "pay_123", amount: 1299, currency: "EUR", lines: [{ note: null, ok: true }] }
}

const wire = {
  id: "0b7e7f56-3c1d-4f43-9a55-7c1f4b0c2d9e",
  type: "payment.refunded",
  occurredAt: "2025-03-01T12:34:56.789Z",
  aggregateId: "pay_123",
  sequence: 4,
  data: { paymentId: "pay_123", amount: 1299, currency: "EUR", lines: [{ note: null, ok: true }] }
}

const rejects = (json: unknown) =>
  Effect.flip(decodeEnvelope(JSON.stringify(json))).pipe(Effect.map((e) => e._tag === "SchemaError"))

describe("EventEnvelope", () => {
  it.effect("round-trips through JSON with an ISO-8601 UTC timestamp", () =>
    Effect.gen(function*() {
      const json = yield* encodeEnvelope(envelope)
      assert.deepStrictEqual(JSON.parse(json), wire)
      const decoded = yield* decodeEnvelope(json)
      assert.deepStrictEqual(decoded, envelope)
      assert.isTrue(DateTime.isUtc(decoded.occurredAt))
      assert.strictEqual(yield* encodeEnvelope(decoded), json)
    }))

  it.effect("encodes a DateTime from the clock as a Z timestamp", () =>
    Effect.gen(function*() {
      const now = yield* DateTime.now // TestClock: the epoch
      const json = yield* encodeEnvelope({ ...envelope, occurredAt: now })
      assert.strictEqual(JSON.parse(json).occurredAt, "1970-01-01T00:00:00.000Z")
    }))

  it.effect("rejects an unknown type and other malformed envelopes", () =>
    Effect.gen(function*() {
      assert.isTrue(yield* rejects({ ...wire, type: "payment.exploded" }))
      assert.isTrue(yield* rejects({ ...wire, type: "PAYMENT.REFUNDED" }))
      assert.isTrue(yield* rejects({ ...wire, id: "not-a-uuid" }))
      assert.isTrue(yield* rejects({ ...wire, occurredAt: "2025-03-01T12:34:56+01:00" }))
      assert.isTrue(yield* rejects({ ...wire, occurredAt: "2025-03-01" }))
      assert.isTrue(yield* rejects({ ...wire, occurredAt: "2025-02-30T00:00:00Z" }))
      assert.isTrue(yield* rejects({ ...wire, sequence: -1 }))
      assert.isTrue(yield* rejects({ ...wire, sequence: 1.5 }))
      assert.isTrue(yield* rejects({ ...wire, aggregateId: "" }))
      assert.isTrue(yield* rejects({ ...wire, data: [1, 2] }))
      const { data: _, ...withoutData } = wire
      assert.isTrue(yield* rejects(withoutData))
      const notJson = yield* Effect.flip(decodeEnvelope("{ nope"))
      assert.strictEqual(notJson._tag, "SchemaError")
    }))

  it("lists every event type of docs/events.md", () => {
    assert.strictEqual(eventTypes.length, 22)
    for (const t of eventTypes) assert.strictEqual(Schema.decodeUnknownSync(EventType)(t), t)
    assert.include(eventTypes, "catalog.product.archived")
    assert.include(eventTypes, "invoice.payment_failed")
  })

  it("decodes the same envelope from a JSON string schema", () => {
    assert.deepStrictEqual(Schema.decodeUnknownSync(EventEnvelopeJson)(JSON.stringify(wire)), envelope)
  })
})
