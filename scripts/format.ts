// The formatter: dprint's TypeScript plugin (the one the Effect repository formats with, same settings), run from its
// npm packages (WebAssembly, no native binary, no install script). `node scripts/format.ts` lists the files that are
// not formatted and exits 1; `--write` rewrites them. Files: every tracked or new .ts file git does not ignore.
import { createContext } from "@dprint/formatter"
import { getPath } from "@dprint/typescript"
import { execFileSync } from "node:child_process"
import { readFileSync, writeFileSync } from "node:fs"

const write = process.argv.includes("--write")
const formatter = createContext({ indentWidth: 2, lineWidth: 120 }).addPlugin(readFileSync(getPath()), {
  semicolons: "asi",
  quoteStyle: "alwaysDouble",
  trailingCommas: "never",
  operatorPosition: "maintain",
  "arrowFunction.useParentheses": "force",
  // the text of sql`…` (and any tagged template) is left exactly as written
  "taggedTemplate.formatEmbedded": false,
  // imports stay in the order they were written (moving them is churn a reviewer has to read past)
  "module.sortImportDeclarations": "maintain",
  "exportDeclaration.sortNamedExports": "maintain",
  "importDeclaration.sortNamedImports": "maintain"
})
const problems = formatter.getConfigDiagnostics()
if (problems.length > 0) {
  throw new Error(`dprint configuration: ${problems.map((p) => `${p.propertyName}: ${p.message}`).join("; ")}`)
}

const only = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
const files = only.length > 0
  ? only
  : execFileSync("git", ["ls-files", "-co", "--exclude-standard", "--", "*.ts"], {
    encoding: "utf8"
  })
    .split("\n")
    .filter((file) => file !== "")

const unformatted: Array<string> = []
for (const file of files) {
  const text = readFileSync(file, "utf8")
  // a second pass settles what the first one's line breaks moved (dprint is not always stable in one pass)
  let formatted = text
  for (let pass = 0; pass < 3; pass++) {
    const next = formatter.formatText({ filePath: file, fileText: formatted })
    if (next === formatted) break
    formatted = next
  }
  if (formatted === text) continue
  unformatted.push(file)
  if (write) writeFileSync(file, formatted)
}
if (unformatted.length > 0) {
  console.log(`${write ? "formatted" : "not formatted"} (${unformatted.length}):\n  ${unformatted.join("\n  ")}`)
  if (!write) {
    console.log("run: npm run format")
    process.exit(1)
  }
}
