// One HttpApi per app. Later issues add their feature groups here; servers implement them and
// clients and tests derive from them.
import { HttpApi } from "effect/http-api"
import { AuthGroup, MeGroup } from "./auth.ts"
import { BillingPaymentsGroup, InvoicesGroup, PaymentMethodsGroup, SubscriptionsGroup } from "./billing.ts"
import { AdminBillingGroup } from "./billing-admin.ts"
import { FilmsGroup, ProductsAdminGroup } from "./catalog.ts"
import { apiAnnotations } from "./openapi.ts"
import { EntitlementsGroup } from "./entitlements.ts"
import { PaymentsGroup } from "./payments.ts"
import { ProductsGroup } from "./products.ts"
import { StatementGroup } from "./statement.ts"
import { StripeWebhooksGroup } from "./webhooks.ts"
import { SystemGroup } from "./system.ts"
import { TestClockGroup } from "./test-clock.ts"

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
  .add(TestClockGroup)
  .annotateMerge(apiAnnotations(
    "Kassa Billing API",
    "Accounts and tokens, products on sale, subscriptions, invoices, payments, statements and entitlements for " +
      "viewers; invoices, payments and refunds for admins. Log in with `POST /v1/auth/token` and send the access " +
      "token as `Authorization: Bearer <token>`."
  ))
{}

export class PaymentsApi extends HttpApi.make("payments")
  .add(SystemGroup)
  .add(PaymentsGroup)
  .add(StripeWebhooksGroup)
  .annotateMerge(apiAnnotations(
    "Kassa Payments API",
    "Payments through Stripe for billing and operators (bearer `SERVICE_TOKEN`), and the Stripe webhook endpoint."
  ))
{}

export class CatalogApi extends HttpApi.make("catalog")
  .add(SystemGroup)
  .add(FilmsGroup)
  .add(ProductsAdminGroup)
  .annotateMerge(apiAnnotations(
    "Kassa Catalog API",
    "Films and products with their plans (admin): what billing sells. Send an admin's access token from billing " +
      "as `Authorization: Bearer <token>`."
  ))
{}
