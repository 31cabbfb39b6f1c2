// CheckEntitlements batches: the misses of a batch are read in ONE SQL statement (counted at the driver: every
// statement the app runs passes the SQL client's statement transformer hook, which this test installs), the
// answers equal those of per-pair checks, a second replica finds them in Redis without touching Postgres, a batch
// falls back to in-process entries when Redis and Postgres are both down (the randomized model test of
// entitlements-model.test.ts holds batches to a direct SQL evaluation of the entitlement rules).
import { assert, layer } from "@effect/vitest"
import { EntitlementsRpcClient } from "@kassa/clients"
import type { EntitlementAnswer } from "@kassa/domain/entitlements"
import { FilmId, type ProductId, UserId } from "@kassa/domain/ids"
import { layerFromUrl } from "@kassa/platform/db"
import { serverUrl } from "@kassa/platform/http"
import { Outbox } from "@kassa/platform/outbox"
import { tcpProxy, testRedis } from "@kassa/platform/testing"
import { randomUUID } from "node:crypto"
import { Clock, Context, Duration, Effect, Layer, Redacted, Schedule } from "effect"
import { HttpServer } from "effect/http"
import { SqlClient, Statement } from "effect/sql"
import { EntitlementCache } from "../src/entitlements/cache.ts"
import { EntitlementsRepo } from "../src/entitlements/repo.ts"
import { Entitlements } from "../src/entitlements/service.ts"
import { BillingWithPayments, newKey, seedPlan, serviceToken, viewer } from "./billing-harness.ts"
import { seedFilm } from "./entitlements-support.ts"

const hour = 3_600_000

// ---- statement counting: the SQL text of every statement run (by the app, its RPC handlers, the test) ---------

const log = { recording: false, statements: [] as Array<string> }
const StatementLog = Layer.succeed(
  Statement.CurrentTransformer,
  (statement: Statement.Statement<unknown>) =>
    Effect.sync(() => {
      if (log.recording) log.statements.push(statement.compile()[0])
      return statement
    })
)

/** Runs `effect` and counts the statements that read entitlements (the single and the batch query both do). */
const entitlementReads = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      log.statements = []
      log.recording = true
    }),
    () =>
      Effect.map(effect, (value) => ({
        value,
        reads: log.statements.filter((text) => /billing\.entitlements\b/.test(text)).length
      })),
    () => Effect.sync(() => {
      log.recording = false
    })
  )

/** Another replica's entitlement services on the same database and Redis (through proxies or not), with its own in-process tier. */
const replica = (ports: { readonly redis: number; readonly postgres: number } = { redis: 6379, postgres: 5432 }) =>
  Effect.gen(function*() {
    const [row] = yield* SqlClient.SqlClient.use((sql) =>
      sql<{ readonly name: string }>`SELECT current_database() AS name`
    )
      .pipe(Effect.orDie)
    const context = yield* Layer.buildWithMemoMap(
      Entitlements.layer.pipe(
        Layer.provideMerge(EntitlementCache.layer),
        Layer.provideMerge(EntitlementsRepo.layer),
        Layer.provide(Outbox.layer("billing")),
        Layer.provide(testRedis(`redis://127.0.0.1:${ports.redis}`, { commandTimeout: "200 millis" })),
        Layer.provide(
          layerFromUrl(Redacted.make(`postgres://postgres@127.0.0.1:${ports.postgres}/${row!.name}`), {
            maxConnections: 2
          })
        )
      ),
      yield* Layer.makeMemoMap,
      yield* Effect.scope
    ).pipe(Effect.orDie)
    return Context.get(context, Entitlements)
  })

type Viewer = Effect.Success<ReturnType<typeof viewer>>
const subscribe = (v: Viewer, planId: Effect.Success<ReturnType<typeof seedPlan>>["planId"]) =>
  v.client.subscriptions.create({ headers: { "idempotency-key": newKey() }, payload: { planId } })

// ---- model test support ---------------------------------------------------------------------------------------

layer(BillingWithPayments().pipe(Layer.provideMerge(StatementLog)), { excludeTestServices: true, timeout: 120_000 })(
  "entitlement batches",
  (it) => {
    it.effect("a cold batch of 300 pairs: one SQL statement, the answers of 300 single checks; Redis serves a second replica", () =>
      Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const one = yield* seedPlan({ trialDays: 7 })
        const two = yield* seedPlan({ trialDays: 7 })
        // 60 films: 20 in product one, 20 in two, 10 in both, 10 in neither (unknown to billing)
        const films: Array<{ readonly id: FilmId; readonly in: ReadonlyArray<ProductId> }> = []
        for (let i = 0; i < 20; i++) films.push({ id: yield* seedFilm(one.productId), in: [one.productId] })
        for (let i = 0; i < 20; i++) films.push({ id: yield* seedFilm(two.productId), in: [two.productId] })
        for (let i = 0; i < 10; i++) {
          const id = yield* seedFilm(one.productId)
          yield* sql`INSERT INTO billing.product_films (product_id, film_id) VALUES (${two.productId}, ${id})`.pipe(
            Effect.orDie
          )
          films.push({ id, in: [one.productId, two.productId] })
        }
        for (let i = 0; i < 10; i++) films.push({ id: FilmId.make(`film_${randomUUID()}`), in: [] })

        // 5 viewers: one product, the other, both, none, and a grant of product one that has run out
        const viewers = yield* Effect.forEach([0, 1, 2, 3, 4], () => viewer("batch"))
        yield* subscribe(viewers[0]!, one.planId)
        yield* subscribe(viewers[1]!, two.planId)
        yield* subscribe(viewers[2]!, one.planId)
        yield* subscribe(viewers[2]!, two.planId)
        const lapsed = UserId.make(viewers[4]!.account.id)
        const now = yield* Clock.currentTimeMillis
        yield* sql`INSERT INTO billing.entitlements (user_id, product_id, until, updated_at)
          VALUES (${lapsed}, ${one.productId}, ${new Date(now - hour)}, ${new Date(now - 2 * hour)})`.pipe(Effect.orDie)
        const holds: ReadonlyArray<ReadonlyArray<ProductId>> = [
          [one.productId],
          [two.productId],
          [one.productId, two.productId],
          [],
          []
        ]

        // interleaved, so the answers' order is checked too
        const checks = films.flatMap((film) =>
          viewers.map((v) => ({ userId: UserId.make(v.account.id), filmId: film.id }))
        )
        assert.strictEqual(checks.length, 300)
        const expected = films.flatMap((film) => holds.map((products) => film.in.some((p) => products.includes(p))))

        const url = `${serverUrl(yield* HttpServer.HttpServer)}/rpc`
        yield* Effect.gen(function*() {
          const rpc = yield* EntitlementsRpcClient
          const batch = yield* entitlementReads(rpc.CheckEntitlements({ checks }))
          assert.strictEqual(batch.reads, 1, "a cold batch reads entitlements in one statement")
          assert.deepStrictEqual(batch.value.map((answer) => answer.allowed), expected)
          assert.deepStrictEqual(
            batch.value.map((answer) => [answer.userId, answer.filmId]),
            checks.map((c) => [c.userId, c.filmId])
          )

          // a replica with an empty in-process tier: every pair from Redis (once the batch's write-back landed)
          let replicaReads = -1
          for (let attempt = 0; attempt < 40 && replicaReads !== 0; attempt++) {
            if (attempt > 0) yield* Effect.sleep("50 millis")
            const other = yield* replica()
            const fromRedis = yield* entitlementReads(other.checkMany(checks))
            assert.deepStrictEqual(fromRedis.value, batch.value)
            replicaReads = fromRedis.reads
          }
          assert.strictEqual(replicaReads, 0, "the replica read Postgres")

          // every answer forgotten (in-process and Redis): the same pairs one by one, each with its own statement
          yield* EntitlementCache.use((cache) => cache.invalidateMembership)
          const singles = yield* entitlementReads(
            Effect.forEach(checks, (check) => rpc.CheckEntitlement(check), { concurrency: 16 })
          )
          assert.strictEqual(singles.reads, 300)
          const plain = (answers: ReadonlyArray<EntitlementAnswer>) =>
            answers.map((a) => ({ ...a, until: a.until === undefined ? undefined : a.until.epochMilliseconds }))
          assert.deepStrictEqual(plain(batch.value), plain(singles.value))

          // warm: no statement at all
          const warm = yield* entitlementReads(rpc.CheckEntitlements({ checks }))
          assert.strictEqual(warm.reads, 0)
          assert.deepStrictEqual(plain(warm.value), plain(batch.value))
        }).pipe(Effect.provide(EntitlementsRpcClient.layer(url, Redacted.make(serviceToken))))
      }).pipe(Effect.scoped))

    it.effect("Redis and Postgres down: a batch of pairs answered before is answered again; one new pair fails it fast", () =>
      Effect.gen(function*() {
        const redis = yield* tcpProxy(6379)
        const postgres = yield* tcpProxy(5432)
        const { productId, planId } = yield* seedPlan({ trialDays: 7 })
        const films = [yield* seedFilm(productId), yield* seedFilm(productId)]
        const subscriber = yield* viewer("degraded")
        yield* subscribe(subscriber, planId)
        const stranger = UserId.make((yield* viewer("degraded")).account.id)
        const userId = UserId.make(subscriber.account.id)
        const checks = films.flatMap((filmId) => [{ userId, filmId }, { userId: stranger, filmId }])
        // started after the subscribe, so its invalidation cannot reach the replica late; answered until the replica's
        // feed is live (its first heartbeat forgets everything cached before it), so the answers below are the ones
        // it keeps
        const other = yield* replica({ redis: yield* redis.start(0), postgres: yield* postgres.start(0) })
        const trusted = Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.succeed(other.peek(userId, films[0]!, now) !== undefined)
        )
        yield* other.checkMany(checks).pipe(
          Effect.andThen(trusted),
          Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("20 millis") }),
          Effect.timeoutOrElse({
            duration: "5 seconds",
            orElse: () => Effect.die(new Error("the replica's feed never came up"))
          })
        )
        const before = yield* other.checkMany(checks)
        assert.deepStrictEqual(before.map((answer) => answer.allowed), [true, false, true, false])

        yield* postgres.cut
        yield* redis.cut
        // once its feed is stale the replica trusts no in-process entry: every pair goes to the (failing) batch load
        const untrusted = Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.succeed(other.peek(userId, films[0]!, now) === undefined)
        )
        yield* untrusted.pipe(
          Effect.repeat({ until: (done) => done, schedule: Schedule.spaced("20 millis") }),
          Effect.timeoutOrElse({
            duration: "3 seconds",
            orElse: () => Effect.die(new Error("the feed never went stale"))
          })
        )
        assert.deepStrictEqual(yield* other.checkMany(checks), before)
        const [took, failure] = yield* Effect.timed(Effect.flip(
          other.checkMany([...checks, { userId, filmId: FilmId.make(`film_${randomUUID()}`) }]).pipe(
            Effect.timeout("10 seconds")
          )
        ))
        assert.strictEqual(failure._tag, "ServiceUnavailable")
        assert.isTrue(Duration.isLessThan(took, Duration.seconds(3)), `failed after ${Duration.format(took)}`)
      }).pipe(Effect.scoped))
  }
)
