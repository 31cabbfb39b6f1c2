// Stripe's request encoding: `application/x-www-form-urlencoded` bodies (and query strings) whose keys use
// brackets for nesting: `metadata[invoiceId]=inv_1`, `payment_method_types[0]=card`, `expand[]=latest_charge`.
import { canonicalJson } from "@kassa/platform/digest"

/** A decoded parameter tree: strings at the leaves, objects for `a[b]`, arrays for `a[]` and `a[0]`. */
export type Param = string | ParamObject | ReadonlyArray<Param>
export interface ParamObject {
  readonly [key: string]: Param
}

type Mutable = string | { [key: string]: Mutable } | Array<Mutable>

const keyPath = (key: string): ReadonlyArray<string> => {
  const open = key.indexOf("[")
  if (open <= 0) return [key]
  const rest = key.slice(open)
  const parts = [key.slice(0, open)]
  for (const match of rest.matchAll(/\[([^\]]*)\]/g)) parts.push(match[1] ?? "")
  return parts
}

const isIndex = (part: string) => part === "" || /^\d+$/.test(part)

const assign = (target: { [key: string]: Mutable } | Array<Mutable>, path: ReadonlyArray<string>, value: string) => {
  let node: { [key: string]: Mutable } | Array<Mutable> = target
  path.forEach((part, i) => {
    const last = i === path.length - 1
    const nextIsArray = !last && isIndex(path[i + 1] ?? "")
    if (Array.isArray(node)) {
      const index = part === "" ? node.length : Number(part)
      if (last) node[index] = value
      else {
        const existing = node[index]
        node = typeof existing === "object" ? existing : (node[index] = nextIsArray ? [] : {})
      }
      return
    }
    if (last) {
      node[part] = value
      return
    }
    const existing = node[part]
    node = typeof existing === "object" ? existing : (node[part] = nextIsArray ? [] : {})
  })
}

/** Decodes `a=1&b[c]=2&d[]=x&d[]=y` into `{ a: "1", b: { c: "2" }, d: ["x", "y"] }`. */
export const decodeParams = (encoded: string): ParamObject => {
  const root: { [key: string]: Mutable } = {}
  for (const [key, value] of new URLSearchParams(encoded)) {
    if (key !== "") assign(root, keyPath(key), value)
  }
  return root
}

/** A stable rendering of the parameters, for comparing idempotent requests. */
export const fingerprint = (params: ParamObject): string => canonicalJson(params)
