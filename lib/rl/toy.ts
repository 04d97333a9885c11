// Exact toys, small enough to enumerate, for what notebook 05 claims about the KL-regularised objective
//
//   J(pi) = E_{y~pi}[r(y)] - beta KL(pi || pi_ref)
//
// 1. A bandit (a categorical over a few outcomes): the maximiser is pi*(y) = pi_ref(y) e^{r(y)/beta} / Z, and for
//    every pi,  J(pi) = beta log Z - beta KL(pi || pi*),  so J(pi*) = beta log Z and nothing beats it.
// 2. A two-token policy (a first token, then a second given the first): the gradient of the sequence KL, the
//    expected gradient of a per-token KL *loss* (GRPO's form: KL_t at each visited prefix, the prefixes held fixed)
//    and the expected policy gradient of k1 as a per-token *reward* summed into returns (PPO's form), by enumeration.
//    The loss misses how the first token changes the KL of the second (Tang & Munos 2025); the reward does not.
// 3. The expectations of the per-token estimators k1, k2, k3 (Schulman 2020) under a categorical.
// Plain arrays of numbers, no tensors: each value can be checked by hand, and test/toy.test.ts checks the closed
// forms against tf.grad.

/** log sum_i e^{x_i}, without overflow. */
export function logSumExpOf(x: number[]): number {
  const m = Math.max(...x);
  return m + Math.log(x.reduce((s, v) => s + Math.exp(v - m), 0));
}

/** softmax of one vector of logits. */
export function softmaxOf(logits: number[]): number[] {
  const lse = logSumExpOf(logits);
  return logits.map((z) => Math.exp(z - lse));
}

/** KL(p || q) = sum_i p_i log(p_i / q_i) of two categoricals (a term with p_i = 0 is 0). */
export function categoricalKl(p: number[], q: number[]): number {
  return p.reduce((s, pi, i) => (pi > 0 ? s + pi * (Math.log(pi) - Math.log(q[i])) : s), 0);
}

// ---- 1. the bandit's closed form ----

/** J(pi) = sum_y pi(y) r(y) - beta KL(pi || piRef), the objective of notebook 05's first equation on a categorical. */
export function klRegularisedObjective(pi: number[], piRef: number[], rewards: number[], beta: number): number {
  return pi.reduce((s, p, y) => s + p * rewards[y], 0) - beta * categoricalKl(pi, piRef);
}

/** pi* = piRef e^{r/beta} / Z and log Z = log sum_y piRef(y) e^{r(y)/beta}: the maximiser of klRegularisedObjective. */
export function klOptimalPolicy(piRef: number[], rewards: number[], beta: number): { pi: number[]; logZ: number } {
  if (!(beta > 0)) throw new Error(`klOptimalPolicy: beta must be > 0, got ${beta}`);
  const logits = piRef.map((q, y) => Math.log(q) + rewards[y] / beta);
  return { pi: softmaxOf(logits), logZ: logSumExpOf(logits) };
}

// ---- 2. the two-token policy ----

/** A two-step policy: first[a] for the first token, next[a][b] for the second given the first (logits or probabilities). */
export interface TwoStep {
  first: number[];
  next: number[][];
}

/** Probabilities from logits: softmax of the first step, and of each row of the second. */
export function twoStepProbs(logits: TwoStep): TwoStep {
  return { first: softmaxOf(logits.first), next: logits.next.map(softmaxOf) };
}

/** KL at the second step after each first token a: KL(pi(. | a) || ref(. | a)). */
function secondStepKls(pi: TwoStep, ref: TwoStep): number[] {
  return pi.next.map((row, a) => categoricalKl(row, ref.next[a]));
}

/** The sequence KL, sum_{a,b} pi(a,b) log(pi(a,b) / ref(a,b)) = KL_1 + sum_a pi(a) KL_2(a) (probabilities in). */
export function twoStepSequenceKl(pi: TwoStep, ref: TwoStep): number {
  const k2 = secondStepKls(pi, ref);
  return categoricalKl(pi.first, ref.first) + pi.first.reduce((s, p, a) => s + p * k2[a], 0);
}

/** d/dlogits of sum_a p(a) c(a) with p = softmax(logits) and c held fixed: p_j (c_j - sum_a p_a c_a). */
function softmaxWeightedGrad(p: number[], c: number[]): number[] {
  const mean = p.reduce((s, pa, a) => s + pa * c[a], 0);
  return p.map((pj, j) => pj * (c[j] - mean));
}

/** Gradients with respect to the logits of a TwoStep (same shape). */
export interface TwoStepGradients {
  /** exact gradient of the sequence KL(pi || ref) */
  sequence: TwoStep;
  /** expected gradient of the per-token KL loss KL_1 + sum_a sg[pi(a)] KL_2(a): the prefixes' probabilities held fixed */
  perTokenLoss: TwoStep;
  /** minus the expected policy gradient of the k1 rewards, -E[sum_t grad log pi(y_t | s_t) (-sum_{t' >= t} k1_t')], enumerated */
  k1Reward: TwoStep;
}

/**
 * The three gradients of notebook 05's two-token toy, at the policy with these logits, against the reference `ref`
 * (probabilities). Writing c_a = log(pi(a) / ref(a)) + KL_2(a) and d_ab = log(pi(b|a) / ref(b|a)):
 *   sequence      first_j = pi(j) (c_j - E_pi[c]),                 next[a]_j = pi(a) pi(j|a) (d_aj - E_pi(.|a)[d_a.])
 *   perTokenLoss  the same with KL_2(a) left out of c_a: a first token is not charged for the KL it causes later
 *   k1Reward      by enumerating the V^2 sequences: equal to `sequence` (the score function carries the later KL back)
 */
export function twoStepKlGradients(logits: TwoStep, ref: TwoStep): TwoStepGradients {
  const pi = twoStepProbs(logits);
  const k2 = secondStepKls(pi, ref);
  const logRatio1 = pi.first.map((p, a) => Math.log(p) - Math.log(ref.first[a]));
  const next = pi.next.map((row, a) => softmaxWeightedGrad(row, row.map((p, b) => Math.log(p) - Math.log(ref.next[a][b]))).map((g) => pi.first[a] * g));
  const sequence = { first: softmaxWeightedGrad(pi.first, logRatio1.map((l, a) => l + k2[a])), next };
  const perTokenLoss = { first: softmaxWeightedGrad(pi.first, logRatio1), next: next.map((row) => row.slice()) };

  // k1 as a reward: k1_1 = log pi(a)/ref(a) at the first token, k1_2 = log pi(b|a)/ref(b|a) at the second; each
  // token's score function is weighted by the k1 still to come (its own and the later one)
  const V = pi.first.length;
  const k1First = Array<number>(V).fill(0);
  const k1Next = pi.next.map((row) => row.map(() => 0));
  for (let a = 0; a < V; a++) {
    for (let b = 0; b < pi.next[a].length; b++) {
      const p = pi.first[a] * pi.next[a][b];
      const kA = logRatio1[a], kB = Math.log(pi.next[a][b]) - Math.log(ref.next[a][b]);
      for (let j = 0; j < V; j++) k1First[j] += p * ((j === a ? 1 : 0) - pi.first[j]) * (kA + kB); // grad log pi(a)
      for (let j = 0; j < pi.next[a].length; j++) k1Next[a][j] += p * ((j === b ? 1 : 0) - pi.next[a][j]) * kB; // grad log pi(b|a)
    }
  }
  return { sequence, perTokenLoss, k1Reward: { first: k1First, next: k1Next } };
}

/**
 * Where gradient descent on r - beta * (each KL form) settles, for a two-token reward r[a][b] (probabilities out):
 *   optimal       pi* of the sequence bandit, pi*(a,b) = ref(a,b) e^{r(a,b)/beta} / Z, split into its two steps:
 *                 pi*(b|a) = ref(b|a) e^{r(a,b)/beta} / Z(a), pi*(a) = ref(a) Z(a) / Z
 *   perTokenLoss  the same second step, but a first step that sees the reward to come and not the KL to come:
 *                 pi(a) = ref(a) e^{Q(a)/beta} / Z', with Q(a) = E_{pi*(.|a)}[r(a, .)]
 * (beta log Z(a) = Q(a) - beta KL_2(a): the per-token loss drops the -beta KL_2(a) of the prefix a leads to.)
 */
export function twoStepStationaryPolicies(ref: TwoStep, rewards: number[][], beta: number): { optimal: TwoStep; perTokenLoss: TwoStep } {
  const seconds = ref.next.map((row, a) => klOptimalPolicy(row, rewards[a], beta));
  const next = seconds.map((s) => s.pi);
  const optimalFirst = softmaxOf(ref.first.map((q, a) => Math.log(q) + seconds[a].logZ));
  const q = next.map((row, a) => row.reduce((s, p, b) => s + p * rewards[a][b], 0));
  const perTokenFirst = softmaxOf(ref.first.map((r0, a) => Math.log(r0) + q[a] / beta));
  return { optimal: { first: optimalFirst, next }, perTokenLoss: { first: perTokenFirst, next: next.map((row) => row.slice()) } };
}

/** E_{pi}[r(a,b)] - beta KL_sequence(pi || ref) of a two-step policy (probabilities in). */
export function twoStepObjective(pi: TwoStep, ref: TwoStep, rewards: number[][], beta: number): number {
  const er = pi.first.reduce((s, pa, a) => s + pa * pi.next[a].reduce((t, pb, b) => t + pb * rewards[a][b], 0), 0);
  return er - beta * twoStepSequenceKl(pi, ref);
}

// ---- 3. the estimators' expectations ----

/**
 * E_{y~pi}[k(y)] for the per-token estimators of notebook 05, with log rho = log ref(y) - log pi(y):
 * k1 = -log rho, k2 = (log rho)^2 / 2, k3 = (rho - 1) - log rho. E[k1] = E[k3] = KL(pi || ref); E[k2] is not.
 */
export function klEstimatorMeans(pi: number[], ref: number[]): { k1: number; k2: number; k3: number } {
  let k1 = 0, k2 = 0, k3 = 0;
  pi.forEach((p, y) => {
    if (p === 0) return;
    const logRho = Math.log(ref[y]) - Math.log(p);
    k1 += p * -logRho;
    k2 += p * 0.5 * logRho * logRho;
    k3 += p * (Math.exp(logRho) - 1 - logRho);
  });
  return { k1, k2, k3 };
}
