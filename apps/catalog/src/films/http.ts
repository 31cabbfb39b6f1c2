import { CatalogApi } from "@kassa/domain/apis"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Films } from "./repo.ts"

export const FilmsHttpLive = HttpApiBuilder.group(CatalogApi, "films", (handlers) =>
  Effect.gen(function*() {
    const films = yield* Films
    return handlers
      .handle("list", ({ query }) =>
        resolvePageQuery(query).pipe(
          Effect.flatMap((page) => orUnavailable(films.list({ ...page, search: query.search })))
        ))
      .handle("create", ({ payload }) => orUnavailable(films.create(payload)))
      .handle("get", ({ params }) => orUnavailable(films.get(params.id)))
      .handle("update", ({ params, payload }) => orUnavailable(films.update(params.id, payload)))
      .handle("delete", ({ params }) => orUnavailable(films.delete(params.id)))
  }))
