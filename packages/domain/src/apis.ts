// One HttpApi per app. Later issues add their feature groups here; servers implement them and
// clients and tests derive from them.
import { HttpApi, OpenApi } from "effect/http-api"
import { AuthGroup, MeGroup } from "./auth.ts"
import {
  AdminBillingGroup,
  BillingPaymentsGroup,
  InvoicesGroup,
  PaymentMethodsGroup,
  StatementGroup,
  SubscriptionsGroup
} from "./billing.ts"
import { FilmsGroup, ProductsAdminGroup } from "./catalog.ts"
import { EntitlementsGroup } from "./entitlements.ts"
import { PaymentsGroup, StripeWebhooksGroup } from "./payments.ts"
import { ProductsGroup } from "./products.ts"
import { SystemGroup } from "./system.ts"

export class BillingApi extends HttpApi.make("billing")
  .add(SystemGroup)
  .add(AuthGroup)
  .add(MeGroup)
  .add(ProductsGroup)
  .add(PaymentMethodsGroup)
  .add(SubscriptionsGroup)
  .add(InvoicesGroup)
  .add(BillingPaymentsGroup)
  .add(StatementGroup)
  .add(EntitlementsGroup)
  .add(AdminBillingGroup)
  .annotateMerge(OpenApi.annotations({ title: "Kassa Billing API", version: "1.0.0" }))
{}

export class PaymentsApi extends HttpApi.make("payments")
  .add(SystemGroup)
  .add(PaymentsGroup)
  .add(StripeWebhooksGroup)
  .annotateMerge(OpenApi.annotations({ title: "Kassa Payments API", version: "1.0.0" }))
{}

export class CatalogApi extends HttpApi.make("catalog")
  .add(SystemGroup)
  .add(FilmsGroup)
  .add(ProductsAdminGroup)
  .annotateMerge(OpenApi.annotations({ title: "Kassa Catalog API", version: "1.0.0" }))
{}
