// The statement group of BillingApi: the viewer's own statement, as JSON or as a CSV attachment.
import { BillingApi } from "@kassa/domain/apis"
import { CurrentUser } from "@kassa/domain/auth"
import { orUnavailable } from "@kassa/platform/validation"
import { Effect } from "effect"
import { HttpApiBuilder, HttpApiSchema } from "effect/http-api"
import { noAccount } from "../auth/service.ts"
import { Statements, statementCsv } from "./statement.ts"

export const StatementHttpLive = HttpApiBuilder.group(BillingApi, "statement", (handlers) =>
  Effect.gen(function*() {
    const statements = yield* Statements
    return handlers.handle("get", ({ query }) =>
      Effect.gen(function*() {
        const user = yield* CurrentUser
        const statement = yield* statements.of(user.id, query.from, query.to).pipe(
          Effect.catchTag("NotFound", () => Effect.fail(noAccount()))
        )
        if (query.format !== "csv") return statement
        return HttpApiSchema.withHeaders({
          body: statementCsv(statement),
          headers: { "content-disposition": `attachment; filename="statement-${query.from}-${query.to}.csv"` }
        })
      }).pipe(orUnavailable))
  }))
