// Bad input on every kind of slot (body, query, path) answers a 4xx whose body names the problem; nothing a
// client sends reaches the database as a 500. Raw requests, since the derived client refuses to encode most
// of these; the answers are decoded with the contract's error schemas.
import { assert, layer } from "@effect/vitest"
import { Film } from "@kassa/domain/catalog"
import { BadRequest } from "@kassa/domain/errors"
import { PayloadTooLarge, UnsupportedMediaType } from "@kassa/domain/validation"
import { serverUrl } from "@kassa/platform/http"
import { Effect, Schema } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient } from "effect/sql"
import { catalogClient, CatalogUnderTest, film, rawRequest, type RawResponse, tokenFor } from "./support.ts"

const plan = { interval: "month", amount: 999, currency: "USD" }
const decodeBadRequest = Schema.decodeUnknownEffect(Schema.toCodecJson(BadRequest))
const decodeFilm = Schema.decodeUnknownEffect(Schema.toCodecJson(Film))

const expectBadRequest = (response: RawResponse, field: string | undefined) =>
  Effect.gen(function*() {
    assert.strictEqual(response.status, 400, JSON.stringify(response.body))
    const error = yield* decodeBadRequest(response.body)
    assert.strictEqual(error.field, field, error.message)
    assert.isAbove(error.message.length, 0)
    if (field !== undefined) assert.include(error.message, field)
  })

const post = (path: string, body: unknown) => rawRequest("POST", path, JSON.stringify(body))

layer(CatalogUnderTest, { excludeTestServices: true, timeout: 60_000 })("bad input", (it) => {
  it.effect("film bodies: wrong types, missing fields and out-of-range values name the field", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ releaseYear: 1999, durationMinutes: 90, ageRating: "12+" }, "title"],
        [{ ...film("x"), title: 5 }, "title"],
        [{ ...film("x"), title: "" }, "title"],
        [{ ...film("x"), title: "    " }, "title"],
        [{ ...film("x"), title: "x".repeat(301) }, "title"],
        [{ ...film("x"), title: "nul\u0000byte" }, "title"],
        [{ ...film("x"), title: "lone \ud800 surrogate" }, "title"],
        [{ ...film("x"), description: ["not", "text"] }, "description"],
        [{ ...film("x"), releaseYear: "1999" }, "releaseYear"],
        [{ ...film("x"), releaseYear: 1999.5 }, "releaseYear"],
        [{ ...film("x"), releaseYear: 1500 }, "releaseYear"],
        [{ ...film("x"), durationMinutes: -5 }, "durationMinutes"],
        [{ ...film("x"), durationMinutes: null }, "durationMinutes"],
        [{ ...film("x"), ageRating: "PG-13" }, "ageRating"]
      ]
      for (const [body, field] of cases) yield* expectBadRequest(yield* post("/admin/v1/films", body), field)
      yield* expectBadRequest(
        yield* rawRequest("PATCH", "/admin/v1/films/film_x", JSON.stringify({ title: 7 })),
        "title"
      )
    }))

  it.effect("product bodies: unknown currency, negative, zero, fractional or huge amounts, bad plans and film ids", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [unknown, string]> = [
        [{ name: "p" }, "plans"],
        [{ name: "p", plans: [] }, "plans"],
        [{ name: "p", plans: "monthly" }, "plans"],
        [{ plans: [plan] }, "name"],
        [{ name: "p", plans: [{ ...plan, currency: "XYZ" }] }, "plans.0.currency"],
        [{ name: "p", plans: [{ ...plan, currency: "usd" }] }, "plans.0.currency"],
        [{ name: "p", plans: [plan, { ...plan, interval: "year", amount: -100 }] }, "plans.1.amount"],
        [{ name: "p", plans: [{ ...plan, amount: 0 }] }, "plans.0.amount"],
        [{ name: "p", plans: [{ ...plan, amount: 9.99 }] }, "plans.0.amount"],
        [{ name: "p", plans: [{ ...plan, amount: "999" }] }, "plans.0.amount"],
        [{ name: "p", plans: [{ ...plan, amount: 1e12 }] }, "plans.0.amount"],
        [{ name: "p", plans: [{ ...plan, interval: "week" }] }, "plans.0.interval"],
        [{ name: "p", plans: [{ ...plan, trialDays: -1 }] }, "plans.0.trialDays"],
        [{ name: "p", plans: [{ interval: "month", amount: 1 }] }, "plans.0.currency"],
        [{ name: "p", plans: [plan, { ...plan, amount: 1999 }] }, "plans"],
        [{ name: "p", plans: [plan], filmIds: "film_1" }, "filmIds"],
        [{ name: "p", plans: [plan], filmIds: ["film_1", "film_1"] }, "filmIds"],
        [{ name: "p", plans: [plan], filmIds: [""] }, "filmIds.0"]
      ]
      for (const [body, field] of cases) yield* expectBadRequest(yield* post("/admin/v1/products", body), field)
      const patch = yield* rawRequest(
        "PATCH",
        "/admin/v1/products/prod_x",
        JSON.stringify({ plans: [{ ...plan, currency: "XYZ" }] })
      )
      yield* expectBadRequest(patch, "plans.0.currency")
    }))

  it.effect("malformed JSON and non-object bodies answer 400", () =>
    Effect.gen(function*() {
      yield* expectBadRequest(yield* rawRequest("POST", "/admin/v1/films", "{\"title\": "), undefined)
      yield* expectBadRequest(yield* rawRequest("POST", "/admin/v1/films", "[]"), undefined)
      yield* expectBadRequest(yield* rawRequest("POST", "/admin/v1/products", "null"), undefined)
    }))

  it.effect("query strings: limit out of range or not a number, a forged cursor, an unknown status", () =>
    Effect.gen(function*() {
      for (const query of ["limit=0", "limit=101", "limit=ten", "limit=-1", "limit=1.5"]) {
        yield* expectBadRequest(yield* rawRequest("GET", `/admin/v1/films?${query}`), "limit")
      }
      yield* expectBadRequest(yield* rawRequest("GET", "/admin/v1/films?cursor=not-a-cursor"), "cursor")
      yield* expectBadRequest(yield* rawRequest("GET", "/admin/v1/products?status=deleted"), "status")
      yield* expectBadRequest(yield* rawRequest("GET", `/admin/v1/films?search=${"s".repeat(201)}`), "search")
    }))

  it.effect("a body that is not JSON (form, text, XML) → 415 UnsupportedMediaType as a JSON error", () =>
    Effect.gen(function*() {
      for (const contentType of ["text/plain", "application/x-www-form-urlencoded", "application/xml"]) {
        const response = yield* rawRequest("POST", "/admin/v1/films", "title=x", { "content-type": contentType })
        assert.strictEqual(response.status, 415, contentType)
        const error = yield* Schema.decodeUnknownEffect(Schema.toCodecJson(UnsupportedMediaType))(response.body)
        assert.include(error.message, contentType)
      }
    }))

  it.effect("a 10 MB body is refused with 413 PayloadTooLarge, with or without Content-Length", () =>
    Effect.gen(function*() {
      const huge = JSON.stringify({ ...film("big"), description: "x".repeat(10 * 1024 * 1024) })
      const declared = yield* rawRequest("POST", "/admin/v1/films", huge)
      assert.strictEqual(declared.status, 413)
      const error = yield* Schema.decodeUnknownEffect(Schema.toCodecJson(PayloadTooLarge))(declared.body)
      assert.include(error.message, "exceeds")

      const url = serverUrl(yield* HttpServer.HttpServer) + "/admin/v1/films"
      const token = yield* tokenFor("admin")
      const chunked = yield* Effect.promise(async () => {
        const bytes = new TextEncoder().encode(huge)
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            for (let i = 0; i < bytes.length; i += 65536) controller.enqueue(bytes.subarray(i, i + 65536))
            controller.close()
          }
        })
        const response = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body,
          duplex: "half"
        } as RequestInit)
        return { status: response.status, body: await response.json() as unknown }
      }).pipe(Effect.timeout("20 seconds"))
      assert.strictEqual(chunked.status, 413)
      assert.strictEqual((chunked.body as { _tag: string })._tag, "PayloadTooLarge")
      // the server is fine afterwards
      assert.strictEqual((yield* rawRequest("GET", "/admin/v1/films?limit=1")).status, 200)
    }))

  it.effect("unicode titles round-trip unchanged and are searchable", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const titles = ["Амели", "千と千尋の神隠し", "🎬 Popcorn 🍿", "Cafe\u0301 Society", "فيلم", "Ångström Ⅻ"]
      for (const title of titles) {
        const created = yield* client.films.create({ payload: { ...film(title), description: `${title} — описание` } })
        const read = yield* client.films.get({ params: { id: created.id } })
        assert.strictEqual(read.title, title)
        assert.strictEqual(read.description, `${title} — описание`)
      }
      const found = yield* client.films.list({ query: { search: "千尋" } })
      assert.deepStrictEqual(found.items.map((f) => f.title), ["千と千尋の神隠し"])
      // 300 code points are accepted even where they take 600 UTF-16 units
      const emoji = "😀".repeat(300)
      assert.strictEqual((yield* client.films.create({ payload: film(emoji) })).title, emoji)
    }))

  it.effect("SQL-looking strings are stored literally, in bodies, queries and paths", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const title = "Robert'); DROP TABLE catalog.films; --"
      const description = "1' OR '1'='1; SELECT * FROM billing.users; /* */"
      const created = yield* client.films.create({ payload: { ...film(title), description } })
      const read = yield* client.films.get({ params: { id: created.id } })
      assert.strictEqual(read.title, title)
      assert.strictEqual(read.description, description)
      const found = yield* client.films.list({ query: { search: "'); DROP" } })
      assert.deepStrictEqual(found.items.map((f) => f.id), [created.id])
      // an id that cannot be one is refused before any query runs; a well-formed unknown one is not found
      const path = yield* rawRequest("GET", `/admin/v1/films/${encodeURIComponent("x' OR '1'='1")}`)
      assert.deepStrictEqual([path.status, (path.body as { field?: string }).field], [400, "id"])
      const unknown = yield* rawRequest("GET", "/admin/v1/films/film_0ROR1")
      assert.deepStrictEqual([unknown.status, (unknown.body as { _tag: string })._tag], [404, "NotFound"])
      const count = yield* SqlClient.SqlClient.use((sql) => sql`SELECT count(*)::int AS n FROM catalog.films`)
      assert.isAbove(Number(count[0]?.n), 0)
    }))

  it.effect("fields a client may not set are ignored: the server picks the id", () =>
    Effect.gen(function*() {
      const response = yield* post("/admin/v1/films", {
        ...film("Chosen"),
        id: "film_mine",
        createdAt: "1999-01-01T00:00:00Z"
      })
      assert.strictEqual(response.status, 201)
      const created = yield* decodeFilm(response.body)
      assert.notStrictEqual(created.id, "film_mine")
    }))

  it.effect("every admin route answers 401 without a token and 403 with a user's token", () =>
    Effect.gen(function*() {
      const base = serverUrl(yield* HttpServer.HttpServer)
      const user = yield* tokenFor("user")
      const routes = [
        ["GET", "/admin/v1/films"],
        ["POST", "/admin/v1/films"],
        ["GET", "/admin/v1/films/film_x"],
        ["PATCH", "/admin/v1/films/film_x"],
        ["DELETE", "/admin/v1/films/film_x"],
        ["GET", "/admin/v1/products"],
        ["POST", "/admin/v1/products"],
        ["GET", "/admin/v1/products/prod_x"],
        ["PATCH", "/admin/v1/products/prod_x"],
        ["POST", "/admin/v1/products/prod_x/archive"]
      ] as const
      for (const [method, path] of routes) {
        const status = (headers: Record<string, string>) =>
          Effect.promise(() =>
            fetch(base + path, {
              method,
              headers: { "content-type": "application/json", ...headers },
              ...(method === "GET" || method === "DELETE" ? {} : { body: JSON.stringify(film("x")) })
            }).then((r) => r.status)
          )
        assert.strictEqual(yield* status({}), 401, `${method} ${path}`)
        assert.strictEqual(yield* status({ authorization: "Bearer not-a-token" }), 401, `${method} ${path}`)
        assert.strictEqual(yield* status({ authorization: `Bearer ${user}` }), 403, `${method} ${path}`)
      }
    }))
})
