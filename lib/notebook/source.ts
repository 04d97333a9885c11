// The library's own code, shown in a notebook beside the equation it computes. Read from lib/ at run time, so the
// notebook and the code it explains can never drift apart.
import * as fs from "node:fs";
import * as path from "node:path";
import { showMarkdown } from "./viz";

/**
 * The text of an exported function (or const, class, interface) of lib/<file>, from its doc comment to its closing
 * brace at column 0. Throws naming the file and the name when it is not there.
 */
export function librarySource(file: string, name: string): string {
  const full = path.join(__dirname, "..", file.endsWith(".ts") ? file : `${file}.ts`);
  const lines = fs.readFileSync(full, "utf8").split("\n");
  const decl = new RegExp(`^export (async )?(function|const|class|interface|type) ${name}\\b`);
  const start = lines.findIndex((l) => decl.test(l));
  if (start < 0) throw new Error(`librarySource: lib/${path.basename(full)} exports no "${name}"`);
  let first = start;
  while (first > 0 && /^\s*(\/\*\*|\*|\/\/)/.test(lines[first - 1])) first--; // its doc comment
  let end = start;
  // a one-line declaration ends on its own line; a block at the first "}" (or "});") at column 0
  const code = lines[start].replace(/\s\/\/.*$/, "");
  if (!/;\s*$/.test(code)) {
    while (end < lines.length - 1 && !/^\}/.test(lines[end])) end++;
  }
  return lines.slice(first, end + 1).join("\n");
}

/** Shows lib/<file>'s `name` as a highlighted code block, titled with where it lives. */
export function showSource(file: string, name: string): void {
  const base = file.endsWith(".ts") ? file : `${file}.ts`;
  showMarkdown(`**\`lib/${base}\` · \`${name}\`**\n\n\`\`\`typescript\n${librarySource(file, name)}\n\`\`\``);
}
