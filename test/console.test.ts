// The web console in a real browser (Debian's chromium driven by playwright-core), against the system as `npm start`
// runs it: an admin builds a product, a viewer buys it, watches, downloads a statement and cancels the payment, the
// admin finds the invoice, refunds and audit trail. Every page is screenshotted at 1280 and 390 px into
// test-output/console/, checked with axe (no serious or critical violation), and any browser console error fails.
import { mkdirSync, readFileSync } from "node:fs"
import { randomUUID } from "node:crypto"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { freePort, repoRoot, spawnApp, waitHealthy } from "./processes.ts"

const chromiumPath = "/usr/bin/chromium"
const shots = join(repoRoot, "test-output", "console")
const axeSource = readFileSync(join(repoRoot, "node_modules", "axe-core", "axe.min.js"), "utf8")
const widths = [1280, 390] as const

/** The page's globals these checks use, typed just enough: this file is type-checked without the DOM's types. */
interface InPage {
  readonly document: {
    querySelectorAll(selector: string): { readonly length: number }
    readonly documentElement: { readonly scrollWidth: number; readonly clientWidth: number }
  }
  readonly sessionStorage: { getItem(key: string): string | null }
  readonly axe: {
    run(context: unknown, options: object): Promise<{
      violations: Array<{ id: string; impact: string | null; nodes: Array<{ target: unknown }> }>
    }>
  }
}

interface Checked {
  readonly page: Page
  readonly errors: Array<string>
  /** token renewals the page made (POST /v1/auth/refresh) */
  readonly refreshes: () => number
}

const open = async (browser: Browser): Promise<Checked & { context: BrowserContext }> => {
  const context = await browser.newContext({
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    timezoneId: "Europe/Berlin"
  })
  const page = await context.newPage()
  const errors: Array<string> = []
  let refreshes = 0
  page.on("request", (request) => {
    if (request.method() === "POST" && new URL(request.url()).pathname === "/v1/auth/refresh") refreshes++
  })
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(`console: ${message.text()}`)
  })
  page.on("pageerror", (error) => errors.push(`page: ${error.message}`))
  page.setDefaultTimeout(15_000)
  return { context, page, errors, refreshes: () => refreshes }
}

/** Waits for the page's heading and for nothing to be loading any more. */
const settled = async (page: Page, heading: string | RegExp) => {
  await page.getByRole("heading", { level: 1, name: heading }).waitFor()
  await page.waitForFunction(() => (globalThis as unknown as InPage).document.querySelectorAll(".loading").length === 0)
}

const audit = async (page: Page, name: string) => {
  if (!(await page.evaluate(() => "axe" in globalThis))) await page.evaluate(axeSource)
  const violations = await page.evaluate(async () => {
    const { axe, document } = globalThis as unknown as InPage
    const result = await axe.run(document, { resultTypes: ["violations"] })
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      targets: v.nodes.slice(0, 3).map((n) => JSON.stringify(n.target))
    }))
  })
  const serious = violations.filter((v) => v.impact === "serious" || v.impact === "critical")
  assert.deepStrictEqual(serious, [], `${name}: accessibility violations`)
}

/** Screenshots of the page as it stands at both widths, and the accessibility check at each. */
const capture = async (page: Page, name: string) => {
  for (const width of widths) {
    await page.setViewportSize({ width, height: 900 })
    await page.waitForTimeout(150)
    await audit(page, `${name} at ${width}px`)
    const overflow = await page.evaluate(() => {
      const { documentElement } = (globalThis as unknown as InPage).document
      return documentElement.scrollWidth - documentElement.clientWidth
    })
    assert.isAtMost(overflow, 1, `${name} at ${width}px scrolls sideways`)
    await page.screenshot({ path: join(shots, `${name}-${width}.png`), fullPage: true })
  }
  await page.setViewportSize({ width: 1280, height: 900 })
}

const visit = async (page: Page, base: string, route: string, heading: string | RegExp, name: string) => {
  await page.goto(`${base}/#${route}`)
  await settled(page, heading)
  await capture(page, name)
}

const signIn = async (page: Page, base: string, email: string, password: string) => {
  await page.goto(`${base}/#/signin`)
  await page.getByLabel("Email").fill(email)
  await page.getByLabel("Password").fill(password)
  await page.getByRole("button", { name: "Sign in" }).click()
  await page.getByRole("button", { name: "Sign out" }).waitFor()
}

const journey = async (base: string, admin: { email: string; password: string }) => {
  mkdirSync(shots, { recursive: true })
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    args: ["--headless", "--no-sandbox", "--disable-background-networking"]
  })
  try {
    const a = await open(browser)
    const v = await open(browser)
    const suffix = randomUUID().slice(0, 8)
    const filmTitle = `Console Film ${suffix}`
    const productName = `Console Bundle ${suffix}`

    // ---- the admin builds a product ---------------------------------------------------------------------
    await visit(a.page, base, "/signin", "Sign in", "signin")
    await signIn(a.page, base, admin.email, admin.password)
    await visit(a.page, base, "/admin", "Dashboard", "admin-dashboard")
    await a.page.getByText("Active subscriptions").waitFor()
    const failedRate = () => a.page.locator(".tiles div", { hasText: "Failed-payment rate" }).locator("dd").innerText()
    const failedBefore = await failedRate()

    await visit(a.page, base, "/admin/films", "Films", "admin-films")
    await a.page.getByRole("button", { name: "New film" }).click()
    const filmForm = a.page.getByRole("form", { name: "New film" })
    await filmForm.getByLabel("Title").fill(filmTitle)
    // a value the contract refuses is refused in the form, with the contract's message
    await filmForm.getByLabel("Release year").fill("1800")
    await filmForm.getByLabel("Duration (minutes)").fill("95")
    await filmForm.getByRole("button", { name: "Add film" }).click()
    const refusal = await filmForm.getByRole("alert").innerText()
    assert.match(refusal, /1888/)
    assert.notMatch(refusal, /\bat .*\.(ts|js)/, "no stack")
    await filmForm.getByLabel("Release year").fill("1927")
    await filmForm.getByLabel("Duration (minutes)").fill("95")
    await capture(a.page, "admin-film-form")
    await filmForm.getByRole("button", { name: "Add film" }).click()
    await a.page.getByText(`Saved “${filmTitle}”.`).waitFor()
    await a.page.getByLabel("Search titles").fill(suffix)
    await a.page.getByRole("button", { name: "Search" }).click()
    await a.page.getByRole("cell", { name: filmTitle, exact: true }).waitFor()

    assert.strictEqual(await a.page.title(), "Films · Kassa")
    await visit(a.page, base, "/admin/products", "Products", "admin-products")
    await visit(a.page, base, "/admin/products/new", "New product", "admin-product-new")
    await a.page.getByLabel("Name").fill(productName)
    await a.page.getByLabel("Find films").fill(suffix)
    await a.page.getByLabel(new RegExp(filmTitle)).check()
    await a.page.getByLabel("Price").fill("9.90")
    await a.page.getByText("existing subscribers keep the price they subscribed at").waitFor()
    await a.page.getByRole("button", { name: "Create product" }).click()
    await a.page.getByText(`Saved “${productName}”.`).waitFor()
    const productId = /products\/(prod_[A-Za-z0-9_-]+)/.exec(a.page.url())?.[1]
    assert.isDefined(productId, a.page.url())
    await settled(a.page, productName)
    assert.strictEqual(await a.page.title(), `${productName} · Kassa`)
    await capture(a.page, "admin-product-edit")

    // ---- a viewer signs up and finds it on sale ---------------------------------------------------------
    await visit(v.page, base, "/signup", "Sign up", "signup")
    const viewer = { email: `viewer-${suffix}@example.com`, password: "viewer password 1" }
    await v.page.getByLabel("Email").fill(viewer.email)
    await v.page.getByLabel("Password").fill(viewer.password)
    await v.page.getByRole("button", { name: "Create account" }).click()
    await v.page.getByRole("button", { name: "Sign out" }).waitFor()
    // the catalog reaches billing's storefront through its events: a moment after the admin saved it
    const offer = v.page.getByRole("article").filter({ hasText: productName })
    await v.page.goto(`${base}/#/`)
    for (let i = 0; i < 40; i++) {
      await settled(v.page, "Products on sale")
      if (await offer.isVisible()) break
      await v.page.waitForTimeout(500)
      await v.page.reload()
    }
    await offer.waitFor()
    await capture(v.page, "shop")

    // a declining card: the decline is shown and the invoice stays open
    await offer.getByRole("button", { name: /Subscribe to/ }).click()
    await offer.getByLabel("Card (test payment method)").selectOption("pm_card_chargeDeclined")
    await offer.getByRole("button", { name: "Pay and subscribe" }).click()
    await offer.getByRole("alert").filter({ hasText: "Payment declined" }).waitFor()
    await capture(v.page, "shop-declined")

    // paid with a good card from the invoices page
    await visit(v.page, base, "/billing", "Invoices & payments", "billing-open-invoice")
    await v.page.getByRole("button", { name: /^Pay / }).click()
    await v.page.getByRole("cell", { name: "paid", exact: true }).waitFor()
    await visit(v.page, base, "/subscriptions", "Your subscriptions", "subscriptions")
    await v.page.getByRole("cell", { name: productName, exact: true }).waitFor()
    await v.page.getByRole("button", { name: "Cancel at period end" }).click()
    await v.page.getByText("ends at period end").waitFor()
    await v.page.getByRole("button", { name: "Resume" }).click()
    await v.page.getByRole("button", { name: "Cancel at period end" }).waitFor()
    await visit(v.page, base, "/watch", "My films", "watch")
    await v.page.getByText(filmTitle).waitFor()

    // a reload keeps the session: the refresh token (sessionStorage) is traded for a new pair, and rotated
    const refreshToken = () =>
      v.page.evaluate(() => (globalThis as unknown as InPage).sessionStorage.getItem("kassa.console.refreshToken"))
    const before = await refreshToken()
    await v.page.reload()
    await settled(v.page, "My films")
    await v.page.getByText(filmTitle).waitFor()
    const after = await refreshToken()
    assert.isString(after)
    assert.notStrictEqual(after, before, "the refresh token rotates")

    // the statement in the viewer's zone, and its CSV
    await visit(v.page, base, "/statement", "Statement", "statement")
    await v.page.getByRole("button", { name: "Use Europe/Berlin (this device's zone)" }).click()
    await v.page.getByText("Days are counted in your account's time zone, Europe/Berlin.").waitFor()
    await settled(v.page, "Statement")
    await v.page.getByRole("cell", { name: "Payment", exact: true }).first().waitFor()
    const [download] = await Promise.all([
      v.page.waitForEvent("download"),
      v.page.getByRole("button", { name: "Download CSV" }).click()
    ])
    assert.match(download.suggestedFilename(), /^statement-.*\.csv$/)
    const csv = readFileSync(await download.path(), "utf8")
    assert.match(csv, /invoice/)
    assert.match(csv, /payment/)

    // ---- the admin finds the invoice and refunds part of it ---------------------------------------------
    await a.page.goto(`${base}/#/admin/invoices`)
    await settled(a.page, "Invoices")
    await a.page.getByLabel("Product id").fill(productId!)
    await a.page.getByLabel("Status").selectOption("paid")
    await a.page.getByRole("button", { name: "Apply filters" }).click()
    await a.page.waitForFunction(() =>
      (globalThis as unknown as InPage).document.querySelectorAll("tbody tr").length === 1
    )
    await capture(a.page, "admin-invoices")
    await a.page.locator("tbody tr a[href^='#/admin/invoices/']").click()
    await settled(a.page, /^Invoice/)
    await a.page.getByLabel("Refund amount (EUR)").fill("1.00")
    await a.page.getByLabel("Reason").fill("goodwill for a late start")
    await a.page.getByRole("button", { name: "Review refund" }).click()
    await a.page.getByRole("group", { name: "Confirm the refund" }).waitFor()
    await capture(a.page, "admin-refund-confirm")
    await a.page.getByRole("button", { name: "Confirm refund" }).click()
    await a.page.getByRole("cell", { name: "goodwill for a late start", exact: true }).waitFor()
    await a.page.getByRole("cell", { name: "partially refunded", exact: true }).waitFor()
    await capture(a.page, "admin-invoice")
    const userId = await a.page.locator("dd a[href^='#/admin/subscribers/']").innerText()
    const invoicePage = a.page.url()

    // a new price is a new plan version; the subscriber keeps the one they bought
    await a.page.goto(`${base}/#/admin/products/${productId}`)
    await settled(a.page, productName)
    await a.page.getByLabel("Price").fill("12.90")
    await a.page.getByRole("button", { name: "Save product" }).click()
    await a.page.getByRole("cell", { name: "retired", exact: true }).waitFor()
    await a.page.getByRole("cell", { name: /12[.,]90/ }).first().waitFor()

    // ---- the viewer cancels the payment and loses access ------------------------------------------------
    await visit(v.page, base, "/billing", "Invoices & payments", "billing")
    await v.page.getByRole("button", { name: "Cancel payment" }).click()
    await v.page.getByRole("button", { name: "Yes, cancel the payment" }).click()
    await v.page.getByRole("cell", { name: "refunded", exact: true }).waitFor()
    await capture(v.page, "billing-canceled")
    await visit(v.page, base, "/watch", "My films", "watch-none")
    await v.page.getByText("You may not watch any film right now").waitFor()

    // ---- the admin sees it all --------------------------------------------------------------------------
    await a.page.goto(invoicePage)
    await settled(a.page, /^Invoice/)
    await a.page.getByRole("cell", { name: "refunded", exact: true }).waitFor()
    await a.page.getByRole("cell", { name: "payment.refund", exact: true }).waitFor()
    await visit(a.page, base, `/admin/payments?user=${userId}`, "Payments", "admin-payments")
    await a.page.getByRole("cell", { name: "refunded", exact: true }).waitFor()
    await visit(a.page, base, `/admin/subscribers/${userId}`, "Subscriber", "admin-subscriber")
    await a.page.getByText(productName).first().waitFor()
    await visit(a.page, base, "/admin", "Dashboard", "admin-dashboard-after")
    // the declined card is on the dashboard now: one failed charge among the day's attempts
    const failedAfter = await failedRate()
    assert.notStrictEqual(failedAfter, failedBefore, "the failed-payment rate moved")
    assert.match(failedAfter, /\(1 of \d+\)/)

    // ---- a viewer is refused the admin pages --------------------------------------------------------------
    await visit(v.page, base, "/admin/invoices", "Admins only", "viewer-refused")
    await v.page.getByText("This page is for admin accounts").waitFor()

    // the admin's session outlives several 12-second access tokens: however fast the journey went, wait for a
    // second renewal (the console renews ahead of expiry), then a page still loads with the renewed token
    for (let i = 0; i < 60 && a.refreshes() < 2; i++) await a.page.waitForTimeout(500)
    await a.page.goto(`${base}/#/admin/films`)
    await settled(a.page, "Films")

    // sign out ends the session: the admin pages ask to sign in again
    await a.page.getByRole("button", { name: "Sign out" }).click()
    await a.page.getByRole("banner").getByRole("link", { name: "Sign up" }).waitFor()
    await a.page.goto(`${base}/#/admin/films`)
    await a.page.getByText("Sign in with an admin account").waitFor()

    assert.deepStrictEqual([...a.errors, ...v.errors], [], "browser console errors")
    // ... without a single 401 (no console errors above)
    assert.isAtLeast(a.refreshes(), 2, "the admin's tokens were renewed")
  } finally {
    await browser.close()
  }
}

describe("web console", () => {
  it.live(
    "an admin builds a product, a viewer buys, watches, cancels; every page is accessible at both widths",
    () =>
      Effect.gen(function*() {
        const ports = {
          billing: yield* freePort,
          payments: yield* freePort,
          catalog: yield* freePort,
          console: yield* freePort
        }
        const admin = { email: "console-admin@example.com", password: "console test admin password" }
        const app = yield* spawnApp("npm start", "scripts/start.ts", {
          PGLITE_DATA_DIR: "memory",
          BILLING_PORT: String(ports.billing),
          PAYMENTS_PORT: String(ports.payments),
          CATALOG_PORT: String(ports.catalog),
          CONSOLE_PORT: String(ports.console),
          STRIPE_SANDBOX_PORT: String(yield* freePort),
          ADMIN_EMAIL: admin.email,
          ADMIN_PASSWORD: admin.password,
          // short-lived access tokens: the journey outlives several, so the console must renew (and rotate the
          // refresh token) on its own; a call that met an expired token would log a 401 and fail the test
          ACCESS_TOKEN_TTL: "12 seconds",
          LOG_LEVEL: "Warn"
        })
        const base = `http://127.0.0.1:${ports.console}`
        // the console is served once it is built, after the apps are up
        yield* waitHealthy(app, `${base}/`, 120)
        yield* Effect.promise(() => journey(base, admin))
      }),
    240_000
  )
})
