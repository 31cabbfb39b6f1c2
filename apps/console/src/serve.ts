// The console's server: its static files and, on the same origin, the API routes it calls, passed on to billing
// and catalog. One origin means no CORS, and the browser sends nothing to the APIs it would not send to the page.
import { createReadStream, existsSync, statSync } from "node:fs"
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from "node:http"
import { extname, join, normalize, sep } from "node:path"
import { Context, Duration, Effect, Layer } from "effect"
import { distDir, ensureBuilt } from "./build.ts"

export interface ConsoleUpstreams {
  /** billing's origin: /v1/* and /admin/v1/* except films and products */
  readonly billing: URL
  /** catalog's origin: /admin/v1/films* and /admin/v1/products* */
  readonly catalog: URL
}

/** Where a request goes: an upstream origin, or undefined for the console's own files. */
export const upstreamOf = (path: string, upstreams: ConsoleUpstreams): URL | undefined => {
  if (/^\/admin\/v1\/(films|products)(\/|\?|$)/.test(path)) return upstreams.catalog
  if (/^\/(v1|admin\/v1)(\/|\?|$)/.test(path)) return upstreams.billing
  return undefined
}

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".json": "application/json"
}

// Recharts sets inline style attributes, hence 'unsafe-inline' for styles only; scripts come from this origin alone.
const securityHeaders = {
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY"
}

const decoded = (path: string): string => {
  try {
    return decodeURIComponent(path.split("?")[0] ?? "/")
  } catch {
    return "/"
  }
}

const serveFile = (path: string, response: ServerResponse) => {
  const clean = normalize(decoded(path))
  let file = join(distDir, clean)
  if (!file.startsWith(distDir + sep) || !existsSync(file) || statSync(file).isDirectory()) {
    file = join(distDir, "index.html")
  }
  const hashed = file.includes(`${sep}assets${sep}`)
  response.writeHead(200, {
    ...securityHeaders,
    "content-type": types[extname(file)] ?? "application/octet-stream",
    // hashed asset names change with their content; the page itself is checked each time
    "cache-control": hashed ? "public, max-age=31536000, immutable" : "no-cache"
  })
  // a build being renamed into place may take the file away under us: end the answer rather than the process
  createReadStream(file).on("error", () => response.destroy()).pipe(response)
}

const proxy = (incoming: IncomingMessage, response: ServerResponse, upstream: URL) => {
  const forwarded = incoming.headers["x-forwarded-for"]
  const outgoing = httpRequest({
    host: upstream.hostname,
    port: upstream.port,
    method: incoming.method,
    path: incoming.url,
    headers: {
      ...incoming.headers,
      host: upstream.host,
      "x-forwarded-for": [forwarded, incoming.socket.remoteAddress].filter(Boolean).join(", "),
      "x-forwarded-host": incoming.headers.host ?? ""
    }
  }, (answer) => {
    response.writeHead(answer.statusCode ?? 502, answer.headers)
    answer.pipe(response)
  })
  outgoing.on("error", () => {
    if (response.headersSent) return response.destroy()
    response.writeHead(503, { "content-type": "application/json" })
    response.end(JSON.stringify({ _tag: "ServiceUnavailable", message: "the API behind the console did not answer" }))
  })
  incoming.pipe(outgoing)
}

export class ConsoleServer
  extends Context.Service<ConsoleServer, { readonly url: string }>()("console/ConsoleServer")
{}

/** Builds the console if its files are stale, then serves them and the API routes on `host:port` until the scope ends. */
export const layer = (options: {
  readonly host: string
  readonly port: number
  readonly upstreams: ConsoleUpstreams
  /** slow-client bounds, as the apps' own servers apply them */
  readonly headersTimeout?: Duration.Duration
  readonly receiveTimeout?: Duration.Duration
  readonly keepAliveTimeout?: Duration.Duration
}) =>
  Layer.effect(
    ConsoleServer,
    Effect.gen(function*() {
      yield* ensureBuilt
      const server = yield* Effect.acquireRelease(
        Effect.callback<ReturnType<typeof createServer>, Error>((resume) => {
          const server = createServer((incoming, response) => {
            const upstream = upstreamOf(incoming.url ?? "/", options.upstreams)
            if (upstream !== undefined) return proxy(incoming, response, upstream)
            if (incoming.method !== "GET" && incoming.method !== "HEAD") {
              response.writeHead(405, { allow: "GET, HEAD" })
              return response.end()
            }
            serveFile(incoming.url ?? "/", response)
          })
          if (options.headersTimeout) server.headersTimeout = Duration.toMillis(options.headersTimeout)
          if (options.receiveTimeout) server.requestTimeout = Duration.toMillis(options.receiveTimeout)
          if (options.keepAliveTimeout) server.keepAliveTimeout = Duration.toMillis(options.keepAliveTimeout)
          server.once("error", (error) => resume(Effect.fail(error)))
          server.listen(options.port, options.host, () => resume(Effect.succeed(server)))
        }),
        (server) =>
          Effect.callback<void>((resume) => {
            server.close(() => resume(Effect.void))
            server.closeAllConnections()
          })
      )
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : options.port
      const host = options.host === "0.0.0.0" ? "127.0.0.1" : options.host
      return { url: `http://${host}:${port}` }
    })
  )
