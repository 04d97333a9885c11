// The course book (tools/book.ts), its checking the written site.
import * as path from "node:path";
import { page } from "./pages";


/** Internal links of the site that do not resolve: a missing file, or an #anchor no element of the target has. */
export function brokenLinks(files: Map<string, string>): string[] {
  const ids = new Map<string, Set<string>>();
  for (const [f, html] of files) ids.set(f, new Set([...html.matchAll(/\sid="([^"]*)"/g)].map((m) => m[1])));
  const bad: string[] = [];
  for (const [f, html] of files) {
    for (const m of html.matchAll(/<(?:a|link|script|img)\s[^>]*?(?:href|src)="([^"]*)"/g)) {
      const href = m[1].replace(/&amp;/g, "&");
      if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//") || href.startsWith("data:")) continue;
      const hash = href.indexOf("#");
      const rel = decodeURI(hash >= 0 ? href.slice(0, hash) : href);
      const anchor = hash >= 0 ? decodeURIComponent(href.slice(hash + 1)) : "";
      const target = rel === "" ? f : path.posix.normalize(path.posix.join(path.posix.dirname(f), rel));
      if (!files.has(target)) {
        if (!target.startsWith("assets/")) bad.push(`${f}: link to ${href}: no such page`);
        continue;
      }
      if (anchor && !ids.get(target)!.has(anchor)) bad.push(`${f}: link to ${href}: ${target} has no id "${anchor}"`);
    }
  }
  return bad;
}
