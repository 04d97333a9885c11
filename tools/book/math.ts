// The course book (tools/book.ts), its math: cut out, typeset, put back.
import katex from "katex";
import { BookError } from "./common";


export interface MathPiece {
  tex: string;
  display: boolean;
}

// Placeholders from Unicode's private use area: markdown-it passes them through untouched, and no source uses them.
export const PH_OPEN = "\uE000";
export const PH_CLOSE = "\uE001";
export const PH_RE = /\uE000(\d+)\uE001/g;

/**
 * Replaces the equations of a Markdown text with placeholders, so the Markdown parser never sees their underscores,
 * asterisks, backslashes or pipes. Delimiters: $$...$$ and \[...\] (display), $...$ and \(...\) (inline). Fenced code
 * blocks and code spans are left alone; so is an escaped \$. An inline $ opens only before a non-space and closes only
 * after a non-space, not before a digit, within its paragraph (pandoc's rule); a $ that does not pair stays text.
 */
export function extractMath(md: string): { text: string; math: MathPiece[] } {
  const math: MathPiece[] = [];
  const put = (tex: string, display: boolean): string => {
    math.push({ tex, display });
    return `${PH_OPEN}${math.length - 1}${PH_CLOSE}`;
  };
  let out = "";
  const lines = md.split("\n");
  let prose: string[] = [];
  const flush = (): void => {
    if (prose.length) out += extractInProse(prose.join("\n"), put) + "\n";
    prose = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const fence = /^ {0,3}(`{3,}|~{3,})/.exec(lines[i]);
    if (!fence) {
      prose.push(lines[i]);
      continue;
    }
    flush();
    const mark = fence[1];
    out += lines[i] + "\n";
    for (i++; i < lines.length; i++) {
      out += lines[i] + "\n";
      if (new RegExp(`^ {0,3}${mark[0] === "`" ? "`" : "~"}{${mark.length},}\\s*$`).test(lines[i])) break;
    }
  }
  flush();
  return { text: out.slice(0, -1), math };
}

export function extractInProse(s: string, put: (tex: string, display: boolean) => string): string {
  let out = "";
  let i = 0;
  while (i < s.length) {
    const c = s[i];
    if (c === "`") {
      // a code span: a run of backticks up to the next run of the same length
      let n = 1;
      while (s[i + n] === "`") n++;
      const run = "`".repeat(n);
      let j = s.indexOf(run, i + n);
      while (j >= 0 && s[j + n] === "`") {
        let k = j;
        while (s[k] === "`") k++;
        j = s.indexOf(run, k);
      }
      if (j < 0) {
        out += run;
        i += n;
      } else {
        out += s.slice(i, j + n);
        i = j + n;
      }
      continue;
    }
    if (c === "\\") {
      const next = s[i + 1];
      if (next === "(" || next === "[") {
        const close = next === "(" ? "\\)" : "\\]";
        const j = s.indexOf(close, i + 2);
        if (j >= 0) {
          out += put(s.slice(i + 2, j).trim(), next === "[");
          i = j + 2;
          continue;
        }
      }
      out += s.slice(i, i + 2); // an escape, \$ included: the Markdown parser unescapes it
      i += 2;
      continue;
    }
    if (c === "$") {
      if (s[i + 1] === "$") {
        const j = findUnescaped(s, "$$", i + 2);
        if (j >= 0) {
          out += put(s.slice(i + 2, j).trim(), true);
          i = j + 2;
          continue;
        }
        out += "$$";
        i += 2;
        continue;
      }
      const j = closingDollar(s, i);
      if (j >= 0) {
        out += put(s.slice(i + 1, j), false);
        i = j + 1;
        continue;
      }
    }
    out += c;
    i++;
  }
  return out;
}

export function findUnescaped(s: string, what: string, from: number): number {
  for (let j = s.indexOf(what, from); j >= 0; j = s.indexOf(what, j + 1)) {
    let bs = 0;
    while (s[j - 1 - bs] === "\\") bs++;
    if (bs % 2 === 0) return j;
  }
  return -1;
}

export function closingDollar(s: string, open: number): number {
  if (open + 1 >= s.length || /\s/.test(s[open + 1])) return -1;
  for (let j = open + 1; j < s.length; j++) {
    const c = s[j];
    if (c === "\\") {
      j++;
      continue;
    }
    if (c === "\n" && /^\n[ \t]*(\n|$)/.test(s.slice(j))) return -1; // a blank line ends the paragraph
    if (c === "$") {
      if (/\s/.test(s[j - 1]) || /\d/.test(s[j + 1] ?? "")) continue;
      return j;
    }
  }
  return -1;
}

/** Where an equation comes from, for error messages: "06_gae, cell 12". */
export interface Where {
  file: string;
  cell?: number;
}
export const whereText = (w: Where): string => (w.cell === undefined ? w.file : `${w.file}, cell ${w.cell}`);

/** KaTeX's HTML for one equation; throws a BookError naming where it comes from. `macros` persists \newcommand. */
export function typeset(piece: MathPiece, where: Where, macros: Record<string, string> = {}): string {
  try {
    return katex.renderToString(piece.tex, { displayMode: piece.display, throwOnError: true, strict: "ignore", macros, globalGroup: true, output: "htmlAndMathml" });
  } catch (e) {
    const d = piece.display ? "$$" : "$";
    throw new BookError(`${whereText(where)}: cannot typeset ${d}${piece.tex.length > 120 ? piece.tex.slice(0, 117) + "..." : piece.tex}${d}: ${(e as Error).message}`);
  }
}
