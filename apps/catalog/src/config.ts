// The catalog's own settings: only its port; everything else it reads is shared (packages/platform/src/config.ts).
import { HttpConfig } from "@kassa/platform/config"

export const CatalogHttpConfig = HttpConfig("CATALOG_PORT", 3002)
