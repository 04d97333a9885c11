// The course book (tools/book.ts), its links.
import * as path from "node:path";
import { PH_RE } from "./math";
import { page } from "./pages";


/** The site's pages: repository path (POSIX, e.g. "notebooks/06_gae.ipynb") -> site path ("notebooks/06_gae.html"). */
export type PageMap = Map<string, string>;

export type LinkResult = { href: string } | { unbuilt: string } | { error: string };

/**
 * Rewrites a link of a page whose source is the repository file `fromRepo` and which is written to `fromSite`.
 * External links (a scheme: https:, mailto:) and same-page anchors stay. A relative link to a file that has a page
 * becomes a relative link to that page, its #anchor kept. A notebook of the course that is not in this build (a
 * --notebooks subset) is `unbuilt`; any other file of the repository is an error (it has no page: link to the
 * notebook or doc that explains it, or to an external address).
 */
export function rewriteLink(href: string, fromRepo: string, fromSite: string, pages: PageMap, coursePages: PageMap = pages): LinkResult {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith("//") || href.startsWith("#") || href === "") return { href };
  const hash = href.indexOf("#");
  const target = decodeURI(hash >= 0 ? href.slice(0, hash) : href);
  const anchor = hash >= 0 ? href.slice(hash) : "";
  const repo = path.posix.normalize(path.posix.join(path.posix.dirname(fromRepo), target.split("?")[0]));
  const site = pages.get(repo);
  if (site !== undefined) {
    if (site === fromSite) return { href: anchor || "#" };
    return { href: encodeURI(path.posix.relative(path.posix.dirname(fromSite), site)) + anchor };
  }
  if (coursePages.has(repo)) return { unbuilt: repo };
  return { error: `link to ${repo || href} (${href}): not a page of the book (link a notebook, docs/*.md, or an external address)` };
}

/** Heading ids as GitHub makes them: lower case, punctuation dropped, spaces to hyphens; repeats get -1, -2. */
export function slugify(text: string, used: Set<string>): string {
  const base =
    text
      .replace(PH_RE, "")
      .toLowerCase()
      .trim()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-") || "section";
  let slug = base;
  for (let n = 1; used.has(slug); n++) slug = `${base}-${n}`;
  used.add(slug);
  return slug;
}
