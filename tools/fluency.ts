// `npm run fluency -- --name <name> --set <key=value> [--set ...] [--config <file>]`: the course's pretraining and SFT
// again with some tokenizer.*, model.*, pretrain.* or sft.* keys changed, into <checkpoints>/variants/<name>/ and
// <runs>/variants/<name>/, to see what a change does to the base model's fluency (lib/lm/fluency.ts) and what it costs.
// Prints the run's progress and ten SFT samples on stderr and one JSON line on stdout: the overrides, the stage times,
// the validation losses, the fluency at two sampling seeds, the share of held-out review words that are one token, and
// the held-out bits per character of the base and SFT models (lib/lm/fluency.ts bitsPerChar: lower is better English,
// in
// a unit a bigger vocabulary cannot game).
// Without --set it trains the course's own recipe again (the reference row). Exit codes: 0 done, 1 failed, 2 bad input.
import {
  withOverrides, type Config, bitsPerChar, heldoutBpcTexts, newPrompts, singleTokenShare, trainPretrain, generate, sftFluency, trainSft,
} from "../lib";
import { runVariantCli } from "./variant-cli";

const ALLOWED = /^(tokenizer|model|pretrain|sft)\./;

const HELP = `usage: npm run fluency -- --name <name> [--set <key=value> ...] [--config <file>]
  --name    the variant's name: outputs go to <checkpoints>/variants/<name>/ and <runs>/variants/<name>/
  --set     a tokenizer.*, model.*, pretrain.* or sft.* key and its value as YAML, e.g. tokenizer.vocab_size=4096
  --config  the base config (default: $RLHF_CONFIG, else config/course.yaml)
  --help    this text
Prints one JSON line {name, overrides, pretrain_seconds, sft_seconds, ..., fluency, fluency_seed2, sft_bpc} on stdout.
Exit codes: 0 done, 1 the run failed, 2 bad arguments.`;

async function runVariant(base: Config, name: string, overrides: string[], log: (l: string) => void) {
  const bad = overrides.filter((o) => !ALLOWED.test(o));
  if (bad.length) throw new Error(`fluency variant: only tokenizer.*, model.*, pretrain.* and sft.* keys can change, not ${bad.join(", ")}`);
  const cfg = withOverrides(base, [
    `paths.checkpoints=${base.paths.checkpoints}/variants/${name}`, `paths.runs=${base.paths.runs}/variants/${name}`,
    "pretrain.base=trained", // a variant trains its own base with the pretrain keys, whatever the config ships
    ...overrides,
  ]);
  const heldOut = heldoutBpcTexts();
  const pre = await trainPretrain(cfg, { log });
  const preBpc = bitsPerChar(pre.model, pre.tokenizer, heldOut);
  const sft = await trainSft(cfg, pre, { log });
  pre.model.dispose();
  const maxNew = sft.summary.eos_max_new_tokens;
  const second = sftFluency(sft.model, sft.tokenizer, maxNew, cfg.seed + 1);
  for (const g of generate(sft.model, sft.tokenizer, newPrompts().slice(0, 10), { maxNewTokens: maxNew, temperature: 1, seed: 7 })) {
    log(`  ${JSON.stringify(`${g.prompt} |${g.completion}`)}`);
  }
  return {
    model: sft.model,
    summary: {
      pretrain_seconds: pre.summary.seconds, pretrain_ms_per_step: pre.summary.ms_per_step, params: pre.summary.params,
      pretrain_val_loss: pre.summary.val_loss, sft_seconds: sft.summary.seconds, sft_val_loss: sft.summary.val_loss_after,
      fluency: sft.summary.fluency, fluency_seed2: second.share, words: second.words,
      single_token_words: singleTokenShare(sft.tokenizer, heldOut),
      pretrain_bpc: preBpc.bpc, sft_bpc: sft.summary.heldout_bpc, bpc_sentences: sft.summary.heldout_bpc_sentences,
    },
  };
}

runVariantCli({ help: HELP, refused: /^fluency variant/, run: runVariant });
