// The course book (tools/book.ts), its exercises.
import { BookError } from "./common";
import { Cell, Notebook, joinText } from "./notebooks";


// the verdict line of lib/notebook/exercise.ts (tools/run-notebooks.js keeps the same pattern)
export const VERDICT = /^exercise (\d\d[a-z]?\.\d+) .*?: (PASS|FAIL|NOT DONE) \(/m;

export interface PageCell {
  /** 1-based position in the notebook, as error messages and the page's cell anchors name it */
  n: number;
  cell: Cell;
  /** the same cell of the solution notebook, when it is folded under this one */
  solution?: Cell;
  /** "code": the solution's code differs (an exercise); "output": only its output (the check cell of an exercise) */
  fold?: "code" | "output";
}

export const outputsText = (c: Cell): string => (c.outputs ?? []).map((o) => joinText(o.text) + joinText(o.data?.["text/plain"] as string | string[] | undefined)).join("\n");

/**
 * Pairs the learner's cells with the solution notebook's (tools/nb.js writes both from one source, cell for cell). A
 * code cell whose source differs is an exercise: its solution is folded under it with the solution's output. A cell
 * with the same code whose output prints an exercise verdict (the check cell) gets the solution's output folded.
 */
export function foldExercises(learner: Notebook, solution: Notebook | undefined, name: string): PageCell[] {
  if (solution && solution.cells.length !== learner.cells.length) {
    throw new BookError(`${name}: the solution notebook has ${solution.cells.length} cells, the notebook ${learner.cells.length}: regenerate both (node tools/nb.js build) and run them again`);
  }
  return learner.cells.map((cell, i) => {
    const sol = solution?.cells[i];
    const pc: PageCell = { n: i + 1, cell };
    if (!sol || cell.cell_type !== "code") return pc;
    if (sol.cell_type !== "code") throw new BookError(`${name}, cell ${i + 1}: a code cell in the notebook but ${sol.cell_type} in its solution`);
    if (joinText(sol.source) !== joinText(cell.source)) return { ...pc, solution: sol, fold: "code" };
    if (VERDICT.test(outputsText(cell)) && outputsText(sol) !== outputsText(cell)) return { ...pc, solution: sol, fold: "output" };
    return pc;
  });
}
