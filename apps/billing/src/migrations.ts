// Schema "billing", owned by this app alone. Append new migrations; never edit an applied one.
import { ddl, migrations } from "@kassa/platform/db"
import { outboxLeaseMigration, outboxMigration, outboxPositionIndexMigration } from "@kassa/platform/outbox"

export const BillingMigrations = migrations("billing", {
  "0001_outbox": outboxMigration("billing"),
  // accounts and refresh tokens (digests only); a family is one login and all its rotations
  "0002_accounts": ddl(
    `CREATE TABLE billing.users (
      id text PRIMARY KEY,
      email text NOT NULL UNIQUE,
      password_hash text NOT NULL,
      role text NOT NULL CHECK (role IN ('user', 'admin')),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    `CREATE TABLE billing.refresh_tokens (
      id text PRIMARY KEY,
      token_hash text NOT NULL UNIQUE,
      family_id text NOT NULL,
      parent_id text REFERENCES billing.refresh_tokens (id),
      user_id text NOT NULL REFERENCES billing.users (id),
      issued_at timestamptz NOT NULL,
      expires_at timestamptz NOT NULL,
      rotated_at timestamptz,
      revoked_at timestamptz
    )`,
    `CREATE INDEX refresh_tokens_family ON billing.refresh_tokens (family_id)`,
    `CREATE INDEX refresh_tokens_user ON billing.refresh_tokens (user_id) WHERE revoked_at IS NULL`
  ),
  // billing's copy of the catalog under the catalog's ids, written only by the catalog ETL (src/etl);
  // catalog_version is the catalog change that last wrote the row, etl_state.watermark how far the copy is complete
  "0003_catalog_copy": ddl(
    `CREATE TABLE billing.products (
      id text PRIMARY KEY,
      name text NOT NULL,
      description text NOT NULL,
      status text NOT NULL CHECK (status IN ('active', 'archived')),
      catalog_version bigint NOT NULL
    )`,
    `CREATE INDEX products_on_sale ON billing.products (name, id) WHERE status = 'active'`,
    `CREATE TABLE billing.plans (
      id text PRIMARY KEY,
      product_id text NOT NULL REFERENCES billing.products (id),
      interval text NOT NULL CHECK (interval IN ('month', 'year')),
      amount integer NOT NULL CHECK (amount > 0),
      currency text NOT NULL,
      trial_days integer NOT NULL CHECK (trial_days >= 0),
      status text NOT NULL CHECK (status IN ('active', 'retired'))
    )`,
    `CREATE INDEX plans_by_product ON billing.plans (product_id)`,
    `CREATE TABLE billing.films (
      id text PRIMARY KEY,
      title text NOT NULL,
      catalog_version bigint NOT NULL
    )`,
    `CREATE TABLE billing.product_films (
      product_id text NOT NULL REFERENCES billing.products (id),
      film_id text NOT NULL REFERENCES billing.films (id),
      PRIMARY KEY (product_id, film_id)
    )`,
    `CREATE INDEX product_films_by_film ON billing.product_films (film_id)`,
    `CREATE TABLE billing.etl_state (
      source text PRIMARY KEY,
      watermark bigint NOT NULL,
      updated_at timestamptz
    )`,
    `INSERT INTO billing.etl_state (source, watermark) VALUES ('catalog', 0)`
  ),
  // subscriptions (one live per user and product), append-only invoices and their lines (one invoice per
  // subscription and period start), billing's mirror of payment outcomes (deduplicated by outcome id),
  // Idempotency-Key records per user, and the audit of admin writes; time_zone is the account's, for periods
  "0004_subscriptions": ddl(
    `ALTER TABLE billing.users ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'`,
    `CREATE TABLE billing.subscriptions (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES billing.users (id),
      product_id text NOT NULL REFERENCES billing.products (id),
      plan_id text NOT NULL REFERENCES billing.plans (id),
      status text NOT NULL CHECK (status IN
        ('incomplete', 'incomplete_expired', 'trialing', 'active', 'past_due', 'canceled', 'expired')),
      current_period_start timestamptz,
      current_period_end timestamptz,
      cancel_at_period_end boolean NOT NULL DEFAULT false,
      failure_code text,
      default_payment_method text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    `CREATE UNIQUE INDEX subscriptions_one_live ON billing.subscriptions (user_id, product_id)
      WHERE status IN ('incomplete', 'trialing', 'active', 'past_due')`,
    `CREATE INDEX subscriptions_by_user ON billing.subscriptions (user_id, created_at DESC, id DESC)`,
    `CREATE INDEX subscriptions_incomplete ON billing.subscriptions (created_at) WHERE status = 'incomplete'`,
    `CREATE TABLE billing.invoices (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES billing.users (id),
      subscription_id text NOT NULL REFERENCES billing.subscriptions (id),
      status text NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
      amount integer NOT NULL CHECK (amount >= 0),
      currency text NOT NULL,
      period_start timestamptz NOT NULL,
      period_end timestamptz NOT NULL,
      paid_payment_id text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      UNIQUE (subscription_id, period_start)
    )`,
    `CREATE INDEX invoices_by_user ON billing.invoices (user_id, created_at DESC, id DESC)`,
    `CREATE TABLE billing.invoice_lines (
      invoice_id text NOT NULL REFERENCES billing.invoices (id),
      position integer NOT NULL,
      kind text NOT NULL CHECK (kind IN ('plan', 'credit')),
      description text NOT NULL,
      plan_id text,
      period_start timestamptz,
      period_end timestamptz,
      amount integer NOT NULL,
      currency text NOT NULL,
      source_id text UNIQUE,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (invoice_id, position)
    )`,
    `CREATE TABLE billing.payments (
      id text PRIMARY KEY,
      user_id text NOT NULL REFERENCES billing.users (id),
      invoice_id text NOT NULL REFERENCES billing.invoices (id),
      status text NOT NULL,
      amount integer NOT NULL CHECK (amount > 0),
      refunded_amount integer NOT NULL CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
      currency text NOT NULL,
      failure_code text,
      failure_message text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    `CREATE INDEX payments_by_user ON billing.payments (user_id, created_at DESC, id DESC)`,
    `CREATE INDEX payments_by_invoice ON billing.payments (invoice_id)`,
    `CREATE UNIQUE INDEX payments_one_success_per_invoice ON billing.payments (invoice_id)
      WHERE status IN ('succeeded', 'partially_refunded', 'refunded')`,
    `CREATE TABLE billing.payment_outcomes (
      id text PRIMARY KEY,
      payment_id text NOT NULL,
      type text NOT NULL,
      applied_at timestamptz NOT NULL
    )`,
    `CREATE TABLE billing.idempotency_keys (
      user_id text NOT NULL,
      key text NOT NULL,
      operation text NOT NULL,
      request_hash text NOT NULL,
      response text,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (user_id, key)
    )`,
    `CREATE TABLE billing.audit_log (
      id text PRIMARY KEY,
      actor_id text NOT NULL,
      action text NOT NULL,
      object_type text NOT NULL,
      object_id text NOT NULL,
      reason text NOT NULL,
      details jsonb NOT NULL,
      created_at timestamptz NOT NULL
    )`,
    `CREATE INDEX audit_by_object ON billing.audit_log (object_type, object_id, created_at)`
  ),
  // the entitlement read model: per user and product, access until `until`; rewritten from the user's
  // subscriptions in the transaction of every subscription change (src/entitlements/service.ts)
  "0005_entitlements": ddl(
    `CREATE TABLE billing.entitlements (
      user_id text NOT NULL REFERENCES billing.users (id),
      product_id text NOT NULL REFERENCES billing.products (id),
      until timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      PRIMARY KEY (user_id, product_id)
    )`
  ),
  "0006_outbox_position": outboxPositionIndexMigration("billing"),
  // money outcomes: an Idempotency-Key's owner and lease (a key whose owner died is taken over once the lease runs
  // out); payments that succeeded on an invoice closed meanwhile, to be refunded; scheduler cycles started by hand
  "0007_money_outcomes": ddl(
    `ALTER TABLE billing.idempotency_keys ADD COLUMN owner text, ADD COLUMN lease_until timestamptz`,
    `ALTER TABLE billing.payments ADD COLUMN stray_since timestamptz`,
    `CREATE INDEX payments_stray ON billing.payments (stray_since) WHERE stray_since IS NOT NULL AND status = 'succeeded'`,
    `CREATE TABLE billing.scheduler_runs (
      id text PRIMARY KEY,
      status text NOT NULL CHECK (status IN ('running', 'succeeded', 'failed')),
      started_at timestamptz NOT NULL,
      finished_at timestamptz,
      result jsonb,
      error text
    )`
  ),
  "0008_outbox_lease": outboxLeaseMigration("billing"),
  // the renewal engine: a subscription's billing anchor (periods are counted from it) and its parking by a safety
  // bound; an invoice's automatic charging (attempts so far, when the next is due, the lease of the charger on it)
  "0009_renewal_engine": ddl(
    `ALTER TABLE billing.subscriptions ADD COLUMN billing_anchor timestamptz, ADD COLUMN parked_at timestamptz,
      ADD COLUMN parked_reason text`,
    `UPDATE billing.subscriptions SET billing_anchor = current_period_start
      WHERE status IN ('active', 'past_due', 'canceled', 'expired') AND current_period_start IS NOT NULL`,
    `CREATE INDEX subscriptions_period_due ON billing.subscriptions (current_period_end)
      WHERE status IN ('trialing', 'active') AND parked_at IS NULL`,
    `ALTER TABLE billing.invoices ADD COLUMN charge_attempts integer NOT NULL DEFAULT 0,
      ADD COLUMN next_charge_at timestamptz, ADD COLUMN charge_lease_until timestamptz`,
    // open renewal invoices of the old scheduler are charged by the new one, their charges so far counted
    `UPDATE billing.invoices i SET next_charge_at = i.period_start,
        charge_attempts = (SELECT count(*) FROM billing.payments p WHERE p.invoice_id = i.id)
      FROM billing.subscriptions s
      WHERE s.id = i.subscription_id AND i.status = 'open' AND s.status IN ('trialing', 'active', 'past_due')
        AND i.period_start >= s.current_period_end`,
    `CREATE INDEX invoices_charge_due ON billing.invoices (next_charge_at) WHERE status = 'open' AND next_charge_at IS NOT NULL`
  ),
  // when a subscription ended (canceled or expired), for churn; rows that ended before it count from their last change
  "0010_subscription_ended_at": ddl(
    `ALTER TABLE billing.subscriptions ADD COLUMN ended_at timestamptz`,
    `UPDATE billing.subscriptions SET ended_at = updated_at WHERE status IN ('canceled', 'expired', 'incomplete_expired')`
  ),
  // the idempotency store is shared with payments, where a key's scope is not a user: one column name for both
  "0011_idempotency_scope": ddl(`ALTER TABLE billing.idempotency_keys RENAME COLUMN user_id TO scope`)
})
