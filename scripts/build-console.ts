// `npm run build:console`: builds the web console into apps/console/dist/ (whatever its age), for a deployment
// that serves it as a static folder. `npm start` builds it on its own when it is stale.
import { Effect } from "effect"
import { build, distDir } from "@kassa/console/build"

await Effect.runPromise(build)
console.log(`built ${distDir}`)
