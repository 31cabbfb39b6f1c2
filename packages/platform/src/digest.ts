// The one request digest: what an idempotency store keeps to tell a retry (the same request again) from another
// request under the same key.
import { createHash } from "node:crypto"

/** JSON with object keys sorted at every depth, so equal requests render alike whatever their key order. */
export const canonicalJson = (value: unknown): string =>
  JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
      : v)

/** SHA-256 (hex) of the operation and its request: equal ⇔ the same operation with an equal request. */
export const requestDigest = (operation: string, request: unknown): string =>
  createHash("sha256").update(operation).update("\n").update(canonicalJson(request)).digest("hex")
