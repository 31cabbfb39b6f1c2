// The console's own settings: the port its static files and API routes are served on.
import { HttpConfig } from "@kassa/platform/config"

export const ConsoleHttpConfig = HttpConfig("CONSOLE_PORT", 3003)
