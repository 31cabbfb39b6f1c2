// Text a client sends must be storable as sent: PostgreSQL text and jsonb cannot hold NUL, and an unpaired
// UTF-16 surrogate has no UTF-8 encoding. The platform's RequestValidation applies `unstorableAt` to every string
// of every request (path, query and JSON body), so a route added later is covered without naming its fields.
import { Schema } from "effect"

/** False for a string holding NUL or an unpaired surrogate. */
export const isStorableText = (s: string): boolean => s.isWellFormed() && !s.includes("\u0000")

export const storableTextMessage = "text must not contain NUL characters or unpaired surrogates"

/** The check as a schema filter, for text that is stored (and for RPC payloads, which skip the HTTP edge). */
export const isStorable = () => Schema.makeFilter(isStorableText, { expected: storableTextMessage })

interface Step {
  readonly key: string | number
  readonly parent: Step | undefined
}

const pathOf = (step: Step | undefined): ReadonlyArray<string | number> => {
  const path: Array<string | number> = []
  for (let at = step; at !== undefined; at = at.parent) path.push(at.key)
  return path.reverse()
}

/**
 * The path of the first string (value or object key) in a decoded JSON document that is not storable; undefined
 * when every string is. Iterative and linear in the document's size, however deeply it nests.
 */
export const unstorableAt = (document: unknown): ReadonlyArray<string | number> | undefined => {
  const stack: Array<readonly [unknown, Step | undefined]> = [[document, undefined]]
  while (stack.length > 0) {
    const [value, at] = stack.pop()!
    if (typeof value === "string") {
      if (!isStorableText(value)) return pathOf(at)
    } else if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push([value[i], { key: i, parent: at }])
    } else if (typeof value === "object" && value !== null) {
      for (const [key, inner] of Object.entries(value)) {
        if (!isStorableText(key)) return pathOf({ key, parent: at })
        stack.push([inner, { key, parent: at }])
      }
    }
  }
  return undefined
}
