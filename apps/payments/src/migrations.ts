// Schema "payments", owned by this app alone. Append new migrations; never edit an applied one.
import { ddl, migrations } from "@kassa/platform/db"
import { idempotencyMigration } from "@kassa/platform/idempotency"
import { Effect } from "effect"
import { outboxLeaseMigration, outboxMigration, outboxPositionIndexMigration } from "@kassa/platform/outbox"

const paymentStatuses = "'pending', 'succeeded', 'failed', 'canceled', 'partially_refunded', 'refunded', 'unknown'"

export const PaymentsMigrations = migrations("payments", {
  "0001_outbox": outboxMigration("payments"),
  "0002_payments": ddl(
    `CREATE TABLE payments.customers (
      user_id text PRIMARY KEY,
      provider_customer_id text NOT NULL UNIQUE,
      default_payment_method text,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    // one row per attempt; `id` also makes the provider idempotency key `payment:<id>`
    `CREATE TABLE payments.payments (
      id text PRIMARY KEY,
      user_id text NOT NULL,
      invoice_id text NOT NULL,
      amount bigint NOT NULL CHECK (amount > 0),
      refunded_amount bigint NOT NULL DEFAULT 0 CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
      currency text NOT NULL,
      status text NOT NULL CHECK (status IN (${paymentStatuses})),
      provider_payment_id text UNIQUE,
      provider_customer_id text NOT NULL,
      payment_method text NOT NULL,
      off_session boolean NOT NULL,
      description text,
      failure_code text,
      failure_message text,
      reconcile_attempts integer NOT NULL DEFAULT 0,
      next_reconcile_at timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    // the rule "no new charge while one is pending or unknown", enforced by the database
    `CREATE UNIQUE INDEX payments_one_open_per_invoice ON payments.payments (invoice_id)
      WHERE status IN ('pending', 'unknown')`,
    `CREATE INDEX payments_by_invoice ON payments.payments (invoice_id)`,
    `CREATE INDEX payments_reconcile_due ON payments.payments (next_reconcile_at) WHERE status IN ('pending', 'unknown')`,
    `CREATE TABLE payments.refunds (
      id text PRIMARY KEY,
      payment_id text NOT NULL REFERENCES payments.payments (id),
      amount bigint NOT NULL CHECK (amount > 0),
      currency text NOT NULL,
      status text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
      reason text,
      provider_refund_id text UNIQUE,
      failure_code text,
      failure_message text,
      reconcile_attempts integer NOT NULL DEFAULT 0,
      next_reconcile_at timestamptz,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL
    )`,
    `CREATE INDEX refunds_by_payment ON payments.refunds (payment_id)`,
    `CREATE INDEX refunds_reconcile_due ON payments.refunds (next_reconcile_at) WHERE status = 'pending'`,
    `CREATE TABLE payments.webhook_events (
      id text PRIMARY KEY,
      type text NOT NULL,
      payload jsonb NOT NULL,
      received_at timestamptz NOT NULL,
      processed_at timestamptz,
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at timestamptz NOT NULL,
      last_error text
    )`,
    `CREATE INDEX webhook_events_unprocessed ON payments.webhook_events (next_attempt_at) WHERE processed_at IS NULL`,
    // the caller's idempotency keys, per operation; the hash tells a retry from a reuse with other parameters
    `CREATE TABLE payments.idempotency_keys (
      operation text NOT NULL,
      key text NOT NULL,
      request_hash text NOT NULL,
      payment_id text NOT NULL,
      refund_id text,
      created_at timestamptz NOT NULL,
      PRIMARY KEY (operation, key)
    )`,
    `CREATE TABLE payments.billing_callbacks (
      id uuid PRIMARY KEY,
      payment_id text NOT NULL,
      type text NOT NULL,
      payload jsonb NOT NULL,
      created_at timestamptz NOT NULL,
      next_attempt_at timestamptz NOT NULL,
      attempts integer NOT NULL DEFAULT 0,
      acknowledged_at timestamptz,
      last_error text
    )`,
    `CREATE INDEX billing_callbacks_due ON payments.billing_callbacks (next_attempt_at) WHERE acknowledged_at IS NULL`
  ),
  "0003_outbox_position": outboxPositionIndexMigration("payments"),
  "0004_outbox_lease": outboxLeaseMigration("payments"),
  // keys move to the table of the store billing uses too; payments and refunds made under a key get ids derived
  // from it. The old keys are dropped (no release has any to keep): a charge retried under one is still refused by
  // the invoice's one-open-or-paid rule.
  "0005_idempotency_store": Effect.andThen(
    ddl(`DROP TABLE payments.idempotency_keys`),
    idempotencyMigration("payments")
  )
})
