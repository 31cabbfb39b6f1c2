// The bootstrap admin: ensured at start whenever ADMIN_EMAIL and ADMIN_PASSWORD are set, idempotently;
// billing alone without them creates no admin (only `npm start` adds a demo one).
import { assert, describe, it, layer } from "@effect/vitest"
import { AdminBootstrap, AccountsLive } from "@kassa/billing/auth/service"
import { TokenVerifier } from "@kassa/platform/auth"
import { AdminBootstrapConfig } from "../src/config.ts"
import { ConfigProvider, Effect, Exit, Layer } from "effect"
import { SqlClient } from "effect/sql"
import { authTestConfig, billingClient, BillingUnderTest } from "./support.ts"

const adminEmail = "Root@Kassa.Test"
const adminPassword = "bootstrap password 1"

/** Runs the bootstrap again against this test's database, as a restart (or another replica) would. */
const restartWith = (email: string, password: string) =>
  // fresh: the app's own layers are memoised in the test's context and would not run again
  Layer.build(
    Layer.fresh(AdminBootstrap).pipe(
      Layer.provide(Layer.fresh(AccountsLive)),
      Layer.provide(Layer.fresh(TokenVerifier.layer)),
      Layer.provide(authTestConfig({ ADMIN_EMAIL: email, ADMIN_PASSWORD: password }))
    )
  )

const me = (accessToken: string) => Effect.flatMap(billingClient({ bearer: accessToken }), (client) => client.me.get())
const login = (email: string, password: string) =>
  Effect.flatMap(billingClient(), (client) => client.auth.token({ payload: { email, password } }))

layer(BillingUnderTest({ ADMIN_EMAIL: adminEmail, ADMIN_PASSWORD: adminPassword }), {
  excludeTestServices: true,
  timeout: 30_000
})("bootstrap admin", (it) => {
  it.effect("exists at start with role admin and a normalised email", () =>
    Effect.gen(function*() {
      const tokens = yield* login("root@kassa.test", adminPassword)
      const profile = yield* me(tokens.accessToken)
      assert.strictEqual(profile.role, "admin")
      assert.strictEqual(profile.email, "root@kassa.test")
    }))

  it.effect("a restart with the same credentials changes nothing and keeps sessions", () =>
    Effect.gen(function*() {
      const tokens = yield* login(adminEmail, adminPassword)
      yield* restartWith(adminEmail, adminPassword)
      yield* restartWith(adminEmail, adminPassword)
      assert.strictEqual((yield* me(tokens.accessToken)).role, "admin")
      const sql = yield* SqlClient.SqlClient
      const admins = yield* sql<
        { readonly count: number }
      >`SELECT count(*)::int AS count FROM billing.users WHERE role = 'admin'`
      assert.strictEqual(admins[0]?.count, 1)
    }))

  it.effect("a new password replaces the old one and ends the sessions opened with it", () =>
    Effect.gen(function*() {
      const tokens = yield* login(adminEmail, adminPassword)
      yield* restartWith(adminEmail, "bootstrap password 2")
      assert.strictEqual((yield* login(adminEmail, adminPassword).pipe(Effect.flip))._tag, "Unauthorized")
      assert.strictEqual((yield* me(tokens.accessToken).pipe(Effect.flip))._tag, "Unauthorized")
      const client = yield* billingClient()
      assert.strictEqual(
        (yield* client.auth.refresh({ payload: { refreshToken: tokens.refreshToken } }).pipe(Effect.flip))._tag,
        "Unauthorized"
      )
      const fresh = yield* login(adminEmail, "bootstrap password 2")
      assert.strictEqual((yield* me(fresh.accessToken)).role, "admin")
    }))

  it.effect("an existing user named by ADMIN_EMAIL is promoted to admin", () =>
    Effect.gen(function*() {
      const client = yield* billingClient()
      const email = "promote-me@kassa.test"
      yield* client.auth.register({ payload: { email, password: "user password" } })
      yield* restartWith(email, "admin password")
      assert.strictEqual((yield* me((yield* login(email, "admin password")).accessToken)).role, "admin")
    }))
})

layer(BillingUnderTest(), { excludeTestServices: true, timeout: 30_000 })("billing alone without ADMIN_*", (it) => {
  it.effect("creates no admin", () =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const admins = yield* sql<
        { readonly count: number }
      >`SELECT count(*)::int AS count FROM billing.users WHERE role = 'admin'`
      assert.strictEqual(admins[0]?.count, 0)
    }))
})

describe("AdminBootstrapConfig", () => {
  const parse = (env: Record<string, string>) =>
    Effect.exit(AdminBootstrapConfig.parse(ConfigProvider.fromUnknown(env)))
  it.effect("needs both variables or neither", () =>
    Effect.gen(function*() {
      assert.isTrue(Exit.isFailure(yield* parse({ ADMIN_EMAIL: "a@b.co" })))
      assert.isTrue(Exit.isFailure(yield* parse({ ADMIN_PASSWORD: "12345678" })))
      const neither = yield* parse({})
      assert.isTrue(Exit.isSuccess(neither) && neither.value._tag === "None")
    }))
})
