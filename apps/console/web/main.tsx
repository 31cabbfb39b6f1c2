// The console: one page app for viewers (the portal) and admins (the console), routed on the URL's hash.
import { type ReactNode, StrictMode, useEffect, useRef } from "react"
import { createRoot } from "react-dom/client"
import "./styles.css"
import { restore, signOut, useSession } from "./session.ts"
import { Loading, navigate, useRoute } from "./ui.tsx"
import { SignIn, SignUp } from "./pages/auth.tsx"
import { Shop } from "./pages/shop.tsx"
import { MySubscriptions } from "./pages/subscriptions.tsx"
import { MyBilling } from "./pages/billing.tsx"
import { MyStatement } from "./pages/statement.tsx"
import { Watch } from "./pages/watch.tsx"
import { AdminFilms } from "./pages/admin-films.tsx"
import { AdminProducts, AdminProductForm } from "./pages/admin-products.tsx"
import { AdminInvoices, AdminPayments } from "./pages/admin-billing.tsx"
import { AdminInvoice } from "./pages/admin-invoice.tsx"
import { AdminSubscriber } from "./pages/admin-subscriber.tsx"
import { AdminDashboard } from "./pages/admin-dashboard.tsx"

const portalLinks = [
  ["/", "Products"],
  ["/subscriptions", "Subscriptions"],
  ["/billing", "Invoices & payments"],
  ["/statement", "Statement"],
  ["/watch", "My films"]
] as const

const adminLinks = [
  ["/admin", "Dashboard"],
  ["/admin/films", "Films"],
  ["/admin/products", "Products"],
  ["/admin/invoices", "Invoices"],
  ["/admin/payments", "Payments"],
  ["/admin/subscribers", "Subscribers"]
] as const

const isCurrent = (route: string, href: string) =>
  href === "/" || href === "/admin" ? route === href : route === href || route.startsWith(`${href}/`) || route.startsWith(`${href}?`)

function Nav({ label, links, route }: { label: string; links: ReadonlyArray<readonly [string, string]>; route: string }) {
  return (
    <nav aria-label={label}>
      <ul>
        {links.map(([href, text]) => (
          <li key={href}>
            <a href={`#${href}`} aria-current={isCurrent(route, href) ? "page" : undefined}>{text}</a>
          </li>
        ))}
      </ul>
    </nav>
  )
}

function Header({ route }: { route: string }) {
  const session = useSession()
  const admin = session.status === "signed-in" && session.me.role === "admin"
  return (
    <header>
      <div className="bar">
        <a className="brand" href="#/">Kassa</a>
        <div className="who">
          {session.status === "signed-in"
            ? (
              <>
                <span>{session.me.email}{admin ? " (admin)" : ""}</span>
                <button type="button" onClick={() => void signOut().then(() => navigate("/signin"))}>Sign out</button>
              </>
            )
            : session.status === "signed-out"
            ? (
              <>
                <a href="#/signin">Sign in</a>
                <a href="#/signup">Sign up</a>
              </>
            )
            : null}
        </div>
      </div>
      <Nav label="Portal" links={portalLinks} route={route} />
      {admin ? <Nav label="Admin" links={adminLinks} route={route} /> : null}
    </header>
  )
}

/** A page that needs a signed-in user (and, for admin pages, the admin role). */
function Guard({ admin, children }: { admin: boolean; children: ReactNode }) {
  const session = useSession()
  if (session.status === "loading") return <Loading what="Checking your session" />
  if (session.status === "signed-out") {
    return <SignIn notice={session.notice ?? (admin ? "Sign in with an admin account to open the console." : "Sign in to continue.")} stay />
  }
  if (admin && session.me.role !== "admin") {
    return (
      <section>
        <h1>Admins only</h1>
        <p className="error" role="alert">
          This page is for admin accounts. You are signed in as {session.me.email}, a viewer account.
        </p>
        <p><a href="#/">Back to the products</a></p>
      </section>
    )
  }
  return <>{children}</>
}

const page = (route: string): ReactNode => {
  const [path = "/", query = ""] = route.split("?")
  const params = new URLSearchParams(query)
  const parts = path.split("/").filter(Boolean)
  if (parts[0] === "admin") {
    const [, section, id] = parts
    const content = section === undefined
      ? <AdminDashboard />
      : section === "films"
      ? <AdminFilms />
      : section === "products"
      ? id === undefined ? <AdminProducts /> : <AdminProductForm id={id === "new" ? undefined : id} />
      : section === "invoices"
      ? id === undefined ? <AdminInvoices initialUser={params.get("user") ?? ""} /> : <AdminInvoice id={id} />
      : section === "payments"
      ? <AdminPayments initialUser={params.get("user") ?? ""} />
      : section === "subscribers"
      ? <AdminSubscriber userId={id ?? ""} />
      : <NotFound />
    return <Guard admin>{content}</Guard>
  }
  switch (path) {
    case "/":
      return <Shop />
    case "/signin":
      return <SignIn />
    case "/signup":
      return <SignUp />
    case "/subscriptions":
      return <Guard admin={false}><MySubscriptions /></Guard>
    case "/billing":
      return <Guard admin={false}><MyBilling /></Guard>
    case "/statement":
      return <Guard admin={false}><MyStatement /></Guard>
    case "/watch":
      return <Guard admin={false}><Watch /></Guard>
    default:
      return <NotFound />
  }
}

const NotFound = () => (
  <section>
    <h1>Not found</h1>
    <p>There is no such page. <a href="#/">Back to the products</a></p>
  </section>
)

/** After a route change: the tab's title names the page, and focus moves to it (where a screen reader reads on). */
const useAnnouncePage = (route: string) => {
  const first = useRef(true)
  useEffect(() => {
    if (first.current) first.current = false
    else document.getElementById("main")?.focus({ preventScroll: false })
  }, [route])
  useEffect(() => {
    // pages name themselves once loaded (a product's name), so follow the heading as it changes
    const main = document.getElementById("main")
    const name = () => {
      const heading = main?.querySelector("h1")?.textContent
      const title = heading ? `${heading} · Kassa` : "Kassa"
      if (document.title !== title) document.title = title
    }
    name()
    const observer = new MutationObserver(name)
    if (main !== null) observer.observe(main, { subtree: true, childList: true, characterData: true })
    return () => observer.disconnect()
  }, [])
}

function App() {
  const route = useRoute()
  useAnnouncePage(route)
  return (
    <>
      <a className="skip" href="#main" onClick={(e) => (e.preventDefault(), document.getElementById("main")?.focus())}>
        Skip to content
      </a>
      <Header route={route} />
      <main id="main" tabIndex={-1}>{page(route)}</main>
    </>
  )
}

restore()
createRoot(document.getElementById("root")!).render(<StrictMode><App /></StrictMode>)
