// Films CRUD, title search and keyset pagination through a client derived from CatalogApi.
import { randomUUID } from "node:crypto"
import { assert, layer } from "@effect/vitest"
import { Film } from "@kassa/domain/catalog"
import { FilmId } from "@kassa/domain/ids"
import { serverUrl } from "@kassa/platform/http"
import { Effect, Schema } from "effect"
import { HttpServer } from "effect/http"
import { catalogClient, CatalogUnderTest, film, rawRequest } from "./support.ts"

const plans = [{ interval: "month" as const, amount: 999, currency: "USD" as const }]

layer(CatalogUnderTest, { excludeTestServices: true, timeout: 30_000 })("films", (it) => {
  it.effect("create answers 201 with the film; get returns it; the title is trimmed, description defaults to empty", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      // the derived client only sends trimmed titles, so the padded one goes out raw
      const raw = yield* rawRequest("POST", "/admin/v1/films", JSON.stringify(film("  Stalker  ")))
      assert.strictEqual(raw.status, 201)
      const created = yield* Schema.decodeUnknownEffect(Schema.toCodecJson(Film))(raw.body)
      assert.match(created.id, /^film_/)
      assert.strictEqual(created.title, "Stalker")
      assert.strictEqual(created.description, "")
      assert.strictEqual(created.releaseYear, 1999)
      assert.strictEqual(created.ageRating, "12+")
      assert.deepStrictEqual(yield* client.films.get({ params: { id: created.id } }), created)
    }))

  it.effect("update changes only the fields sent; an empty patch changes nothing", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const created = yield* client.films.create({ payload: { ...film("Mirror"), description: "1975" } })
      const updated = yield* client.films.update({
        params: { id: created.id },
        payload: { title: "The Mirror", durationMinutes: 107 }
      })
      assert.strictEqual(updated.title, "The Mirror")
      assert.strictEqual(updated.durationMinutes, 107)
      assert.strictEqual(updated.description, "1975")
      assert.strictEqual(updated.releaseYear, created.releaseYear)
      assert.deepStrictEqual(yield* client.films.update({ params: { id: created.id }, payload: {} }), updated)
      assert.deepStrictEqual(yield* client.films.get({ params: { id: created.id } }), updated)
    }))

  it.effect("unknown ids answer 404 NotFound on get, update and delete", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const id = FilmId.make("film_missing")
      for (const call of [
        client.films.get({ params: { id } }),
        client.films.update({ params: { id }, payload: { title: "x" } }),
        client.films.delete({ params: { id } })
      ]) {
        const error = yield* Effect.flip(call)
        assert.strictEqual(error._tag, "NotFound")
      }
    }))

  it.effect("search matches a case-insensitive substring of the title; % and _ are literal", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const tag = randomUUID().slice(0, 8)
      for (const title of [`Alpha ${tag}`, `alphabet ${tag}`, `Beta ${tag}`, `100% ${tag}`, `a_b ${tag}`]) {
        yield* client.films.create({ payload: film(title) })
      }
      const titles = (search: string) =>
        Effect.map(client.films.list({ query: { search } }), (page) => page.items.map((f) => f.title))
      assert.deepStrictEqual(yield* titles(`ALPHA ${tag}`), [`Alpha ${tag}`])
      assert.sameMembers(yield* titles(`alph`), [`Alpha ${tag}`, `alphabet ${tag}`])
      assert.deepStrictEqual(yield* titles(`% ${tag}`), [`100% ${tag}`])
      assert.deepStrictEqual(yield* titles(`_b ${tag}`), [`a_b ${tag}`])
      assert.deepStrictEqual(yield* titles(`nothing like this ${tag}`), [])
    }))

  it.effect("pages follow the title order without gaps or repeats; the last page has no cursor", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const tag = randomUUID().slice(0, 8)
      const titles = ["E", "a", "C", "b", "D", "a"].map((t) => `${tag} ${t}`)
      const created = yield* Effect.forEach(titles, (title) => client.films.create({ payload: film(title) }))
      const seen: Array<string> = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = yield* client.films.list({ query: { search: tag, limit: 2, ...(cursor ? { cursor } : {}) } })
        seen.push(...page.items.map((f) => f.id))
        cursor = page.nextCursor ?? undefined
        pages++
      } while (cursor !== undefined)
      assert.strictEqual(pages, 3)
      assert.sameMembers(seen, created.map((f) => f.id))
      assert.strictEqual(new Set(seen).size, seen.length)
      const all = yield* client.films.list({ query: { search: tag, limit: 100 } })
      assert.deepStrictEqual(all.items.map((f) => f.id), seen)
      assert.isNull(all.nextCursor)
    }))

  it.effect("delete answers 204; the film is gone from get and list, and a second delete is 404", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const tag = randomUUID()
      const created = yield* client.films.create({ payload: film(`Gone ${tag}`) })
      const response = yield* client.films.delete({ params: { id: created.id }, responseMode: "response-only" })
      assert.strictEqual(response.status, 204)
      assert.strictEqual((yield* Effect.flip(client.films.get({ params: { id: created.id } })))._tag, "NotFound")
      assert.deepStrictEqual((yield* client.films.list({ query: { search: tag } })).items, [])
      assert.strictEqual((yield* Effect.flip(client.films.delete({ params: { id: created.id } })))._tag, "NotFound")
    }))

  it.effect("a film in a product cannot be deleted (409 FilmInUse naming the products) until removed from them", () =>
    Effect.gen(function*() {
      const client = yield* catalogClient()
      const kept = yield* client.films.create({ payload: film("Kept") })
      const busy = yield* client.films.create({ payload: film("Busy") })
      const first = yield* client.products.create({ payload: { name: "One", filmIds: [busy.id, kept.id], plans } })
      const second = yield* client.products.create({ payload: { name: "Two", filmIds: [busy.id], plans } })
      const error = yield* Effect.flip(client.films.delete({ params: { id: busy.id } }))
      assert.strictEqual(error._tag, "FilmInUse")
      if (error._tag === "FilmInUse") assert.sameMembers([...error.productIds], [first.id, second.id])
      yield* client.products.update({ params: { id: first.id }, payload: { filmIds: [kept.id] } })
      yield* client.products.update({ params: { id: second.id }, payload: { filmIds: [] } })
      yield* client.films.delete({ params: { id: busy.id } })
      // a deleted film cannot be put into a product again
      const unknown = yield* Effect.flip(
        client.products.update({ params: { id: first.id }, payload: { filmIds: [busy.id] } })
      )
      assert.strictEqual(unknown._tag, "UnknownFilms")
    }))

  it.effect("the catalog serves its own OpenAPI: every admin route, with bearer security and its error statuses", () =>
    Effect.gen(function*() {
      const base = serverUrl(yield* HttpServer.HttpServer)
      const doc = yield* Effect.promise(() =>
        fetch(`${base}/openapi.json`).then((r) =>
          r.json() as Promise<{
            paths: Record<string, Record<string, { security?: unknown; responses: Record<string, unknown> }>>
          }>
        )
      )
      for (
        const [path, methods] of [
          ["/admin/v1/films", ["get", "post"]],
          ["/admin/v1/films/{id}", ["get", "patch", "delete"]],
          ["/admin/v1/products", ["get", "post"]],
          ["/admin/v1/products/{id}", ["get", "patch"]],
          ["/admin/v1/products/{id}/archive", ["post"]]
        ] as const
      ) {
        for (const method of methods) {
          const operation = doc.paths[path]?.[method]
          assert.isDefined(operation, `${method} ${path}`)
          assert.isNotEmpty(operation?.security, `${method} ${path}`)
          for (const status of ["400", "401", "403"]) assert.property(operation?.responses ?? {}, status)
        }
      }
      assert.property(doc.paths["/admin/v1/films/{id}"]?.delete?.responses ?? {}, "409")
      const docs = yield* Effect.promise(() => fetch(`${base}/docs`).then((r) => r.status))
      assert.strictEqual(docs, 200)
    }))
})
