// Vitest >= 4 no longer reads workspace files by itself: vitest.config.ts imports this list.
import type { TestProjectConfiguration } from "vitest/config"

const project = (name: string, root: string): TestProjectConfiguration => ({
  extends: true,
  test: { name, root, include: ["test/**/*.test.ts"] }
})

export default [
  project("domain", "packages/domain"),
  project("platform", "packages/platform"),
  project("billing", "apps/billing"),
  project("payments", "apps/payments"),
  project("stripe-sandbox", "apps/stripe-sandbox"),
  project("catalog", "apps/catalog"),
  project("repo", ".")
] satisfies Array<TestProjectConfiguration>
