// Shared bench plumbing: child-process servers, a bare node:http baseline, autocannon rounds, a table.
// Benchmarks are run by hand (`npm run bench`), never by `npm test`; compare ratios from one run only.
import { CatalogMigrations } from "@kassa/catalog/migrations"
import { layerFromUrl } from "@kassa/platform/db"
import autocannon from "autocannon"
import { Effect, Layer, Redacted } from "effect"
import { execFileSync, spawn, type ChildProcess } from "node:child_process"
import { randomBytes } from "node:crypto"
import { readdirSync, readFileSync } from "node:fs"
import { createServer } from "node:net"
import { setTimeout as sleep } from "node:timers/promises"

export const root = new URL("../../", import.meta.url).pathname

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer()
    s.once("error", reject)
    s.listen(0, "127.0.0.1", () => {
      const address = s.address()
      s.close(() => typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")))
    })
  })

export interface Server {
  readonly url: string
  readonly stop: () => Promise<void>
}

/** Spawns `node <args>` and waits until `readyPath` answers 200. */
export const startNode = async (
  args: ReadonlyArray<string>,
  env: Record<string, string>,
  port: number,
  readyPath = "/health"
): Promise<Server> => {
  const child: ChildProcess = spawn(process.execPath, [...args], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? "",
      LOG_LEVEL: "Warn",
      LOG_FORMAT: "json",
      // BENCH_CPU_PROF=<dir>: every child writes a V8 CPU profile there when it stops
      ...(process.env.BENCH_CPU_PROF === undefined
        ? {}
        : { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${process.env.BENCH_CPU_PROF}` }),
      ...env
    },
    stdio: ["ignore", "inherit", "inherit"]
  })
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited with ${child.exitCode}`)
    const ok = await fetch(url + readyPath).then((r) => r.ok, () => false)
    if (ok) return { url, stop: () => stop(child) }
    await sleep(100)
  }
  await stop(child)
  throw new Error(`${args.join(" ")} did not become ready on ${url}${readyPath}`)
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

/** The baseline: bare node:http in its own process answering exactly `body` with `contentType`. */
export const startBare = async (body: string, contentType: string): Promise<Server> => {
  const port = await freePort()
  const code = `require("node:http").createServer((q, s) => { s.writeHead(200, { "content-type": ${
    JSON.stringify(contentType)
  }, "content-length": ${Buffer.byteLength(body)} }); s.end(${JSON.stringify(body)}) }).listen(${port}, "127.0.0.1")`
  return startNode(["-e", code], {}, port, "/")
}

export interface LoadResult {
  readonly rps: number
  readonly p50: number
  readonly p99: number
  readonly errors: number
}

export const load = async (options: autocannon.Options): Promise<LoadResult> => {
  const r = await autocannon({ connections: 32, duration: 5, ...options })
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts + r.non2xx
  }
}

export const median = (xs: ReadonlyArray<number>) => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)] ?? NaN
}

export const printTable = (title: string, rows: ReadonlyArray<Record<string, string | number>>) => {
  const first = rows[0]
  if (!first) return
  const cols = Object.keys(first)
  const cell = (v: string | number | undefined) =>
    typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(2)) : String(v ?? "")
  const widths = cols.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)))
  const line = (vals: ReadonlyArray<string>) => "| " + vals.map((v, i) => v.padEnd(widths[i] ?? 0)).join(" | ") + " |"
  console.log(`\n${title}`)
  console.log(line(cols))
  console.log("|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|")
  for (const r of rows) console.log(line(cols.map((c) => cell(r[c]))))
}

/** Real servers for the apps under test (benchmarks never measure the embedded stand-ins). */
export const realServicesEnv = (database: string) => ({
  DATABASE_URL: `postgres://postgres@127.0.0.1:5432/${database}`,
  REDIS_URL: "redis://127.0.0.1:6379",
  AMQP_URL: "amqp://guest:guest@127.0.0.1:5672"
})

/** psql as postgres on the local server, stopping at the first error; `input` goes to its stdin (COPY … FROM STDIN). */
export const psql = (args: ReadonlyArray<string>, input?: string) =>
  execFileSync("psql", ["-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-q", ...args], {
    input,
    stdio: [input === undefined ? "ignore" : "pipe", "ignore", "inherit"]
  })

/** A new database for one run of a bench, `kassa_bench_<name>_<random>`: its name. */
export const createDatabase = (name: string) => {
  const database = `kassa_bench_${name}_${randomBytes(4).toString("hex")}`
  psql(["-c", `CREATE DATABASE ${database}`])
  return database
}

export const dropDatabase = (database: string) => psql(["-c", `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`])

/** Billing as a child process on `database`, on a free port, with a JWT secret of its own; `env` adds settings. */
export const startBilling = async (database: string, env: Record<string, string> = {}) => {
  const port = await freePort()
  return startNode(["apps/billing/src/main.ts"], {
    ...realServicesEnv(database),
    BILLING_PORT: String(port),
    JWT_SECRET: randomBytes(32).toString("base64url"),
    ...env
  }, port)
}

/**
 * The catalog's (empty) schema, for a bench that writes billing's catalog copy directly: billing's ETL then finds
 * nothing to copy, where it would otherwise retry a missing schema and log a warning every few seconds.
 */
export const migrateCatalog = (database: string) =>
  Effect.runPromise(Effect.scoped(Layer.build(
    CatalogMigrations.pipe(Layer.provide(layerFromUrl(Redacted.make(realServicesEnv(database).DATABASE_URL))))
  )))

/** One table row summing up rounds of a load: medians, and the per-round figures beside them. */
export const roundsRow = (name: string, rs: ReadonlyArray<LoadResult>) => ({
  target: name,
  "req/s (median)": Math.round(median(rs.map((r) => r.rps))),
  "req/s per round": rs.map((r) => Math.round(r.rps)).join(" / "),
  "p50 ms (median)": median(rs.map((r) => r.p50)),
  "p99 ms (median)": median(rs.map((r) => r.p99)),
  "p99 ms per round": rs.map((r) => r.p99).join(" / "),
  errors: rs.reduce((n, r) => n + r.errors, 0)
})

/**
 * Load `target` and a bare node:http server answering the same bytes, alternately for `rounds`
 * rounds after a warm-up of each; prints both rows and the per-round ratio. Returns the median ratio.
 */
export const compareWithBare = async (options: {
  readonly title: string
  readonly name: string
  readonly url: string
  readonly rounds: number
  readonly request?: Omit<autocannon.Options, "url">
}): Promise<number> => {
  const sample = await fetch(options.url, {
    method: options.request?.method ?? "GET",
    headers: (options.request?.headers ?? {}) as Record<string, string>,
    ...(options.request?.body === undefined ? {} : { body: options.request.body as string })
  })
  const bare = await startBare(await sample.text(), sample.headers.get("content-type") ?? "application/json")
  const results: { bare: Array<LoadResult>; target: Array<LoadResult> } = { bare: [], target: [] }
  try {
    await load({ ...options.request, url: bare.url, duration: 3 })
    await load({ ...options.request, url: options.url, duration: 3 })
    for (let i = 0; i < options.rounds; i++) {
      results.bare.push(await load({ ...options.request, url: bare.url }))
      results.target.push(await load({ ...options.request, url: options.url }))
    }
  } finally {
    await bare.stop()
  }
  const ratios = results.target.map((r, i) => r.rps / (results.bare[i]?.rps ?? NaN))
  printTable(`${options.title}, autocannon -c 32, ${options.rounds} alternating rounds of 5 s`, [
    roundsRow("bare node:http", results.bare),
    roundsRow(options.name, results.target)
  ])
  console.log(
    `\nratio ${options.name} / bare: median ${median(ratios).toFixed(2)} (per round ${
      ratios.map((r) => r.toFixed(2)).join(", ")
    })`
  )
  return median(ratios)
}

/** POST a JSON body to `baseUrl + path`; a non-2xx answer throws with its body. */
export const postJsonTo =
  (baseUrl: string) => async (path: string, body: unknown): Promise<Record<string, unknown>> => {
    const response = await fetch(baseUrl + path, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body)
    })
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`)
    return response.json() as Promise<Record<string, unknown>>
  }

/** Registers `email` on billing at `baseUrl` and logs in: the account (as JSON) and its access token. */
export const signUp = async (baseUrl: string, email: string) => {
  const postJson = postJsonTo(baseUrl)
  const password = "bench password"
  const account = await postJson("/v1/auth/register", { email, password })
  const { accessToken } = await postJson("/v1/auth/token", { email, password }) as { accessToken: string }
  return { account, accessToken }
}

/**
 * CPU seconds used so far by each process group (Linux /proc): `groups` maps a name to a test on the command line.
 * Subtract two snapshots to see where a load's CPU went, e.g. CPU ms per request per process.
 */
export const cpuSnapshot = (groups: Record<string, (cmdline: string) => boolean>): Record<string, number> => {
  const ticks = 100 // USER_HZ on Linux
  const totals: Record<string, number> = Object.fromEntries(Object.keys(groups).map((name) => [name, 0]))
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\u0000", " ")
      const group = Object.keys(groups).find((name) => groups[name]!(cmdline))
      if (group === undefined) continue
      // fields after the parenthesised command name: utime and stime are the 12th and 13th
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      totals[group]! += (Number(fields[11]) + Number(fields[12])) / ticks
    } catch {
      // the process exited between listing and reading
    }
  }
  return totals
}

/** The CPU ms per unit of work of each group between two snapshots, as table rows. */
export const cpuPerUnit = (
  before: Record<string, number>,
  after: Record<string, number>,
  units: number,
  unit: string
) =>
  Object.keys(after).map((name) => ({
    process: name,
    "CPU s": Number(((after[name] ?? 0) - (before[name] ?? 0)).toFixed(2)),
    [`CPU ms per ${unit}`]: Number((((after[name] ?? 0) - (before[name] ?? 0)) * 1000 / Math.max(units, 1)).toFixed(2))
  }))

/**
 * An open-loop load at an even pace: request i is sent at start + i / rate, whatever earlier ones are doing, and
 * its latency is counted from that scheduled instant (a client that falls behind shows up in the figure). For low
 * fixed rates: autocannon's `overallRate` sends each connection's share of a second as a burst at the start of it,
 * which measures bursts of concurrent requests rather than the rate.
 */
export const paced = async (options: {
  readonly url: string
  readonly rate: number
  /** seconds */
  readonly duration: number
  readonly request: () => { readonly method: string; readonly headers: Record<string, string>; readonly body?: string }
}): Promise<LoadResult> => {
  const total = Math.round(options.rate * options.duration)
  const latencies: Array<number> = []
  let errors = 0
  const start = performance.now() + 50
  const sends: Array<Promise<void>> = []
  for (let i = 0; i < total; i++) {
    const at = start + (i * 1000) / options.rate
    const wait = at - performance.now()
    if (wait > 0) await sleep(wait)
    const request = options.request()
    sends.push(
      fetch(options.url, {
        method: request.method,
        headers: request.headers,
        ...(request.body === undefined ? {} : { body: request.body })
      })
        .then(async (response) => {
          await response.arrayBuffer()
          if (!response.ok) errors++
        }, () => {
          errors++
        })
        .then(() => {
          latencies.push(performance.now() - at)
        })
    )
  }
  await Promise.all(sends)
  const sorted = latencies.sort((a, b) => a - b)
  const at = (q: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN)
  return { rps: total / ((performance.now() - start) / 1000), p50: at(0.5), p99: at(0.99), errors }
}
