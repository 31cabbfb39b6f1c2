// Builds the console's static files (web/ → dist/) with Vite when dist/ is missing or older than its sources. The
// build goes to a directory of its own and is renamed into place, so a server never reads a half-written dist/ and
// two processes building at once do not mix their files.
import { randomUUID } from "node:crypto"
import { existsSync, readdirSync, renameSync, rmSync, statSync } from "node:fs"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import { Console, Effect } from "effect"

export const consoleRoot = fileURLToPath(new URL("..", import.meta.url))
export const webRoot = join(consoleRoot, "web")
export const distDir = join(consoleRoot, "dist")
const domainSrc = fileURLToPath(new URL("../../../packages/domain/src", import.meta.url))

const newestChange = (path: string): number => {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestChange(join(path, name))), stat.mtimeMs)
}

/** True when dist/ is missing or a source (the web app, the contracts it is built from) changed since it was built. */
export const isStale = (): boolean => {
  const built = join(distDir, "index.html")
  if (!existsSync(built)) return true
  return Math.max(newestChange(webRoot), newestChange(domainSrc)) > statSync(built).mtimeMs
}

export const viteConfig = (outDir: string) => ({
  configFile: false as const,
  root: webRoot,
  base: "./",
  logLevel: "warn" as const,
  clearScreen: false,
  oxc: { jsx: { runtime: "automatic" as const } },
  build: { outDir, emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 2000 }
})

/** Builds dist/ now, whatever its age. */
export const build = Effect.gen(function*() {
  const outDir = join(consoleRoot, `.dist-${randomUUID()}`)
  yield* Effect.tryPromise(async () => {
    const { build } = await import("vite")
    await build(viteConfig(outDir))
  }).pipe(Effect.onError(() => Effect.sync(() => rmSync(outDir, { recursive: true, force: true }))))
  yield* Effect.sync(() => {
    rmSync(distDir, { recursive: true, force: true })
    try {
      renameSync(outDir, distDir)
    } catch {
      // another process renamed its build in meanwhile: theirs is as fresh as ours
      rmSync(outDir, { recursive: true, force: true })
    }
  })
})

/** Builds dist/ unless it is up to date. */
export const ensureBuilt = Effect.suspend(() =>
  isStale()
    ? Console.log("Building the console (apps/console/web → apps/console/dist)…").pipe(Effect.andThen(build))
    : Effect.void
)
