// Schema "catalog", owned by this app alone. Append new migrations; never edit an applied one.
import { migrations } from "@kassa/platform/db"
import { outboxMigration } from "@kassa/platform/outbox"

export const CatalogMigrations = migrations("catalog", {
  "0001_outbox": outboxMigration("catalog")
})
