// Where the sandbox keeps its Stripe account between runs: one SQLite file (Node's built-in node:sqlite) in its data
// directory, or nowhere ("memory"). Operations change objects in memory and report every object they touch; `commit`
// writes the ones that changed, with the events raised, the webhook deliveries still owed and the idempotent results,
// in one transaction, before the answer goes out: a crash loses nothing that was answered.
import { Clock, Context, Duration, Effect, Schema, type Scope } from "effect"
import { mkdirSync } from "node:fs"
import { join } from "node:path"
import { DatabaseSync } from "node:sqlite"
import type { StoredResponse } from "./idempotency.ts"
import type { EventType, RaisedEvent, StoreKind, Touch } from "./state.ts"

export class SandboxDataError extends Schema.TaggedError<SandboxDataError>()("SandboxDataError", {
  message: Schema.String,
  cause: Schema.Defect()
}) {}

export interface StoredIdempotency {
  readonly key: string
  readonly endpoint: string
  readonly fingerprint: string
  /** Epoch millis. */
  readonly createdAt: number
  readonly response: StoredResponse
}

/** A webhook delivery not yet answered 2xx, to the endpoint with this URL. */
export interface PendingDelivery {
  readonly event: RaisedEvent
  readonly url: string
}

export interface Restored {
  /** Each kind's objects in creation order. */
  readonly objects: ReadonlyMap<StoreKind, ReadonlyArray<readonly [string, unknown]>>
  readonly pending: ReadonlyArray<PendingDelivery>
  /** Oldest first. */
  readonly idempotency: ReadonlyArray<StoredIdempotency>
}

/** Stripe retries a delivery for up to 3 days and keeps events for 30. */
const deliveryLifetime = Duration.days(3)
const eventLifetime = Duration.days(30)
const idempotencyLifetime = Duration.hours(24)
const schemaVersion = 1

export class Journal extends Context.Service<Journal, {
  readonly restored: Restored
  /** An object an operation read or wrote (written at the next commit if it changed). */
  readonly touch: Touch
  /** An event raised, owed to the endpoints with these URLs. */
  event(event: RaisedEvent, urls: ReadonlyArray<string>): void
  /** The endpoint answered 2xx (or the sandbox gave up): nothing is owed any more. */
  delivered(eventId: string, url: string): void
  idempotent(entry: StoredIdempotency): void
  forgetIdempotent(key: string): void
  /** Writes what was recorded since the last commit, all or nothing. */
  commit(): void
}>()("stripe-sandbox/Journal") {
  /** Keeps nothing. */
  static readonly memory = Journal.of({
    restored: { objects: new Map(), pending: [], idempotency: [] },
    touch: () => {},
    event: () => {},
    delivered: () => {},
    idempotent: () => {},
    forgetIdempotent: () => {},
    commit: () => {}
  })

  /** `memory`, or the directory the sandbox keeps its account in (created if missing); closed with the scope. */
  static readonly make = (dataDir: string): Effect.Effect<Journal["Service"], SandboxDataError, Scope.Scope> =>
    dataDir === "memory" ?
      Effect.succeed(Journal.memory) :
      Effect.flatMap(Clock.currentTimeMillis, (now) =>
        Effect.acquireRelease(
          Effect.try({
            try: () => open(dataDir, now),
            catch: (cause) =>
              new SandboxDataError({ message: `cannot open the Stripe sandbox's data in ${dataDir}`, cause })
          }),
          ({ close }) => Effect.sync(close)
        ).pipe(Effect.map(({ journal }) => journal)))
}

const open = (dataDir: string, now: number) => {
  mkdirSync(dataDir, { recursive: true })
  const db = new DatabaseSync(join(dataDir, "sandbox.sqlite"))
  try {
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000")
    migrate(db)
    prune(db, now)
    const journal = journalOn(db, restore(db))
    return {
      journal,
      close: () => {
        journal.commit()
        db.close()
      }
    }
  } catch (error) {
    db.close()
    throw error
  }
}

const migrate = (db: DatabaseSync) => {
  const version = Number((db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version)
  if (version > schemaVersion) throw new Error(`written by a newer sandbox (schema ${version})`)
  if (version === schemaVersion) return
  db.exec(`
    CREATE TABLE objects (kind TEXT NOT NULL, id TEXT NOT NULL, json TEXT NOT NULL, PRIMARY KEY (kind, id));
    CREATE TABLE events (id TEXT PRIMARY KEY, type TEXT NOT NULL, created INTEGER NOT NULL, payload TEXT NOT NULL);
    CREATE TABLE deliveries (event_id TEXT NOT NULL, url TEXT NOT NULL, PRIMARY KEY (event_id, url));
    CREATE TABLE idempotency (key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, fingerprint TEXT NOT NULL,
      created_at INTEGER NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, request_id TEXT NOT NULL);
    PRAGMA user_version = ${schemaVersion};
  `)
}

const prune = (db: DatabaseSync, now: number) => {
  const seconds = (lifetime: Duration.Duration) => Math.floor((now - Duration.toMillis(lifetime)) / 1000)
  db.prepare("DELETE FROM deliveries WHERE event_id IN (SELECT id FROM events WHERE created < ?)").run(
    seconds(deliveryLifetime)
  )
  db.prepare("DELETE FROM events WHERE created < ? AND id NOT IN (SELECT event_id FROM deliveries)").run(
    seconds(eventLifetime)
  )
  db.prepare("DELETE FROM idempotency WHERE created_at < ?").run(now - Duration.toMillis(idempotencyLifetime))
}

interface Rows {
  readonly objects: Map<StoreKind, Array<readonly [string, unknown]>>
  readonly written: Map<string, string>
  readonly pending: Array<PendingDelivery>
  readonly idempotency: Array<StoredIdempotency>
}

const objectKey = (kind: string, id: string) => `${kind}\u0000${id}`

const restore = (db: DatabaseSync): Rows => {
  const rows: Rows = { objects: new Map(), written: new Map(), pending: [], idempotency: [] }
  for (const row of db.prepare("SELECT kind, id, json FROM objects ORDER BY rowid").all()) {
    const { kind, id, json } = row as { kind: StoreKind; id: string; json: string }
    const list = rows.objects.get(kind) ?? []
    list.push([id, JSON.parse(json)])
    rows.objects.set(kind, list)
    rows.written.set(objectKey(kind, id), json)
  }
  const pending = db.prepare(`SELECT d.url, e.id, e.type, e.created, e.payload FROM deliveries d
    JOIN events e ON e.id = d.event_id ORDER BY e.rowid`).all()
  for (const row of pending) {
    const { url, id, type, created, payload } = row as {
      url: string
      id: string
      type: EventType
      created: number
      payload: string
    }
    rows.pending.push({ url, event: { id, type, created, payload } })
  }
  for (const row of db.prepare("SELECT * FROM idempotency ORDER BY created_at, rowid").all()) {
    const r = row as {
      key: string
      endpoint: string
      fingerprint: string
      created_at: number
      status: number
      body: string
      request_id: string
    }
    rows.idempotency.push({
      key: r.key,
      endpoint: r.endpoint,
      fingerprint: r.fingerprint,
      createdAt: r.created_at,
      response: { status: r.status, body: r.body, requestId: r.request_id }
    })
  }
  return rows
}

const journalOn = (db: DatabaseSync, rows: Rows): Journal["Service"] => {
  const statements = {
    object: db.prepare(
      "INSERT INTO objects (kind, id, json) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO UPDATE SET json = excluded.json"
    ),
    event: db.prepare("INSERT OR IGNORE INTO events (id, type, created, payload) VALUES (?, ?, ?, ?)"),
    owe: db.prepare("INSERT OR IGNORE INTO deliveries (event_id, url) VALUES (?, ?)"),
    delivered: db.prepare("DELETE FROM deliveries WHERE event_id = ? AND url = ?"),
    idempotent: db.prepare(
      `INSERT OR REPLACE INTO idempotency (key, endpoint, fingerprint, created_at, status, body, request_id)
      VALUES (?, ?, ?, ?, ?, ?, ?)`
    ),
    forget: db.prepare("DELETE FROM idempotency WHERE key = ?")
  }
  const touched = new Map<string, { readonly kind: string; readonly id: string; readonly value: unknown }>()
  let events: Array<readonly [RaisedEvent, ReadonlyArray<string>]> = []
  let delivered: Array<readonly [string, string]> = []
  let idempotency = new Map<string, StoredIdempotency | undefined>()

  const commit = () => {
    const changed: Array<{ readonly key: string; readonly kind: string; readonly id: string; readonly json: string }> =
      []
    for (const [key, { kind, id, value }] of touched) {
      const json = JSON.stringify(value)
      if (rows.written.get(key) !== json) changed.push({ key, kind, id, json })
    }
    if (changed.length === 0 && events.length === 0 && delivered.length === 0 && idempotency.size === 0) {
      touched.clear()
      return
    }
    db.exec("BEGIN IMMEDIATE")
    try {
      for (const { kind, id, json } of changed) statements.object.run(kind, id, json)
      for (const [event, urls] of events) {
        statements.event.run(event.id, event.type, event.created, event.payload)
        for (const url of urls) statements.owe.run(event.id, url)
      }
      for (const [eventId, url] of delivered) statements.delivered.run(eventId, url)
      for (const [key, entry] of idempotency) {
        if (entry === undefined) statements.forget.run(key)
        else {
          const { response } = entry
          statements.idempotent.run(
            key,
            entry.endpoint,
            entry.fingerprint,
            entry.createdAt,
            response.status,
            response.body,
            response.requestId
          )
        }
      }
      db.exec("COMMIT")
    } catch (error) {
      db.exec("ROLLBACK")
      throw error
    }
    for (const { key, json } of changed) rows.written.set(key, json)
    touched.clear()
    events = []
    delivered = []
    idempotency = new Map()
  }

  return Journal.of({
    restored: rows,
    touch: (kind, id, value) => void touched.set(objectKey(kind, id), { kind, id, value }),
    event: (event, urls) => void events.push([event, urls]),
    delivered: (eventId, url) => void delivered.push([eventId, url]),
    idempotent: (entry) => void idempotency.set(entry.key, entry),
    forgetIdempotent: (key) => void idempotency.set(key, undefined),
    commit
  })
}
