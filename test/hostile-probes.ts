// The probes of test/hostile-input.test.ts, generated from an OpenAPI document: for every operation a well-formed
// baseline request (ids with their prefix, enums, bounded numbers), then that request with one path, query or
// body field replaced by something hostile for its type. Nothing here knows a route: a new one is covered as
// soon as it is in the document.

export interface JsonSchema {
  readonly $ref?: string
  readonly type?: string | ReadonlyArray<string>
  readonly enum?: ReadonlyArray<unknown>
  readonly const?: unknown
  readonly pattern?: string
  readonly minimum?: number
  readonly maximum?: number
  readonly exclusiveMinimum?: number
  readonly minItems?: number
  readonly properties?: Readonly<Record<string, JsonSchema>>
  readonly required?: ReadonlyArray<string>
  readonly items?: JsonSchema
  readonly anyOf?: ReadonlyArray<JsonSchema>
  readonly oneOf?: ReadonlyArray<JsonSchema>
  readonly allOf?: ReadonlyArray<JsonSchema>
  readonly description?: string
}

interface Parameter {
  readonly name: string
  readonly in: "path" | "query" | "header" | "cookie"
  readonly schema?: JsonSchema
  readonly required?: boolean
}

interface Operation {
  readonly operationId?: string
  readonly parameters?: ReadonlyArray<Parameter>
  readonly security?: ReadonlyArray<Record<string, unknown>>
  readonly requestBody?: { readonly content?: Record<string, { readonly schema?: JsonSchema }> }
}

export interface OpenApiDocument {
  readonly paths: Readonly<Record<string, Readonly<Record<string, Operation>>>>
  readonly components?: { readonly schemas?: Readonly<Record<string, JsonSchema>> }
}

export interface Endpoint {
  readonly method: string
  readonly path: string
  readonly secured: boolean
  readonly params: ReadonlyArray<Parameter>
  readonly body: JsonSchema | undefined
}

export interface Request {
  readonly method: string
  /** with path parameters filled in and the query string appended */
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string | undefined
}

export interface Probe {
  readonly label: string
  readonly request: Request
}

const methods = ["get", "post", "put", "patch", "delete"] as const

export const endpoints = (doc: OpenApiDocument): ReadonlyArray<Endpoint> =>
  Object.entries(doc.paths).flatMap(([path, item]) =>
    methods.flatMap((method) => {
      const operation = item[method]
      if (operation === undefined) return []
      return [{
        method: method.toUpperCase(),
        path,
        secured: (operation.security ?? []).length > 0,
        params: operation.parameters ?? [],
        body: operation.requestBody?.content?.["application/json"]?.schema
      }]
    })
  )

const resolver = (doc: OpenApiDocument) => (schema: JsonSchema | undefined): JsonSchema => {
  let current = schema ?? {}
  for (let depth = 0; current.$ref !== undefined && depth < 20; depth++) {
    const name = current.$ref.split("/").at(-1) ?? ""
    current = doc.components?.schemas?.[name] ?? {}
  }
  if (current.allOf !== undefined) {
    return current.allOf.reduce<JsonSchema>((all, part) => ({ ...all, ...resolver(doc)(part) }), current)
  }
  const alternatives = current.anyOf ?? current.oneOf
  // `X | null`: the non-null side
  if (alternatives !== undefined) return resolver(doc)(alternatives.find((a) => a.type !== "null") ?? alternatives[0])
  return current
}

const typeOf = (schema: JsonSchema): string | undefined => {
  if (schema.enum !== undefined || schema.const !== undefined) return "enum"
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type
  return typeof type === "string" ? type : schema.properties !== undefined ? "object" : undefined
}

/** A value an id pattern such as `^usr_[A-Za-z0-9_-]{1,60}$` accepts. */
const fromPattern = (pattern: string, field: string): string => {
  if (pattern.startsWith("^pm_")) return "pm_card_visa"
  const prefix = /^\^([a-z]+_)/.exec(pattern)?.[1]
  return prefix === undefined ? field : `${prefix}hostile0probe`
}

const isDateField = (name: string, schema: JsonSchema | undefined) =>
  name === "from" || name === "to" || (schema?.$ref ?? "").endsWith("/CalendarDate")

/** A well-formed value for a field: what a polite client would send. */
const baselineValue = (doc: OpenApiDocument, name: string, raw: JsonSchema | undefined): unknown => {
  const schema = resolver(doc)(raw)
  if (isDateField(name, raw)) return name === "to" ? "2026-01-31" : "2026-01-01"
  if (name === "email") return "probe@example.com"
  if (name === "password") return "a perfectly fine password"
  if (name === "timeZone") return "Europe/Berlin"
  if (name === "limit") return "10"
  switch (typeOf(schema)) {
    case "enum":
      return schema.enum?.[0] ?? schema.const
    case "integer":
    case "number":
      return Math.max(schema.minimum ?? 1, (schema.exclusiveMinimum ?? 0) + 1)
    case "boolean":
      return false
    case "array":
      return [baselineValue(doc, name, schema.items)]
    case "object":
      return Object.fromEntries(
        Object.entries(schema.properties ?? {}).map(([key, inner]) => [key, baselineValue(doc, key, inner)])
      )
    default:
      return schema.pattern === undefined ? `probe ${name}` : fromPattern(schema.pattern, name)
  }
}

// ---- hostile values --------------------------------------------------------------------------------------------

const tenThousand = "x".repeat(10_000)
const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url")

/** In a URL a lone surrogate can only travel as the percent-encoded bytes of its (invalid) UTF-8 form. */
const loneSurrogateInUrl = "%ED%A0%80"

const stringProbes = (base: string) =>
  [
    ["NUL", `${base}\u0000`],
    ["lone high surrogate", `${base}\ud800`],
    ["lone low surrogate", `\udc00${base}`],
    ["10k characters", `${base}${tenThousand}`]
  ] as const

const wrongTypes = (type: string | undefined): ReadonlyArray<readonly [string, unknown]> => [
  ...(type === "string" || type === "enum" ? [] : [["a string", "12"] as const]),
  ...(type === "integer" || type === "number" ? [] : [["a number", 12345] as const]),
  ...(type === "boolean" ? [] : [["a boolean", true] as const]),
  ["null", null],
  ...(type === "object" ? [] : [["an object", { a: 1 }] as const]),
  ...(type === "array" ? [] : [["an array", ["a"]] as const])
]

const boundaryNumbers = [
  ["-1", -1],
  ["1.5", 1.5],
  ["1e300", 1e300],
  ["-1e15", -1e15],
  ["2^53 + 2", 9_007_199_254_740_994]
] as const

const impossibleDates = [
  "2026-02-31",
  "2026-02-30",
  "2026-13-01",
  "0000-01-01",
  "+010000-01-01T00:00:00Z",
  "-200000-01-01T00:00:00Z",
  "2026-02-31T00:00:00Z",
  "1e300"
]

const tamperedCursors = [
  ["NUL key and id", base64url({ key: "\u0000", id: "\u0000" })],
  ["key 1e300", base64url({ key: 1e300, id: "sub_1" })],
  ["key -1e15", base64url({ key: -1e15, id: "sub_1" })],
  ["id not an id", base64url({ key: "abc", id: "x' OR '1'='1" })],
  ["numeric id", base64url({ key: 1, id: 5 })],
  ["an array", base64url([1, "a"])],
  ["not base64", "garbage!"],
  ["10k characters", tenThousand]
] as const

/** Query strings carry text only: what each kind of query field must refuse. */
const queryProbes = (
  doc: OpenApiDocument,
  param: Parameter,
  base: string
): ReadonlyArray<readonly [string, string]> => {
  const schema = resolver(doc)(param.schema)
  const encoded = (value: string) => encodeURIComponent(value)
  const text: Array<readonly [string, string]> = [
    ["NUL", encoded(`${base}\u0000`)],
    ["lone surrogate", `${encoded(base)}${loneSurrogateInUrl}`],
    ["10k characters", encoded(`${base}${tenThousand}`)]
  ]
  if (param.name === "cursor") {
    return [...text.slice(0, 2), ...tamperedCursors.map(([label, value]) => [label, encoded(value)] as const)]
  }
  if (param.name === "limit") {
    return [...text, ...["abc", "-1", "0", "101", "1.5", "1e300", " 5"].map((v) => [v, encoded(v)] as const)]
  }
  if (isDateField(param.name, param.schema)) return [...text, ...impossibleDates.map((v) => [v, encoded(v)] as const)]
  if (typeOf(schema) === "enum") return [...text, ["not a value", "not-a-value"]]
  return text
}

const pathProbes = (base: string): ReadonlyArray<readonly [string, string]> => [
  ["NUL", encodeURIComponent(`${base}\u0000`)],
  ["lone surrogate", `${encodeURIComponent(base)}${loneSurrogateInUrl}`],
  ["10k characters", encodeURIComponent(`${base}${tenThousand}`)],
  ["not an id", encodeURIComponent("x' OR '1'='1")],
  ["bad percent-encoding", "%E0%A4%A"],
  ["dots", "..%2F..%2Fadmin"]
]

/** Body probes for the field at `path` (its schema `raw`, its baseline value `base`). */
const bodyProbes = (
  doc: OpenApiDocument,
  name: string,
  raw: JsonSchema | undefined,
  base: unknown
): ReadonlyArray<readonly [string, unknown]> => {
  const type = typeOf(resolver(doc)(raw))
  const probes: Array<readonly [string, unknown]> = [...wrongTypes(type)]
  if (typeof base === "string") probes.push(...stringProbes(base))
  if (type === "integer" || type === "number") probes.push(...boundaryNumbers)
  if (isDateField(name, raw)) probes.push(...impossibleDates.map((v) => [v, v] as const))
  return probes
}

// ---- requests --------------------------------------------------------------------------------------------------

type Path = ReadonlyArray<string | number>

const setAt = (value: unknown, path: Path, replacement: unknown): unknown => {
  if (path.length === 0) return replacement
  const [head, ...rest] = path
  if (Array.isArray(value)) return value.map((item, i) => (i === head ? setAt(item, rest, replacement) : item))
  const record = value as Record<string, unknown>
  return { ...record, [String(head)]: setAt(record[String(head)], rest, replacement) }
}

/** Every field of a baseline body with its schema: objects by key, arrays by their first element. */
const fieldsOf = (
  doc: OpenApiDocument,
  raw: JsonSchema | undefined,
  value: unknown,
  path: Path = []
): ReadonlyArray<readonly [Path, string, JsonSchema | undefined, unknown]> => {
  const schema = resolver(doc)(raw)
  const here = path.length === 0 ? [] : [[path, String(path.at(-1)), raw, value] as const]
  if (Array.isArray(value)) return [...here, ...fieldsOf(doc, schema.items, value[0], [...path, 0])]
  if (typeof value === "object" && value !== null) {
    return [
      ...here,
      ...Object.entries(value).flatMap(([key, inner]) => fieldsOf(doc, schema.properties?.[key], inner, [...path, key]))
    ]
  }
  return here
}

const requestOf = (
  endpoint: Endpoint,
  pathValues: Readonly<Record<string, string>>,
  query: ReadonlyArray<readonly [string, string]>,
  body: unknown,
  headers: Readonly<Record<string, string>>
): Request => {
  const path = endpoint.path.replace(/\{([^}]+)\}/g, (_, name: string) => pathValues[name] ?? "")
  const search = query.map(([name, value]) => `${encodeURIComponent(name)}=${value}`).join("&")
  return {
    method: endpoint.method,
    url: search === "" ? path : `${path}?${search}`,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  }
}

/** The baseline request of an endpoint (for checks that need a well-formed one) and every probe of it. */
export const probesOf = (doc: OpenApiDocument, endpoint: Endpoint, headers: Readonly<Record<string, string>>) => {
  const pathParams = endpoint.params.filter((p) => p.in === "path")
  const queryParams = endpoint.params.filter((p) => p.in === "query")
  // header parameters (Idempotency-Key) get a well-formed value; they are not probed
  const headerValues = Object.fromEntries(
    endpoint.params.filter((p) => p.in === "header").map((p) => [p.name, "hostile-probe-key"])
  )
  const allHeaders = { ...headerValues, ...headers }
  const pathBase = Object.fromEntries(pathParams.map((p) => [p.name, String(baselineValue(doc, p.name, p.schema))]))
  const queryBase = queryParams.filter((p) => p.required === true || p.name === "from" || p.name === "to")
    .map((p) => [p.name, encodeURIComponent(String(baselineValue(doc, p.name, p.schema)))] as const)
  const body = endpoint.body === undefined ? undefined : baselineValue(doc, "body", endpoint.body)
  const baseline = requestOf(
    endpoint,
    Object.fromEntries(Object.entries(pathBase).map(([k, v]) => [k, encodeURIComponent(v)])),
    queryBase,
    body,
    allHeaders
  )

  const probes: Array<Probe> = []
  const encodedPath = Object.fromEntries(Object.entries(pathBase).map(([k, v]) => [k, encodeURIComponent(v)]))
  for (const param of pathParams) {
    for (const [label, value] of pathProbes(pathBase[param.name] ?? "")) {
      probes.push({
        label: `path ${param.name}: ${label}`,
        request: requestOf(endpoint, { ...encodedPath, [param.name]: value }, queryBase, body, allHeaders)
      })
    }
  }
  for (const param of queryParams) {
    const base = String(baselineValue(doc, param.name, param.schema))
    for (const [label, value] of queryProbes(doc, param, base)) {
      const query = [...queryBase.filter(([name]) => name !== param.name), [param.name, value] as const]
      probes.push({
        label: `query ${param.name}: ${label}`,
        request: requestOf(endpoint, encodedPath, query, body, allHeaders)
      })
    }
  }
  if (body !== undefined) {
    probes.push(
      ...wrongTypes("object").map(([label, value]) => ({
        label: `body: ${label}`,
        request: requestOf(endpoint, encodedPath, queryBase, value, allHeaders)
      }))
    )
    for (const [path, name, schema, value] of fieldsOf(doc, endpoint.body, body)) {
      for (const [label, replacement] of bodyProbes(doc, name, schema, value)) {
        probes.push({
          label: `body ${path.join(".")}: ${label}`,
          request: requestOf(endpoint, encodedPath, queryBase, setAt(body, path, replacement), allHeaders)
        })
      }
    }
  }
  return { baseline, probes }
}
