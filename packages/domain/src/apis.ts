// One HttpApi per app. Later issues add their feature groups here; servers implement them and
// clients and tests derive from them.
import { HttpApi, OpenApi } from "effect/http-api"
import { SystemGroup } from "./system.ts"

export class BillingApi extends HttpApi.make("billing")
  .add(SystemGroup)
  .annotateMerge(OpenApi.annotations({ title: "Kassa Billing API", version: "1.0.0" }))
{}

export class PaymentsApi extends HttpApi.make("payments")
  .add(SystemGroup)
  .annotateMerge(OpenApi.annotations({ title: "Kassa Payments API", version: "1.0.0" }))
{}

export class CatalogApi extends HttpApi.make("catalog")
  .add(SystemGroup)
  .annotateMerge(OpenApi.annotations({ title: "Kassa Catalog API", version: "1.0.0" }))
{}
