import { BillingApi } from "@kassa/domain/apis"
import { resolvePageQuery } from "@kassa/domain/pagination"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { CatalogCopy } from "./repo.ts"

export const ProductsHttpLive = HttpApiBuilder.group(BillingApi, "products", (handlers) =>
  Effect.gen(function*() {
    const copy = yield* CatalogCopy
    return handlers
      .handle(
        "list",
        ({ query }) => resolvePageQuery(query).pipe(Effect.flatMap((page) => orUnavailable(copy.list(page))))
      )
      .handle("get", ({ params }) => orUnavailable(copy.get(params.id)))
  }))
