// A randomized model test: fast-check command sequences (subscription state changes through the entitlement
// writer, membership changes as the ETL makes them, time moving on, single checks that warm one pair) against the
// cached answers after each step — a CheckEntitlements batch over every (user, film) pair (some twice, so hits and
// misses mix) and a single check of each — compared with a direct SQL evaluation of the entitlement rules over the
// subscriptions themselves (not the read model). Zero disagreements.
import { assert, layer } from "@effect/vitest"
import { FilmId, type ProductId, UserId } from "@kassa/domain/ids"
import { randomUUID } from "node:crypto"
import { Duration, Effect } from "effect"
import { SqlClient } from "effect/sql"
import { TestClock } from "effect/testing"
import * as fc from "fast-check"
import { EntitlementCache } from "../src/entitlements/cache.ts"
import { Entitlements } from "../src/entitlements/service.ts"
import { BillingWithPayments, seedPlan } from "./billing-harness.ts"

const hour = 3_600_000
const grace = Duration.toMillis(Duration.days(7))
const statuses = ["active", "trialing", "past_due", "canceled", "expired", "incomplete"] as const

type Command =
  | {
    readonly kind: "status"
    readonly user: number
    readonly product: number
    readonly status: typeof statuses[number]
    readonly endHours: number
  }
  | { readonly kind: "member"; readonly product: number; readonly film: number; readonly member: boolean }
  | { readonly kind: "time"; readonly hours: number }
  | { readonly kind: "single"; readonly user: number; readonly film: number }

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant("status" as const),
    user: fc.nat(2),
    product: fc.nat(1),
    status: fc.constantFrom(...statuses),
    endHours: fc.integer({ min: -200, max: 400 })
  }),
  fc.record({ kind: fc.constant("member" as const), product: fc.nat(1), film: fc.nat(3), member: fc.boolean() }),
  fc.record({ kind: fc.constant("time" as const), hours: fc.integer({ min: 1, max: 240 }) }),
  // a single check warms one pair, so the next batch mixes in-process hits and misses
  fc.record({ kind: fc.constant("single" as const), user: fc.nat(2), film: fc.nat(3) })
)

layer(BillingWithPayments(), { excludeTestServices: true, timeout: 120_000 })("entitlement model", (it) => {
  it.effect("cached answers (a batch of every pair, and single checks) equal a direct SQL evaluation after every step", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const entitlements = yield* Entitlements
      const cache = yield* EntitlementCache
      const plans = [yield* seedPlan(), yield* seedPlan()]

      const truth = (userId: UserId, filmId: FilmId, now: number) =>
        Effect.map(
          sql<{ readonly allowed: boolean }>`SELECT EXISTS (SELECT 1 FROM billing.subscriptions s
            JOIN billing.product_films pf ON pf.product_id = s.product_id AND pf.film_id = ${filmId}
            WHERE s.user_id = ${userId} AND s.current_period_end IS NOT NULL AND (
              (s.status IN ('active', 'trialing', 'past_due') AND s.cancel_at_period_end AND s.current_period_end > ${new Date(
                now
              )})
              OR (s.status IN ('active', 'trialing', 'past_due') AND NOT s.cancel_at_period_end
                AND s.current_period_end > ${new Date(now - grace)}))) AS allowed`,
          (rows) => rows[0]?.allowed === true
        )

      const run = (commands: ReadonlyArray<Command>) =>
        Effect.gen(function*() {
          let now = Date.UTC(2026, 0, 1)
          yield* TestClock.setTime(now)
          const users = [0, 1, 2].map(() => UserId.make(`usr_${randomUUID()}`))
          for (const id of users) {
            yield* sql`INSERT INTO billing.users (id, email, password_hash, role, created_at, updated_at)
              VALUES (${id}, ${`${id}@model.test`}, 'x', 'user', ${new Date(now)}, ${new Date(now)})`
          }
          const films = [0, 1, 2, 3].map(() => FilmId.make(`film_${randomUUID()}`))
          for (const id of films) {
            yield* sql`INSERT INTO billing.films (id, title, catalog_version) VALUES (${id}, 'f', 0)`
          }
          const products: ReadonlyArray<ProductId> = plans.map((plan) => plan.productId)
          // every pair, and some twice over (a batch may ask a pair more than once)
          const pairs = [
            ...users.flatMap((userId) => films.map((filmId) => ({ userId, filmId }))),
            ...users.map((userId) => ({ userId, filmId: films[0]! }))
          ]
          let disagreements = 0
          for (const step of commands) {
            if (step.kind === "time") {
              now += step.hours * hour
              yield* TestClock.setTime(now)
            } else if (step.kind === "single") {
              yield* entitlements.check(users[step.user]!, films[step.film]!)
            } else if (step.kind === "member") {
              const productId = products[step.product]!
              const filmId = films[step.film]!
              yield* Effect.gen(function*() {
                if (step.member) {
                  yield* sql`INSERT INTO billing.product_films (product_id, film_id) VALUES (${productId}, ${filmId})
                    ON CONFLICT DO NOTHING`
                } else {
                  yield* sql`DELETE FROM billing.product_films WHERE product_id = ${productId} AND film_id = ${filmId}`
                }
                // as the catalog ETL does
                yield* sql.afterCommit(cache.invalidateMembership)
              }).pipe(sql.withTransaction)
            } else {
              const userId = users[step.user]!
              const plan = plans[step.product]!
              const id = `sub_${userId}_${step.product}`
              const end = new Date(now + step.endHours * hour)
              yield* Effect.gen(function*() {
                yield* sql`INSERT INTO billing.subscriptions (id, user_id, product_id, plan_id, status,
                    current_period_start, current_period_end, created_at, updated_at)
                  VALUES (${id}, ${userId}, ${plan.productId}, ${plan.planId}, ${step.status}, ${new Date(now)}, ${end},
                    ${new Date(now)}, ${new Date(now)})
                  ON CONFLICT (id) DO UPDATE SET status = excluded.status, current_period_end = excluded.current_period_end`
                yield* entitlements.record(userId)
              }).pipe(sql.withTransaction)
            }
            const answers = yield* entitlements.checkMany(pairs)
            for (const [index, pair] of pairs.entries()) {
              const truly = yield* truth(pair.userId, pair.filmId, now)
              if (answers[index]?.allowed !== truly) disagreements++
              if ((yield* entitlements.check(pair.userId, pair.filmId)).allowed !== truly) disagreements++
            }
          }
          return disagreements
        }).pipe(Effect.provide(TestClock.layer()), Effect.orDie)

      const context = yield* Effect.context<never>()
      let total = 0
      yield* Effect.promise(() =>
        fc.assert(
          fc.asyncProperty(fc.array(command, { minLength: 1, maxLength: 20 }), async (commands) => {
            const disagreements = await Effect.runPromiseWith(context)(run(commands))
            total += disagreements
            return disagreements === 0
          }),
          { numRuns: 40 }
        )
      )
      assert.strictEqual(total, 0)
    }))
})
