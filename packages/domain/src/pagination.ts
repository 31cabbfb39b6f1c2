// Keyset pagination: `?limit=` (1..100, default 20) and an opaque `?cursor=`;
// lists answer `{ items, nextCursor }`. Repositories fetch `limit + 1` rows ordered by
// `(key, id)`, resume after the decoded cursor, and build the answer with `toPage`.
import { Effect, Result, Schema, SchemaTransformation } from "effect"
import { BadRequest } from "./errors.ts"
import { isAnyId } from "./ids.ts"
import { isStorableText } from "./text.ts"
import { MAX_EPOCH_MILLIS } from "./time.ts"

export const DEFAULT_LIMIT = 20
export const MAX_LIMIT = 100
/** Above any cursor `toPage` hands out (names and titles are at most 300 characters). */
export const MAX_CURSOR_LENGTH = 4096

/** Page size as it travels in a query string: decimal digits decoding to an integer in 1..100. */
export const Limit = Schema.String.check(Schema.isPattern(/^\d{1,3}$/)).pipe(
  Schema.decodeTo(
    Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: MAX_LIMIT })),
    SchemaTransformation.numberFromString
  )
).annotate({ description: `page size, 1..${MAX_LIMIT} (default ${DEFAULT_LIMIT})` })

/** Position of the last row of a page: its sort key and its id (the tie-breaker). */
export interface Cursor {
  readonly key: string | number
  readonly id: string
}

const cursorJson = <K extends Schema.Top>(key: K) =>
  Schema.StringFromBase64Url.pipe(Schema.decodeTo(Schema.fromJsonString(Schema.Struct({ key, id: Schema.String }))))

const CursorJson = cursorJson(Schema.Union([Schema.String, Schema.Finite]))

const encodeCursor = Schema.encodeSync(CursorJson)
const decodeCursor = Schema.decodeEffect(CursorJson)

export const Cursor = {
  /** Opaque base64url token; a non-finite numeric key is a defect (throws). */
  encode: (cursor: Cursor): string => encodeCursor(cursor),
  decode: (token: string): Effect.Effect<Cursor, BadRequest> =>
    decodeCursor(token).pipe(
      Effect.mapError(() => new BadRequest({ message: "cursor is not a valid page cursor", field: "cursor" }))
    )
}

/**
 * What a list is ordered by, and so what its cursors hold: `createdAt` (newest first) keys are epoch milliseconds
 * in 1970..9999, `name` keys storable text of at most 1000 characters; ids are always ids. A cursor is checked
 * against its list's kind where it enters, so a tampered one is a 400 and never reaches a query.
 */
export type CursorKind = "createdAt" | "name"

const validCursor = {
  createdAt: Schema.decodeUnknownResult(
    cursorJson(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: MAX_EPOCH_MILLIS })))
  ),
  name: Schema.decodeUnknownResult(cursorJson(Schema.String.check(Schema.isMaxLength(1000))))
}

const isCursorOf = (kind: CursorKind) => (token: string): boolean => {
  const decoded: Result.Result<Cursor, unknown> = validCursor[kind](token)
  return Result.isSuccess(decoded) && isAnyId(decoded.success.id) &&
    (typeof decoded.success.key !== "string" || isStorableText(decoded.success.key))
}

/** Query fields of a list ordered by `kind`: `HttpApiEndpoint.get("list", "/", { query: pageQuery("name") })`. */
export const pageQuery = (kind: CursorKind) => ({
  limit: Schema.optionalKey(Limit),
  cursor: Schema.optionalKey(
    Schema.String.check(
      Schema.isMaxLength(MAX_CURSOR_LENGTH),
      Schema.makeFilter(isCursorOf(kind), { expected: "the nextCursor of the previous page" })
    ).annotate({ description: "nextCursor of the previous page" })
  )
})

/** Query fields of a list ordered by creation time, newest first. */
export const PageQuery = pageQuery("createdAt")
const PageQueryStruct = Schema.Struct(PageQuery)
export type PageQuery = typeof PageQueryStruct.Type

/** Query fields of a list ordered by name (or title). */
export const NamePageQuery = pageQuery("name")

/** A page request with the default applied and the cursor decoded. */
export interface PageRequest {
  readonly limit: number
  readonly cursor: Cursor | undefined
}

/** For handlers: the HttpApi has already decoded `query`; this applies the default and decodes the cursor. */
export const resolvePageQuery = (query: PageQuery): Effect.Effect<PageRequest, BadRequest> =>
  query.cursor === undefined
    ? Effect.succeed({ limit: query.limit ?? DEFAULT_LIMIT, cursor: undefined })
    : Effect.map(Cursor.decode(query.cursor), (cursor) => ({ limit: query.limit ?? DEFAULT_LIMIT, cursor }))

const decodeLimit = Schema.decodeEffect(Limit)

/** For routes outside HttpApi: raw query-string values to a page request. */
export const decodePageQuery = (
  params: { readonly limit?: string | undefined; readonly cursor?: string | undefined }
): Effect.Effect<PageRequest, BadRequest> =>
  Effect.gen(function*() {
    const limit = params.limit === undefined ? undefined : yield* decodeLimit(params.limit).pipe(
      Effect.mapError(() =>
        new BadRequest({ message: `limit must be an integer from 1 to ${MAX_LIMIT}`, field: "limit" })
      )
    )
    return yield* resolvePageQuery({
      ...(limit === undefined ? {} : { limit }),
      ...(params.cursor === undefined ? {} : { cursor: params.cursor })
    })
  })

export interface Page<A> {
  readonly items: ReadonlyArray<A>
  readonly nextCursor: string | null
}

/** Response schema of a list endpoint. */
export const Page = <S extends Schema.Top>(item: S) =>
  Schema.Struct({ items: Schema.Array(item), nextCursor: Schema.NullOr(Schema.String) })

/** `rows` is the result of fetching `limit + 1` rows: an extra row means there is a next page. */
export const toPage = <A>(rows: ReadonlyArray<A>, limit: number, cursorOf: (row: A) => Cursor): Page<A> => {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return { items, nextCursor: rows.length > limit && last !== undefined ? Cursor.encode(cursorOf(last)) : null }
}
