// Vitest >= 4 no longer reads workspace files by itself: vitest.config.ts imports this list.
import type { TestProjectConfiguration } from "vitest/config"

const project = (name: string, root: string): TestProjectConfiguration => ({
  extends: true,
  test: { name, root, include: ["test/**/*.test.ts"], exclude: scale }
})

// The tests at scale (thousands of renewals across processes) measure the machine as much as the code: they run as a
// group of their own (`sequence.groupOrder`), never beside the other projects, so neither slows the other down.
const scale = ["test/renewal-replicas.test.ts"]

export default [
  project("domain", "packages/domain"),
  project("platform", "packages/platform"),
  project("billing", "apps/billing"),
  project("payments", "apps/payments"),
  project("stripe-sandbox", "apps/stripe-sandbox"),
  project("catalog", "apps/catalog"),
  project("console", "apps/console"),
  project("repo", "."),
  { extends: true, test: { name: "scale", root: ".", include: scale, sequence: { groupOrder: 1 } } }
] satisfies Array<TestProjectConfiguration>
