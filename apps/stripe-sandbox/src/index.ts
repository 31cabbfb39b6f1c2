export { StripeSandbox, type SandboxOptions } from "./sandbox.ts"
export { SandboxLive } from "./main.ts"
export { type FaultAction, type FaultRule } from "./faults.ts"
export { signatureHeader, type FlushOptions } from "./webhooks.ts"
