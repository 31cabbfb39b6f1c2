// /ready is a load balancer's signal to send work: it stays 503 until the app's start-up steps are done, whatever
// its dependencies say.
import { assert, layer } from "@effect/vitest"
import { Readiness } from "@kassa/platform/http"
import { TestPlatform } from "@kassa/platform/testing"
import { Effect, Layer } from "effect"

layer(Readiness.layer.pipe(Layer.provideMerge(TestPlatform)), { excludeTestServices: true })("readiness", (it) => {
  it.effect("not ready while starting, even with every dependency up; ready once started", () =>
    Effect.gen(function*() {
      const readiness = yield* Readiness
      const starting = yield* readiness.check
      assert.deepStrictEqual(
        [starting.status, starting.startup, starting.checks.db.status],
        ["not_ready", "starting", "up"]
      )
      yield* readiness.started
      const started = yield* readiness.check
      assert.deepStrictEqual([started.status, started.startup], ["ready", "done"])
    }))
})
