import { CatalogApi } from "@kassa/domain/apis"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Products } from "./repo.ts"

export const ProductsHttpLive = HttpApiBuilder.group(CatalogApi, "products", (handlers) =>
  Effect.gen(function*() {
    const products = yield* Products
    return handlers
      .handle("list", ({ query }) =>
        resolvePageQuery(query).pipe(
          Effect.flatMap((page) => orUnavailable(products.list({ ...page, status: query.status })))
        ))
      .handle("create", ({ payload }) => orUnavailable(products.create(payload)))
      .handle("get", ({ params }) => orUnavailable(products.get(params.id)))
      .handle("update", ({ params, payload }) => orUnavailable(products.update(params.id, payload)))
      .handle("archive", ({ params }) => orUnavailable(products.archive(params.id)))
  }))
