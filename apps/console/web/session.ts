// Who is signed in, and their tokens. Billing issues tokens in the response body (no cookie), so: the access
// token (15 minutes) lives in memory only; the refresh token in sessionStorage, so a reload keeps the session but
// it dies with the tab and is never shared with other tabs. Refresh tokens rotate: each refresh returns a new pair
// and the old refresh token stops working, so refreshes run one at a time (two would race with the same token).
import { useSyncExternalStore } from "react"
import { Effect } from "effect"
import type { Me, TokenPair } from "@kassa/domain/auth"
import { ApiError, billingClient, clients, type Clients, run } from "./api.ts"

const refreshKey = "kassa.console.refreshToken"

export type SessionState =
  | { readonly status: "loading" }
  | { readonly status: "signed-out"; readonly notice?: string }
  | { readonly status: "signed-in"; readonly me: Me }

let state: SessionState = { status: "loading" }
let accessToken: string | undefined
/** when the access token should be renewed (ms since the epoch, the browser's clock) */
let renewAt = 0
let refreshing: Promise<void> | undefined
let timer: ReturnType<typeof setTimeout> | undefined
const listeners = new Set<() => void>()

const set = (next: SessionState) => {
  state = next
  for (const listener of listeners) listener()
}

const storedRefreshToken = (): string | null => sessionStorage.getItem(refreshKey)

const clear = (notice?: string) => {
  accessToken = undefined
  sessionStorage.removeItem(refreshKey)
  if (timer !== undefined) clearTimeout(timer)
  set(notice === undefined ? { status: "signed-out" } : { status: "signed-out", notice })
}

const adopt = async (pair: TokenPair) => {
  accessToken = pair.accessToken
  sessionStorage.setItem(refreshKey, pair.refreshToken)
  if (timer !== undefined) clearTimeout(timer)
  // renew a minute (a quarter, for short lifetimes) before the access token expires: on a timer, and before any call
  // made later than that (a timer is late after the computer slept), so calls do not meet a 401
  const lead = Math.min(60, pair.expiresIn / 4)
  renewAt = Date.now() + (pair.expiresIn - lead) * 1000
  timer = setTimeout(() => void refresh().catch(() => {}), (pair.expiresIn - lead) * 1000)
  const me = await run(Effect.flatMap(billingClient(pair.accessToken), (c) => c.me.get()))
  set({ status: "signed-in", me })
}

/** Trades the stored refresh token for a new pair; signs out when it is refused. */
export const refresh = (): Promise<void> => {
  refreshing ??= (async () => {
    const token = storedRefreshToken()
    if (token === null) return clear()
    try {
      await adopt(
        await run(Effect.flatMap(billingClient(), (c) => c.auth.refresh({ payload: { refreshToken: token } })))
      )
    } catch (error) {
      if (error instanceof ApiError && error.tag === "Unauthorized") clear("Your session ended. Sign in again.")
      else if (state.status === "loading") clear()
      throw error
    }
  })().finally(() => {
    refreshing = undefined
  })
  return refreshing
}

export const signIn = async (email: string, password: string) =>
  adopt(await run(Effect.flatMap(billingClient(), (c) => c.auth.token({ payload: { email, password } }))))

export const signUp = async (email: string, password: string) => {
  await run(Effect.flatMap(billingClient(), (c) => c.auth.register({ payload: { email, password } })))
  await signIn(email, password)
}

/** Ends the session on the server too (its refresh token is revoked), then forgets the tokens. */
export const signOut = async () => {
  const token = storedRefreshToken()
  if (token !== null) {
    await run(Effect.flatMap(billingClient(), (c) => c.auth.logout({ payload: { refreshToken: token } }))).catch(
      () => {}
    )
  }
  clear()
}

/** On load: resume the tab's session if it has one. */
export const restore = () => {
  if (storedRefreshToken() === null) return set({ status: "signed-out" })
  refresh().catch(() => {})
}

/** Calls the APIs as the signed-in user; on a 401 refreshes the tokens once and tries again. */
export const api = async <A, E>(call: (c: Clients) => Effect.Effect<A, E, never>): Promise<A> => {
  const attempt = () => run(Effect.flatMap(clients(accessToken), call))
  // a page opened while the tokens are being renewed (or before a reload restored them) waits for them
  if (refreshing !== undefined) await refreshing.catch(() => {})
  else if ((accessToken === undefined || Date.now() >= renewAt) && storedRefreshToken() !== null) {
    await refresh().catch(() => {})
  }
  try {
    return await attempt()
  } catch (error) {
    if (!(error instanceof ApiError && error.tag === "Unauthorized") || storedRefreshToken() === null) throw error
    await refresh()
    return attempt()
  }
}

const subscribe = (listener: () => void) => {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

export const useSession = (): SessionState => useSyncExternalStore(subscribe, () => state)
