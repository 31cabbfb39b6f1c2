// Entitlement checks, all in one run on this machine (billing as a child process on the real Postgres, Redis and
// RabbitMQ; a bare node:http process answering the same JSON as the baseline):
//  - GET /v1/entitlements/films/:id with a valid token, cache hit: max req/s against bare node:http (target
//    >= 0.6x), and p99 at a fixed 5,000 req/s (target <= 5 ms, 0 errors);
//  - the same with a cold cache (every request a film never asked before: in-process and Redis miss, one database
//    read) at 200 req/s (target p99 <= 25 ms);
//  - RPC CheckEntitlements through the typed client, batches of 100 (target >= 100,000 checks/s).
import { EntitlementsRpcClient } from "@kassa/clients"
import { FilmId, UserId } from "@kassa/domain/ids"
import { randomBytes } from "node:crypto"
import { Effect, Redacted } from "effect"
import {
  createDatabase,
  dropDatabase,
  load,
  type LoadResult,
  median,
  migrateCatalog,
  printTable,
  psql,
  roundsRow,
  signUp,
  startBare,
  startBilling
} from "./lib.ts"

const rounds = Number(process.argv[2] ?? 3)
const films = 30_000
const database = createDatabase("ent")
const serviceToken = randomBytes(24).toString("base64url")
await migrateCatalog(database)

const billing = await startBilling(database, { SERVICE_TOKEN: serviceToken })
const { account, accessToken } = await signUp(billing.url, "bench-entitlements@example.com")
const userId = UserId.make(String(account["id"]))

// one product holding every film, and the read-model row its active subscription leaves (the writer is tested
// elsewhere; here only reads are measured)
psql([
  "-d",
  database,
  "-c",
  [
    "INSERT INTO billing.products (id, name, description, status, catalog_version) VALUES ('prod_bench', 'Bench', '', 'active', 0)",
    `INSERT INTO billing.films (id, title, catalog_version) SELECT 'film_' || g, 'Film ' || g, 0 FROM generate_series(1, ${films}) g`,
    "INSERT INTO billing.product_films (product_id, film_id) SELECT 'prod_bench', id FROM billing.films",
    `INSERT INTO billing.entitlements (user_id, product_id, until, updated_at) VALUES ('${userId}', 'prod_bench', now() + interval '30 days', now())`
  ].join("; ")
])

const auth = { authorization: `Bearer ${accessToken}` }
const hotPath = "/v1/entitlements/films/film_1"
const sample = await fetch(billing.url + hotPath, { headers: auth })
const sampleBody = await sample.text()
if (!sampleBody.includes("\"allowed\":true")) throw new Error(`unexpected answer ${sampleBody}`)
const bare = await startBare(sampleBody, sample.headers.get("content-type") ?? "application/json")

let cold = 2 // film_1 is warm
const hot = (url: string, overallRate?: number) =>
  load({ url: url + hotPath, headers: auth, ...(overallRate === undefined ? {} : { overallRate }) })
const coldLoad = (url: string) =>
  load({
    url,
    connections: 8,
    duration: 5,
    overallRate: 200,
    requests: [{
      method: "GET",
      path: hotPath,
      headers: auth,
      setupRequest: (request) => ({ ...request, path: `/v1/entitlements/films/film_${cold++}` })
    }]
  })

const rpcRun = (seconds: number) =>
  Effect.gen(function*() {
    const rpc = yield* EntitlementsRpcClient
    const batch = Array.from({ length: 100 }, (_, i) => ({ userId, filmId: FilmId.make(`film_${1 + (i % 50)}`) }))
    let checks = 0
    const deadline = performance.now() + seconds * 1000
    yield* Effect.forEach(Array.from({ length: 16 }), () =>
      Effect.whileLoop({
        while: () => performance.now() < deadline,
        body: () => rpc.CheckEntitlements({ checks: batch }),
        step: (answers) => {
          checks += answers.length
        }
      }), { concurrency: "unbounded", discard: true })
    return checks / seconds
  }).pipe(
    Effect.provide(EntitlementsRpcClient.layer(`${billing.url}/rpc`, Redacted.make(serviceToken))),
    Effect.runPromise
  )

const results = {
  maxBare: [] as Array<LoadResult>,
  maxHit: [] as Array<LoadResult>,
  fixedBare: [] as Array<LoadResult>,
  fixedHit: [] as Array<LoadResult>,
  cold: [] as Array<LoadResult>,
  rpc: [] as Array<number>
}
try {
  await hot(bare.url)
  await hot(billing.url)
  await rpcRun(2)
  for (let i = 0; i < rounds; i++) {
    results.maxBare.push(await hot(bare.url))
    results.maxHit.push(await hot(billing.url))
    results.fixedBare.push(await hot(bare.url, 5_000))
    results.fixedHit.push(await hot(billing.url, 5_000))
    results.cold.push(await coldLoad(billing.url))
    results.rpc.push(await rpcRun(5))
  }
} finally {
  await billing.stop()
  await bare.stop()
  dropDatabase(database)
}

printTable(`GET /v1/entitlements/films/:id, valid token, autocannon -c 32, ${rounds} alternating rounds of 5 s`, [
  roundsRow("bare node:http, max", results.maxBare),
  roundsRow("billing, cache hit, max", results.maxHit),
  roundsRow("bare node:http, 5,000 req/s", results.fixedBare),
  roundsRow("billing, cache hit, 5,000 req/s", results.fixedHit),
  roundsRow("billing, cold cache, 200 req/s (-c 8)", results.cold)
])
printTable("RPC CheckEntitlements, batches of 100, 16 concurrent callers, typed client", [{
  target: "checks/s (median)",
  value: Math.round(median(results.rpc)),
  "per round": results.rpc.map(Math.round).join(" / ")
}])
const ratios = results.maxHit.map((r, i) => r.rps / (results.maxBare[i]?.rps ?? NaN))
console.log(
  `\nhit / bare: median ${median(ratios).toFixed(2)} (per round ${
    ratios.map((r) => r.toFixed(2)).join(", ")
  }); target >= 0.6`
)
console.log(`hit p99 at 5,000 req/s: median ${median(results.fixedHit.map((r) => r.p99))} ms; target <= 5 ms, 0 errors`)
console.log(`cold p99 at 200 req/s: median ${median(results.cold.map((r) => r.p99))} ms; target <= 25 ms`)
console.log(`RPC: median ${Math.round(median(results.rpc))} checks/s; target >= 100,000`)
