// What every app's OpenAPI document says beyond its endpoints: where it is served, and three corrections the
// generator cannot make from the schemas alone. Applied by apis.ts to each HttpApi; test/openapi.test.ts lints the
// result with Redocly's recommended rules.
import { OpenApi } from "effect/http-api"
import type { Context } from "effect"
import { DEFAULT_LIMIT, MAX_LIMIT } from "./pagination.ts"

// biome-ignore lint/suspicious/noExplicitAny: the generated OpenAPI document, walked and patched by key
type Spec = Record<string, any>

const bodyless = new Set(["get", "head", "delete", "options"])

/**
 * 1. A schema decoded through a transformation is named after its decoded side plus `Encoded` (`ForbiddenEncoded`,
 *    `EmailEncoded`): only the encoded side is ever on the wire, so it takes the plain name when that is free.
 * 2. `RequestValidation` lists 413 and 415 for every endpoint of a group; a request without a body gets neither.
 * 3. `limit` travels as query text, which the generator documents as a string: it is an integer 1..100.
 */
export const tidy = (spec: Spec): Spec => {
  const schemas: Record<string, unknown> = spec["components"]?.["schemas"] ?? {}
  const renames = new Map<string, string>()
  for (const name of Object.keys(schemas)) {
    const plain = name.endsWith("Encoded") ? name.slice(0, -"Encoded".length) : undefined
    if (plain !== undefined && plain !== "" && !(plain in schemas)) renames.set(name, plain)
  }
  const renamed = renames.size === 0 ?
    spec :
    JSON.parse(
      JSON.stringify(
        spec,
        (key, value) =>
          key === "$ref" && typeof value === "string" && value.startsWith("#/components/schemas/")
            ? `#/components/schemas/${
              renames.get(value.slice("#/components/schemas/".length)) ?? value.slice("#/components/schemas/".length)
            }`
            : value
      )
    ) as Spec
  if (renames.size > 0) {
    renamed["components"]["schemas"] = Object.fromEntries(
      Object.entries(renamed["components"]["schemas"] as Record<string, unknown>).map((
        [name, schema]
      ) => [renames.get(name) ?? name, schema])
    )
  }
  for (const item of Object.values(renamed["paths"] ?? {}) as Array<Record<string, Spec>>) {
    for (const [method, operation] of Object.entries(item)) {
      if (bodyless.has(method)) {
        delete operation["responses"]?.["413"]
        delete operation["responses"]?.["415"]
      }
      for (const parameter of (operation["parameters"] ?? []) as Array<Spec>) {
        if (parameter["in"] === "query" && parameter["name"] === "limit") {
          parameter["schema"] = {
            type: "integer",
            minimum: 1,
            maximum: MAX_LIMIT,
            default: DEFAULT_LIMIT,
            description: `page size, 1..${MAX_LIMIT}`
          }
        }
      }
    }
  }
  return renamed
}

/** The annotations of one app's HttpApi: title, version, where it is served (relative: the app serves its own doc). */
export const apiAnnotations = (title: string, description: string): Context.Context<never> =>
  OpenApi.annotations({
    title,
    version: "1.0.0",
    description,
    license: { name: "Proprietary", identifier: "LicenseRef-Kassa-Proprietary" },
    servers: [{ url: "/", description: "this app (the document is served by the app it describes)" }],
    transform: tidy
  })
