// The demo admin `npm start` creates when ADMIN_EMAIL/ADMIN_PASSWORD are unset. Its generated password is kept in a
// file beside the embedded data (mode 0600), so yesterday's password still works; deleting the file makes a new one
// at the next start (billing then updates the admin and ends its sessions).
import { Effect, Schema } from "effect"
import { randomBytes } from "node:crypto"
import { chmodSync, linkSync, mkdirSync, readFileSync, renameSync, unlinkSync, writeFileSync } from "node:fs"
import { dirname } from "node:path"

export const demoAdminEmail = "admin@kassa.local"

export class DemoAdminError extends Schema.TaggedError<DemoAdminError>()("DemoAdminError", {
  message: Schema.String,
  cause: Schema.Defect()
}) {}

/** 16 URL-safe characters: above billing's 8-character minimum. */
export const newPassword = () => randomBytes(12).toString("base64url")

const minLength = 8

const read = (file: string): string | undefined => {
  try {
    const content = readFileSync(file, "utf8").trim()
    return content.length >= minLength ? content : undefined
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined
    throw error
  }
}

const create = (file: string): { readonly password: string; readonly created: boolean } => {
  mkdirSync(dirname(file), { recursive: true })
  const password = newPassword()
  const temp = `${file}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`
  writeFileSync(temp, `${password}\n`, { mode: 0o600, flush: true })
  try {
    // all or nothing, and only if no other start made one meanwhile (then theirs is the password)
    linkSync(temp, file)
    return { password, created: true }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    const theirs = read(file)
    if (theirs !== undefined) return { password: theirs, created: false }
    // a file too short to be a password (an interrupted older write): replace it
    renameSync(temp, file)
    return { password, created: true }
  } finally {
    try {
      unlinkSync(temp)
    } catch {
      // renamed away
    }
  }
}

/** The password kept in `file`, or a new one written there; `created` says which. */
export const loadOrCreatePassword = (file: string) =>
  Effect.try({
    try: () => {
      const kept = read(file)
      if (kept === undefined) return create(file)
      chmodSync(file, 0o600)
      return { password: kept, created: false }
    },
    catch: (cause) =>
      new DemoAdminError({ message: `cannot read or write the demo admin's password file ${file}`, cause })
  })
