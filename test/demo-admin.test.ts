// `npm start`'s demo admin keeps its generated password in a file beside the embedded data, so it does not change at
// every start; deleting the file gives a new one.
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { loadOrCreatePassword } from "../scripts/demo-admin.ts"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "kassa-admin-"))),
  (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
)

describe("the demo admin's password file", () => {
  it.effect("is created once (mode 0600, in a folder made for it) and read back at every later start", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, ".kassa", "admin-password")
      const first = yield* loadOrCreatePassword(file)
      assert.isTrue(first.created)
      assert.isAtLeast(first.password.length, 16)
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
      assert.strictEqual(readFileSync(file, "utf8").trim(), first.password)
      const again = yield* loadOrCreatePassword(file)
      assert.deepStrictEqual(again, { password: first.password, created: false })
    }).pipe(Effect.scoped))

  it.effect("deleting the file makes a new password; a password written by hand is kept", () =>
    Effect.gen(function*() {
      const file = join(yield* tempDir, "admin-password")
      const first = yield* loadOrCreatePassword(file)
      rmSync(file)
      const second = yield* loadOrCreatePassword(file)
      assert.isTrue(second.created)
      assert.notStrictEqual(second.password, first.password)
      writeFileSync(file, "my own demo password\n", { mode: 0o644 })
      assert.deepStrictEqual(yield* loadOrCreatePassword(file), { password: "my own demo password", created: false })
      assert.strictEqual(statSync(file).mode & 0o777, 0o600)
    }).pipe(Effect.scoped))

  it.effect("an empty file (an interrupted write) is replaced; an unreadable place fails naming the file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const file = join(dir, "admin-password")
      writeFileSync(file, "")
      const replaced = yield* loadOrCreatePassword(file)
      assert.isTrue(replaced.created)
      assert.strictEqual(readFileSync(file, "utf8").trim(), replaced.password)
      writeFileSync(join(dir, "not-a-folder"), "x")
      const error = yield* Effect.flip(loadOrCreatePassword(join(dir, "not-a-folder", "admin-password")))
      assert.strictEqual(error._tag, "DemoAdminError")
      assert.include(error.message, "not-a-folder")
    }).pipe(Effect.scoped))
})
