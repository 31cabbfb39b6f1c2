// Schema "catalog", owned by this app alone. Append new migrations; never edit an applied one.
import { ddl, migrations } from "@kassa/platform/db"
import { outboxLeaseMigration, outboxMigration, outboxPositionIndexMigration } from "@kassa/platform/outbox"

export const CatalogMigrations = migrations("catalog", {
  "0001_outbox": outboxMigration("catalog"),
  // `version` columns hold the value of the single-row change counter taken by the transaction that last
  // changed the row (see src/changes.ts); the catalog → billing ETL copies rows in that order
  "0002_catalog": ddl(
    `CREATE TABLE catalog.change_counter (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      version bigint NOT NULL
    )`,
    `INSERT INTO catalog.change_counter (id, version) VALUES (true, 0)`,
    `CREATE TABLE catalog.films (
      id text PRIMARY KEY,
      title text NOT NULL,
      description text NOT NULL,
      release_year integer NOT NULL,
      duration_minutes integer NOT NULL CHECK (duration_minutes > 0),
      age_rating text NOT NULL,
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      deleted_at timestamptz,
      version bigint NOT NULL
    )`,
    `CREATE INDEX films_by_title ON catalog.films (title, id) WHERE deleted_at IS NULL`,
    `CREATE INDEX films_by_version ON catalog.films (version)`,
    `CREATE TABLE catalog.products (
      id text PRIMARY KEY,
      name text NOT NULL,
      description text NOT NULL,
      status text NOT NULL CHECK (status IN ('active', 'archived')),
      created_at timestamptz NOT NULL,
      updated_at timestamptz NOT NULL,
      archived_at timestamptz,
      version bigint NOT NULL
    )`,
    `CREATE INDEX products_by_name ON catalog.products (name, id)`,
    `CREATE INDEX products_by_version ON catalog.products (version)`,
    `CREATE TABLE catalog.plans (
      id text PRIMARY KEY,
      product_id text NOT NULL REFERENCES catalog.products (id),
      interval text NOT NULL CHECK (interval IN ('month', 'year')),
      amount integer NOT NULL CHECK (amount > 0),
      currency text NOT NULL,
      trial_days integer NOT NULL CHECK (trial_days >= 0),
      status text NOT NULL CHECK (status IN ('active', 'retired')),
      created_at timestamptz NOT NULL,
      retired_at timestamptz
    )`,
    `CREATE INDEX plans_by_product ON catalog.plans (product_id)`,
    // one plan on offer per product, interval and currency; retired versions are kept
    `CREATE UNIQUE INDEX plans_one_active ON catalog.plans (product_id, interval, currency) WHERE status = 'active'`,
    `CREATE TABLE catalog.product_films (
      product_id text NOT NULL REFERENCES catalog.products (id),
      film_id text NOT NULL REFERENCES catalog.films (id),
      PRIMARY KEY (product_id, film_id)
    )`,
    `CREATE INDEX product_films_by_film ON catalog.product_films (film_id)`
  ),
  "0003_outbox_position": outboxPositionIndexMigration("catalog"),
  "0004_outbox_lease": outboxLeaseMigration("catalog")
})
