// Schema "billing", owned by this app alone. Append new migrations; never edit an applied one.
import { ddl, migrations } from "@kassa/platform/db"
import { outboxMigration } from "@kassa/platform/outbox"

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
  )
})
