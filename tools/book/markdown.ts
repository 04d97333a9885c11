// The course book (tools/book.ts), its Markdown.
import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import javascript from "highlight.js/lib/languages/javascript";
import typescript from "highlight.js/lib/languages/typescript";
import MarkdownIt from "markdown-it";
import { BookError } from "./common";
import { escapeHtml } from "./notebooks";
import { PH_RE, extractMath, Where, whereText, typeset } from "./math";
import { PageMap, rewriteLink, slugify } from "./links";


export interface MdEnv {
  fromRepo: string;
  fromSite: string;
  pages: PageMap;
  coursePages: PageMap;
  slugs: Set<string>;
  errors: string[];
}

export function highlight(code: string, lang: string): string {
  const l = lang === "ts" ? "typescript" : lang === "js" ? "javascript" : lang === "sh" || lang === "shell" ? "bash" : lang;
  if (l && hljs.getLanguage(l)) return hljs.highlight(code, { language: l, ignoreIllegals: true }).value;
  return escapeHtml(code);
}

export type Token = ReturnType<InstanceType<typeof MarkdownIt>["parse"]>[number];
export const mdEnv = (e: unknown): MdEnv => e as MdEnv;

/** Rewrites the href (or src) of a link (or image) token in place, recording errors in env. */
export function fixLink(t: Token, attr: "href" | "src", env: MdEnv): void {
  const raw = t.attrGet(attr);
  if (raw === null) return;
  const href = String(raw);
  const r = rewriteLink(href, env.fromRepo, env.fromSite, env.pages, env.coursePages);
  if ("error" in r) env.errors.push(r.error);
  else if ("unbuilt" in r) {
    t.attrs = (t.attrs ?? []).filter((a) => a[0] !== attr);
    t.attrSet("class", "not-built");
    t.attrSet("title", `${r.unbuilt} is not part of this build`);
  } else {
    t.attrSet(attr, r.href);
    if (/^[a-z][a-z0-9+.-]*:/i.test(r.href)) t.attrSet("rel", "noopener");
  }
}

export function markdownIt() {
  const md = new MarkdownIt({ html: true, linkify: false, typographer: false, highlight: (code, lang) => highlight(code, lang) });
  md.renderer.rules.heading_open = (tokens, idx, options, env, self) => {
    const inline = tokens[idx + 1];
    const text = (inline.children ?? []).filter((t) => t.type === "text" || t.type === "code_inline").map((t) => t.content).join("");
    tokens[idx].attrSet("id", slugify(text, mdEnv(env).slugs));
    return self.renderToken(tokens, idx, options);
  };
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    fixLink(tokens[idx], "href", mdEnv(env));
    return self.renderToken(tokens, idx, options);
  };
  const image = md.renderer.rules.image!;
  md.renderer.rules.image = (tokens, idx, options, env, self) => {
    fixLink(tokens[idx], "src", mdEnv(env));
    return image(tokens, idx, options, env, self);
  };
  return md;
}

export const MD = markdownIt();

export interface MdContext {
  where: Where;
  fromRepo: string;
  fromSite: string;
  pages: PageMap;
  coursePages?: PageMap;
  slugs?: Set<string>;
  macros?: Record<string, string>;
}

/** Markdown -> HTML with its equations typeset by KaTeX and its links rewritten; errors name the notebook and cell. */
export function renderMarkdown(src: string, ctx: MdContext): string {
  const { text, math } = extractMath(src);
  const env: MdEnv = { fromRepo: ctx.fromRepo, fromSite: ctx.fromSite, pages: ctx.pages, coursePages: ctx.coursePages ?? ctx.pages, slugs: ctx.slugs ?? new Set(), errors: [] };
  const html = MD.render(text, env as unknown as Record<string, unknown>);
  if (env.errors.length) throw new BookError(`${whereText(ctx.where)}: ${env.errors.join("; ")}`);
  const macros = ctx.macros ?? {};
  const rendered = math.map((m) => typeset(m, ctx.where, macros));
  // a paragraph that is only a display equation loses its <p> (KaTeX's display block is a span; this keeps margins tidy)
  return html
    .replace(/<p>\s*\uE000(\d+)\uE001\s*<\/p>/g, (all: string, i: string) => (math[Number(i)].display ? `<div class="math-block">${rendered[Number(i)]}</div>` : all))
    .replace(PH_RE, (_: string, i: string) => rendered[Number(i)]);
}
