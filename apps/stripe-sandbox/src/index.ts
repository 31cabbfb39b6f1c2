export type { FaultAction, FaultRule } from "./faults.ts"
export { SandboxLive } from "./main.ts"
export { StripeSandbox, type SandboxOptions, withChargeAnswersLost } from "./sandbox.ts"
export { signatureHeader, type FlushOptions } from "./webhooks.ts"
