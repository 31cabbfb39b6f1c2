// Auth hot paths against bare node:http in the same run (billing as a child process on the real Postgres,
// Redis and RabbitMQ):
//  - POST /v1/auth/refresh at a fixed arrival rate of 200 req/s, every request with its own valid refresh
//    token; target p99 <= 30 ms. autocannon's overallRate is bursty: each connection sends its share of the
//    second back to back, then waits for the next second, so -c is the width of a burst. Measured at -c 8
//    (closer to a steady 200 req/s, where ~1 request is in flight) and at the usual -c 32.
//  - GET /v1/me at full speed with one (cached) access token; target >= 0.5x bare node:http.
import { createHash, randomBytes, randomUUID } from "node:crypto"
import {
  createDatabase,
  dropDatabase,
  load,
  type LoadResult,
  median,
  printTable,
  psql,
  roundsRow,
  signUp,
  startBare,
  startBilling
} from "./lib.ts"

const rounds = Number(process.argv[2] ?? 3)
const rate = 200
const refreshSeconds = 10
const database = createDatabase("auth")
const billing = await startBilling(database)
const { account, accessToken } = await signUp(billing.url, "bench@example.com")

// Every refresh needs a live token of its own. A login costs one scrypt hash (~0.1 s here), so the tokens are
// written straight into the table as logins would leave them: one family each, stored as SHA-256 digests.
const widths = [8, 32] as const
const needed = Math.ceil(rate * (3 + refreshSeconds * rounds * widths.length) * 1.2)
const tokens = Array.from({ length: needed }, () => randomBytes(32).toString("base64url"))
const rows = tokens.map((token) =>
  [randomUUID(), createHash("sha256").update(token).digest("hex"), randomUUID(), String(account["id"])].join("\t")
).join("\n")
psql([
  "-d",
  database,
  "-c",
  "CREATE TEMP TABLE t (id text, token_hash text, family_id text, user_id text); " +
  "COPY t FROM STDIN; " +
  "INSERT INTO billing.refresh_tokens (id, token_hash, family_id, user_id, issued_at, expires_at) " +
  "SELECT id, token_hash, family_id, user_id, now(), now() + interval '1 day' FROM t"
], rows + "\n")

const meSample = await fetch(billing.url + "/v1/me", { headers: { authorization: `Bearer ${accessToken}` } })
const bareMe = await startBare(await meSample.text(), meSample.headers.get("content-type") ?? "application/json")
const refreshSample = JSON.stringify({ accessToken, refreshToken: tokens[0], tokenType: "Bearer", expiresIn: 900 })
const bareRefresh = await startBare(refreshSample, "application/json")

let next = 0
// the same request shape for both; only billing's requests use up tokens
const refreshLoad = (url: string, duration: number, consume: boolean, connections = 32) =>
  load({
    url,
    connections,
    duration,
    overallRate: rate,
    requests: [{
      method: "POST",
      path: "/v1/auth/refresh",
      headers: { "content-type": "application/json" },
      setupRequest: (request) => ({ ...request, body: JSON.stringify({ refreshToken: tokens[consume ? next++ : 0] }) })
    }]
  })
const meLoad = (url: string) => load({ url: url + "/v1/me", headers: { authorization: `Bearer ${accessToken}` } })

const results = {
  refresh: Object.fromEntries(
    widths.map((c) => [c, { bare: [] as Array<LoadResult>, billing: [] as Array<LoadResult> }])
  ),
  me: { bare: [] as Array<LoadResult>, billing: [] as Array<LoadResult> }
}
try {
  // JIT warm-up of both sides
  await refreshLoad(billing.url, 3, true)
  await load({ url: bareMe.url, duration: 3 })
  await meLoad(billing.url)
  for (let i = 0; i < rounds; i++) {
    for (const c of widths) {
      results.refresh[c]?.bare.push(await refreshLoad(bareRefresh.url, refreshSeconds, false, c))
      results.refresh[c]?.billing.push(await refreshLoad(billing.url, refreshSeconds, true, c))
    }
    results.me.bare.push(await meLoad(bareMe.url))
    results.me.billing.push(await meLoad(billing.url))
  }
} finally {
  await billing.stop()
  await bareMe.stop()
  await bareRefresh.stop()
  dropDatabase(database)
}

printTable(
  `POST /v1/auth/refresh at ${rate} req/s (autocannon overallRate), ${rounds} rounds of ${refreshSeconds} s`,
  widths.flatMap((c) => [
    roundsRow(`bare node:http, -c ${c}`, results.refresh[c]?.bare ?? []),
    roundsRow(`billing /v1/auth/refresh, -c ${c}`, results.refresh[c]?.billing ?? [])
  ])
)
printTable(`GET /v1/me, autocannon -c 32, ${rounds} alternating rounds of 5 s`, [
  roundsRow("bare node:http", results.me.bare),
  roundsRow("billing /v1/me", results.me.billing)
])
const ratios = results.me.billing.map((r, i) => r.rps / (results.me.bare[i]?.rps ?? NaN))
for (const c of widths) {
  console.log(
    `\nrefresh p99 at -c ${c}: median ${
      median((results.refresh[c]?.billing ?? []).map((r) => r.p99))
    } ms; target <= 30 ms`
  )
}
console.log(
  `/v1/me / bare: median ${median(ratios).toFixed(2)} (per round ${
    ratios.map((r) => r.toFixed(2)).join(", ")
  }); target >= 0.5`
)
