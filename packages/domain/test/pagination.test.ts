import { NodeHttpServer } from "@effect/platform-node"
import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer, Result, Schema } from "effect"
import { HttpClient, HttpRouter } from "effect/http"
import { HttpApi, HttpApiBuilder, HttpApiClient, HttpApiEndpoint, HttpApiGroup } from "effect/http-api"
import fc from "fast-check"
import {
  BadRequest,
  Cursor,
  DEFAULT_LIMIT,
  decodePageQuery,
  Page,
  PageQuery,
  pageQuery,
  resolvePageQuery,
  toPage
} from "../src/index.ts"

const base64url = (text: string) => Buffer.from(text, "utf8").toString("base64url")

describe("Cursor", () => {
  it.effect("round-trips any key and id through an opaque base64url token", () =>
    Effect.gen(function*() {
      const cursor = fc.record({ key: fc.oneof(fc.string(), fc.maxSafeInteger()), id: fc.string() })
      for (
        const c of fc.sample(cursor, 300).concat([
          { key: 1.5, id: "x" },
          { key: "2025-01-31T00:00:00.000Z", id: "ü/∑" }
        ])
      ) {
        const token = Cursor.encode(c)
        assert.match(token, /^[A-Za-z0-9_-]*$/)
        assert.deepStrictEqual(yield* Cursor.decode(token), c)
      }
    }))

  it.effect("rejects garbage with a BadRequest naming the cursor field", () =>
    Effect.gen(function*() {
      const garbage = [
        "",
        "not base64!",
        "%%%",
        base64url("not json"),
        base64url("[1,\"a\"]"),
        base64url(JSON.stringify({ key: true, id: "a" })),
        base64url(JSON.stringify({ key: 1 })),
        base64url(JSON.stringify({ key: 1, id: 2 }))
      ]
      for (const token of garbage) {
        const error = yield* Effect.flip(Cursor.decode(token))
        assert.instanceOf(error, BadRequest, token)
        assert.strictEqual(error.field, "cursor")
      }
    }))
})

describe("PageQuery", () => {
  const decode = Schema.decodeUnknownResult(Schema.Struct(PageQuery))

  it("decodes limit from a string within 1..100", () => {
    for (const limit of ["1", "20", "100", "007"]) {
      const result = decode({ limit })
      assert.isTrue(Result.isSuccess(result) && result.success.limit === Number(limit), limit)
    }
    for (const limit of ["0", "101", "abc", "", "-1", "1.5", "1e1", " 5", "1000"]) {
      assert.isTrue(Result.isFailure(decode({ limit })), limit)
    }
  })

  it.effect("defaults limit to 20 and decodes the cursor", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* decodePageQuery({}), { limit: DEFAULT_LIMIT, cursor: undefined })
      assert.strictEqual(DEFAULT_LIMIT, 20)
      const cursor = { key: 7, id: "a" }
      assert.deepStrictEqual(
        yield* decodePageQuery({ limit: "5", cursor: Cursor.encode(cursor) }),
        { limit: 5, cursor }
      )
      assert.deepStrictEqual(yield* resolvePageQuery({ limit: 3 }), { limit: 3, cursor: undefined })
    }))

  it.effect("reports the offending field", () =>
    Effect.gen(function*() {
      for (const limit of ["0", "101", "abc"]) {
        const error = yield* Effect.flip(decodePageQuery({ limit }))
        assert.strictEqual(error.field, "limit")
      }
      assert.strictEqual((yield* Effect.flip(decodePageQuery({ cursor: "junk!" }))).field, "cursor")
      assert.strictEqual((yield* Effect.flip(resolvePageQuery({ cursor: "junk!" }))).field, "cursor")
    }))
})

describe("pageQuery", () => {
  const accepts = (kind: "createdAt" | "name", cursor: unknown) =>
    Result.isSuccess(
      Schema.decodeUnknownResult(Schema.Struct(pageQuery(kind)))({ cursor: base64url(JSON.stringify(cursor)) })
    )

  it("takes the cursors its list hands out", () => {
    assert.isTrue(accepts("createdAt", { key: 1767225600000, id: "sub_AbC-1_x" }))
    assert.isTrue(accepts("name", { key: "Амели & 千と千尋", id: "prod_0f9c" }))
  })

  it("refuses tampered cursors: wrong key type, out-of-range times, NUL, non-ids", () => {
    for (const key of ["abc", 1e300, -1e15, -1, 1.5, 253402300800000]) {
      assert.isFalse(accepts("createdAt", { key, id: "sub_1" }), String(key))
    }
    for (const key of [7, "a\u0000b", "\ud800", "x".repeat(1001)]) {
      assert.isFalse(accepts("name", { key, id: "prod_1" }), JSON.stringify(key))
    }
    for (const id of ["\u0000", "abc", "sub_", "sub_a b", `sub_${"x".repeat(64)}`, 5]) {
      assert.isFalse(accepts("createdAt", { key: 1, id }), JSON.stringify(id))
    }
    assert.isFalse(
      Result.isSuccess(Schema.decodeUnknownResult(Schema.Struct(pageQuery("name")))({ cursor: "x".repeat(5000) }))
    )
  })
})

describe("toPage", () => {
  const rows = Array.from({ length: 6 }, (_, i) => ({ id: `r${i}`, at: i * 10 }))
  const cursorOf = (row: { readonly id: string; readonly at: number }) => ({ key: row.at, id: row.id })

  it.effect("an extra row means a next page, pointing at the last item", () =>
    Effect.gen(function*() {
      const page = toPage(rows, 5, cursorOf)
      assert.deepStrictEqual(page.items, rows.slice(0, 5))
      assert.isNotNull(page.nextCursor)
      assert.deepStrictEqual(yield* Cursor.decode(page.nextCursor ?? ""), { key: 40, id: "r4" })
    }))

  it("no extra row means the last page", () => {
    assert.deepStrictEqual(toPage(rows, 6, cursorOf), { items: rows, nextCursor: null })
    assert.deepStrictEqual(toPage([], 20, cursorOf), { items: [], nextCursor: null })
  })
})

// The fields are meant to be spread into an HttpApi endpoint: check them through a real server.
const Item = Schema.Struct({ id: Schema.String, n: Schema.Int })
const items = Array.from({ length: 45 }, (_, n) => ({ id: `item_${n}`, n }))

const Api = HttpApi.make("pagination-test").add(
  HttpApiGroup.make("items").add(
    HttpApiEndpoint.get("list", "/items", { query: { ...PageQuery }, success: Page(Item), error: BadRequest })
  )
)

const ItemsLive = HttpApiBuilder.group(
  Api,
  "items",
  (handlers) =>
    handlers.handle("list", ({ query }) =>
      Effect.map(resolvePageQuery(query), ({ cursor, limit }) => {
        // keyset: rows after (key, id) of the cursor, limit + 1 of them
        const after = cursor === undefined ? items : items.filter((i) => i.n > Number(cursor.key))
        return toPage(after.slice(0, limit + 1), limit, (i) => ({ key: i.n, id: i.id }))
      }))
)

const TestServer = HttpRouter.serve(
  HttpApiBuilder.layer(Api).pipe(Layer.provide(ItemsLive)),
  { disableLogger: true, disableListenLog: true }
).pipe(Layer.provideMerge(NodeHttpServer.layerTest))

layer(TestServer)("PageQuery in an HttpApi endpoint", (it) => {
  it.effect("walks every page with the default limit", () =>
    Effect.gen(function*() {
      const client = yield* HttpApiClient.make(Api)
      const sizes: Array<number> = []
      const seen: Array<string> = []
      let cursor: string | null = null
      do {
        const page: Page<typeof Item.Type> = yield* client.items.list({ query: cursor === null ? {} : { cursor } })
        sizes.push(page.items.length)
        seen.push(...page.items.map((i) => i.id))
        cursor = page.nextCursor
      } while (cursor !== null)
      assert.deepStrictEqual(sizes, [20, 20, 5])
      assert.deepStrictEqual(seen, items.map((i) => i.id))
      assert.strictEqual((yield* client.items.list({ query: { limit: 100 } })).items.length, 45)
    }))

  it.effect("answers 400 for an out-of-range limit and a garbage cursor", () =>
    Effect.gen(function*() {
      const http = yield* HttpClient.HttpClient
      for (const qs of ["limit=0", "limit=101", "limit=abc"]) {
        assert.strictEqual((yield* http.get(`/items?${qs}`)).status, 400, qs)
      }
      // the query schema refuses it (apps answer it as a BadRequest naming the field, through RequestValidation)
      assert.strictEqual((yield* http.get("/items?cursor=garbage!")).status, 400)
      const client = yield* HttpApiClient.make(Api)
      const error = yield* Effect.flip(client.items.list({ query: { cursor: "garbage!" } }))
      assert.strictEqual(error._tag, "SchemaError")
    }))
})
