// The library's one public entry: every module of lib/, folder by folder in the course's order (a folder imports
// only from the folders above it here; test/layering.test.ts checks). The CLIs under tools/ import from here; the
// notebooks import from the folders themselves, so a learner sees where the code lives. The exercise checks of
// each notebook (lib/notebook/checks/) are not re-exported: each notebook imports its own.

// core/: config, randomness, progress, metrics, the backend and its native kernels
export * from "./core/backend";
export * from "./core/config";
export * from "./core/iopub";
export * from "./core/metrics";
export * from "./core/native";
export * from "./core/progress";
export * from "./core/rng";
export * from "./core/stats";

// lm/: the language model: tokenizer, GPT, data, sampling and rollouts, sequence log-probs, fluency
export * from "./lm/data";
export * from "./lm/fluency";
export * from "./lm/model-kernels";
export * from "./lm/model";
export * from "./lm/packing";
export * from "./lm/pretrain-data";
export * from "./lm/rollout";
export * from "./lm/sample";
export * from "./lm/sequence-logprobs";
export * from "./lm/tokenizer";

// train/: optimiser and schedules, atomic checkpoints, resume, the SFT loss
export * from "./train/checkpoint";
export * from "./train/optim";
export * from "./train/resume";
export * from "./train/sft";

// reward/: the gold scorer and labeller, preference pairs, Bradley-Terry, the reward model, the reward interface
export * from "./reward/bradley-terry";
export * from "./reward/char-ngram";
export * from "./reward/evaluate";
export * from "./reward/labeller";
export * from "./reward/natural-gold";
export * from "./reward/postprocess";
export * from "./reward/preferences";
export * from "./reward/reward-fns";
export * from "./reward/reward-model";
export * from "./reward/text-reward";
export * from "./reward/verifiable";

// rl/: KL, GAE, PPO's losses, critic-free advantages, the update, the trainer, evaluation
export * from "./rl/advantages";
export * from "./rl/evaluate";
export * from "./rl/gae";
export * from "./rl/kl";
export * from "./rl/pass-at-k";
export * from "./rl/ppo-update";
export * from "./rl/ppo";
export * from "./rl/prompts";
export * from "./rl/toy";
export * from "./rl/trainer";

// beyond/: DPO, best-of-n, Gao et al.'s fits
export * from "./beyond/best-of-n";
export * from "./beyond/dpo";
export * from "./beyond/gao";

// pipeline/: the stages, and stages.ts: their order
export * from "./pipeline/base";
export * from "./pipeline/curve";
export * from "./pipeline/dpo";
export * from "./pipeline/ppo";
export * from "./pipeline/pretrain";
export * from "./pipeline/reward-model";
export * from "./pipeline/sft";
export * from "./pipeline/stage";
export * from "./pipeline/stages";

// studies/: the over-optimisation study, the method comparison, ablations
export * from "./studies/ablation";
export * from "./studies/compare";
export * from "./studies/rlvr";
export * from "./studies/study";

// notebook/: charts, the exercise harness, library source shown in a notebook
export * from "./notebook/exercise";
export * from "./notebook/figures";
export * from "./notebook/rlvr-figures";
export * from "./notebook/source";
export * from "./notebook/viz";
