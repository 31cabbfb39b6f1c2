import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"
import { renderEventsDoc } from "../scripts/gen-events-doc.ts"

describe("docs", () => {
  it("docs/events.md is what the event schemas generate (run `node scripts/gen-events-doc.ts`)", () => {
    expect(readFileSync(new URL("../docs/events.md", import.meta.url), "utf8")).toBe(renderEventsDoc())
  })
})
