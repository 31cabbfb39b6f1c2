// Schema "billing", owned by this app alone. Append new migrations; never edit an applied one.
import { migrations } from "@kassa/platform/db"
import { outboxMigration } from "@kassa/platform/outbox"

export const BillingMigrations = migrations("billing", {
  "0001_outbox": outboxMigration("billing")
})
