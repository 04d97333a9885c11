// The course book (tools/book.ts), its notebooks.


export interface Output {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
  traceback?: string[];
  execution_count?: number | null;
}
export interface Cell {
  cell_type: string;
  id?: string;
  source: string | string[];
  outputs?: Output[];
  execution_count?: number | null;
}
export interface Notebook {
  cells: Cell[];
  metadata?: { rlhf_course?: { variant?: string; exercises?: string[] } };
}

export const joinText = (t: string | string[] | undefined): string => (Array.isArray(t) ? t.join("") : (t ?? ""));

export function escapeHtml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
