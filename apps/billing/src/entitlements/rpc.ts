// The entitlement RPC group (EntitlementRpcs), served at POST /rpc on billing's port beside the payments callback,
// behind the service token.
import { EntitlementRpcs } from "@kassa/domain/entitlements"
import { TokenVerifier } from "@kassa/platform/auth"
import { DateTime, Effect } from "effect"
import { Entitlements } from "./service.ts"

export const EntitlementRpcHandlers = EntitlementRpcs.toLayer(Effect.gen(function*() {
  const entitlements = yield* Entitlements
  const verifier = yield* TokenVerifier
  return EntitlementRpcs.of({
    CheckEntitlement: (query) =>
      Effect.map(entitlements.check(query.userId, query.filmId), (answer) => ({ userId: query.userId, ...answer })),
    CheckEntitlements: ({ checks }) => entitlements.checkMany(checks),
    VerifyToken: ({ accessToken }) =>
      Effect.map(verifier.verify(accessToken), (token) => ({
        user: { id: token.user.id, email: token.user.email, role: token.user.role },
        expiresAt: DateTime.makeUnsafe(token.expiresAt)
      }))
  })
}))
