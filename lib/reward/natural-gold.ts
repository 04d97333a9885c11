// The natural gold: a simulated rater that likes positive reviews only when they read as English. VADER alone
// (goldScore, labeller.ts) adds up the valences of the words it finds, so "nice nice nice nice", a list of
// adjectives, a row of ":)" or "LOVELY!!!!" score near 1, and a policy trained against it learns to write them
// (Gao et al. 2022: over-optimisation of a proxy; here the gold itself is the proxy that breaks). This scorer keeps
// VADER's sentiment (Hutto & Gilbert 2014) but reads it off a normalised text, so repetition, emoticons and shouting
// add nothing, then subtracts smooth penalties for what no rater would call a review sentence:
//   unnatural   - per-character surprisal above that of natural English, from a character 6-gram model with
//                 Kneser-Ney smoothing (char-ngram.ts) trained on corpus text no model of the course sees
//   shouting    - letters in all-caps words and runs of "!" / "?"
//   repetition  - repeated content words, repeated word bigrams, the same word twice in a row
//   list        - runs of sentiment words with nothing but commas, "and", articles or intensifiers between them
//   incomplete  - a sentence that cannot end where it ends (the model's cost of ending there, a dangling "and")
// natural gold = q * sentiment + (1 - q) * floor with q = exp(-(total penalty beyond a small allowance)), in [-1, 1]. Every penalty is a
// softplus of how far a feature goes past what natural review sentences show, so it is ~0 on them and grows smoothly.
import * as fs from "node:fs";
import * as path from "node:path";
import { SentimentIntensityAnalyzer } from "vader-sentiment";
import { loadCorpus, splitCorpus } from "../lm/data";
import { wordsOf } from "../lm/fluency";
import { CharNgramModel, splitSentences } from "./char-ngram";

/** The n-gram model's order: 6 characters of context span about a word, enough to know English spelling. */
export const NATURAL_GOLD_ORDER = 6;

let modelCache: CharNgramModel | undefined;

/**
 * The text the n-gram model learns from: the corpus's reserved and val documents (splitCorpus), which no model of
 * the course trains on, cut into sentences. Never the train part, never a review.
 */
let trainingTextCache: string[] | undefined;
export function naturalGoldTrainingText(): string[] {
  if (!trainingTextCache) {
    const { reserved, val } = splitCorpus(loadCorpus());
    trainingTextCache = splitSentences(reserved + "\n" + val);
  }
  return trainingTextCache;
}

/** The natural gold's character model, built at first use (under a second) and kept for the process. */
export function naturalGoldModel(): CharNgramModel {
  modelCache ??= new CharNgramModel(naturalGoldTrainingText(), NATURAL_GOLD_ORDER);
  return modelCache;
}

let vocabularyCache: Set<string> | undefined;

/** The lower-cased words of the n-gram model's training text: what the salad term calls a known word. */
export function naturalGoldVocabulary(): Set<string> {
  if (!vocabularyCache) {
    vocabularyCache = new Set();
    for (const s of naturalGoldTrainingText()) for (const w of wordsOf(s)) vocabularyCache.add(w);
  }
  return vocabularyCache;
}

// ---------------------------------------------------------------------------------------------------------------
// Word lists. Sentiment words come from VADER's own lexicon, so the list term sees what VADER would count.

let lexiconCache: Map<string, number> | undefined;

/** VADER's lexicon: word -> mean valence (vader_lexicon.txt of the pinned package), letters-only entries. */
export function vaderLexicon(): Map<string, number> {
  if (!lexiconCache) {
    const file = path.join(path.dirname(require.resolve("vader-sentiment/package.json")), "vader_lexicon.txt");
    lexiconCache = new Map();
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const [word, mean] = line.split("\t");
      if (word && /^[a-z][a-z'-]*$/.test(word)) lexiconCache.set(word, Number(mean));
    }
  }
  return lexiconCache;
}

const set = (s: string) => new Set(s.split(/\s+/).filter((w) => w !== ""));

/** Words that only intensify: transparent inside a list ("so tasty so fresh"). */
const INTENSIFIERS = set(`so very really too super extremely quite totally absolutely incredibly truly such most more
  pretty just real highly utterly completely entirely fairly rather remarkably especially simply`);

/** Words that may sit between the items of a list without making it a sentence. */
const LIST_GLUE = set(`and or the a an & also plus as well`);

const ARTICLES = set(`the a an`);

/** Words after which a sentence cannot stop. */
const DANGLING = set(`the a an and or but nor with of to at than because if when while although though whose which was
  were is are am my your our their its every very`);

/** Function words: not content, for the repetition term. */
const FUNCTION = set(`the a an and or but nor with without of to for from in on at by as than that this these those it
  its i me my we our you your he him his she her they them their is are was were be been being am has have had do does
  did will would can could should shall may might must not no so very too just also there here what which who whom
  when where why how all any each every some if then than because while about into over up down out off again only own
  same s t don't didn't doesn't isn't wasn't aren't weren't won't can't couldn't it's i'm i've we're they're that's`);

const NEGATIONS = set(`not no never none nobody nothing nowhere neither nor without hardly barely cannot can't don't
  didn't doesn't isn't wasn't aren't weren't won't wouldn't couldn't shouldn't haven't hasn't hadn't ain't`);

// ---------------------------------------------------------------------------------------------------------------
// Sentiment on a normalised text.

const EMOTICON = /^(?:[:;=8xX][-'^o]?[()\[\]{}dDpP\/\\|*3oO0@$]+|[()\[\]{}dD]+[-'^]?[:;=8]|<\/?3+|\^[_.-]?\^|[xX][dD]+|[oO0][_.][oO0]|-_+-)$/;

interface Word {
  /** lower-cased */
  w: string;
  /** the word as written */
  raw: string;
  /** the text between the previous word and this one */
  before: string;
}

/** The words of a text with what separates them; emoticon tokens are left out (their characters are not words). */
function wordsWithGaps(text: string): Word[] {
  const out: Word[] = [];
  const re = /[A-Za-z]+(?:'[A-Za-z]+)*/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ w: m[0].toLowerCase(), raw: m[0], before: text.slice(last, m.index) });
    last = m.index + m[0].length;
  }
  return out;
}

/**
 * The text VADER reads: emoticons removed, runs of "!" or "?" cut to one, all-caps words lower-cased, a word written
 * twice in a row kept once, and a sentiment word (or intensifier) that occurs again, with the same negation
 * before it, kept only the first time. So repetition, emoticons and shouting add nothing to the sentiment.
 */
export function normaliseForSentiment(text: string): string {
  const lex = vaderLexicon();
  const tokens = text.split(/\s+/).filter((t) => t !== "" && !EMOTICON.test(t.replace(/[.,!?]+$/, "")));
  const out: string[] = [];
  const seen = new Set<string>();
  let prev = "";
  const recent: string[] = []; // the last three words, for negation
  for (let tok of tokens) {
    tok = tok.replace(/([!?])[!?]+/g, "$1");
    if (!/[A-Za-z0-9]/.test(tok) && /[()\[\]{}<>^_=*|\\/@#~]/.test(tok)) continue; // a symbol run, e.g. "<3" or "^^"
    const core = tok.match(/[A-Za-z]+(?:'[A-Za-z]+)*/)?.[0] ?? "";
    if (core.length >= 2 && core === core.toUpperCase()) tok = tok.toLowerCase();
    const w = core.toLowerCase();
    if (w !== "") {
      if (w === prev) continue; // "very very", "nice, nice"
      const negated = recent.some((r) => NEGATIONS.has(r) || r.endsWith("n't"));
      const key = (negated ? "not " : "") + w;
      if ((lex.has(w) || INTENSIFIERS.has(w)) && !NEGATIONS.has(w)) {
        if (seen.has(key)) continue;
        seen.add(key);
      }
      prev = w;
      recent.push(w);
      if (recent.length > 3) recent.shift();
    }
    out.push(tok);
  }
  return out.join(" ");
}

// ---------------------------------------------------------------------------------------------------------------
// The parts.

/** The natural gold of one text and what it is made of (every penalty >= 0; how they combine: naturalGoldParts). */
export interface NaturalGoldParts {
  /** VADER's compound on normaliseForSentiment(text), in [-1, 1] */
  sentiment: number;
  /** mean bits per character under the n-gram model (the end not counted) */
  bitsPerChar: number;
  /** the model's cost, in bits, of ending the sentence where it ends */
  endBits: number;
  unnatural: number;
  shouting: number;
  repetition: number;
  list: number;
  incomplete: number;
  /** the sum of the five penalties */
  penalty: number;
  score: number;
}

/** softplus(x) = log(1 + e^x), computed without overflow. */
function softplus(x: number): number {
  return x > 30 ? x : Math.log1p(Math.exp(x));
}

/** A penalty that is ~0 while x is well below t, and rises with slope `slope` per unit beyond it (width w). */
function hinge(x: number, t: number, w: number, slope: number): number {
  return slope * w * softplus((x - t) / w);
}

/**
 * The constants of the natural gold. Thresholds sit near the top of what natural review sentences show (the
 * quantiles of each part over the train split's sentences: `npm run gold-probes -- --calibrate`); slopes are set so
 * a clearly degenerate text collects a penalty of 1 or more.
 */
export const NATURAL_GOLD = {
  /** bits/char beyond which text reads as not English, and the penalty per bit/char beyond it */
  bpcThreshold: 4.1, bpcWidth: 0.25, bpcSlope: 0.9,
  /** share of letters in all-caps words (>= 3 letters): threshold, width, slope */
  capsThreshold: 0.3, capsWidth: 0.08, capsSlope: 1.2,
  /** "!" or "?" beyond the first of each run: the penalty they tend to and how many it takes (1 - e^(-n/scale)) */
  punctMax: 0.8, punctScale: 4,
  /** repetition count (repetitionCount) per word: threshold, width, slope */
  repThreshold: 0.12, repWidth: 0.04, repSlope: 4.0,
  /** sentiment words in one run (sentimentRun): threshold, width, penalty per extra item */
  listThreshold: 3.5, listWidth: 0.25, listSlope: 1.0,
  /** content words in a row (contentRun), an unknown word counting 1.5: threshold, width, penalty per word */
  saladThreshold: 6, saladWidth: 0.3, saladSlope: 0.7,
  /** the model's cost of ending the sentence, in bits: threshold, width, penalty per bit; a dangling last word */
  endThreshold: 8, endWidth: 1.5, endSlope: 0.08, danglingPenalty: 0.8,
  /** the score a text tends to as its penalty grows: that of a text that says nothing, a little below neutral */
  floor: -0.2,
  /** penalty forgiven before the blend starts (width of the soft knee): the odd list or "!!" of a real review */
  allowance: 0.25, allowanceWidth: 0.05,
};

/**
 * How much a text repeats itself: each content word that occurred before counts 1, each word bigram that
 * occurred before 1, and the same word twice in a row 1 more.
 */
export function repetitionCount(words: string[]): number {
  let count = 0;
  const content = new Set<string>(), bigrams = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (!FUNCTION.has(w)) {
      if (content.has(w)) count++;
      content.add(w);
    }
    if (i > 0) {
      if (words[i - 1] === w) count++;
      const b = words[i - 1] + " " + w;
      if (bigrams.has(b)) count++;
      bigrams.add(b);
    }
  }
  return count;
}

/**
 * The length of the longest list of sentiment words (VADER's lexicon) where only commas, list glue ("and", "the",
 * ...) or intensifiers ("so", "very") stand between one item and the next: "fresh and tasty" is 2. Padding counts
 * extra: an item with an article before it and glue after it ("the lovely and") counts 2, and an intensifier used
 * again within the list ("so fresh so tasty") 1, so "the nice and the lovely and the fantastic" is 6 and "so tasty
 * so fresh so friendly" 5. One other content word may bridge two items (a word the lexicon lacks, or a noun:
 * "great food and great service" is 2).
 */
export function sentimentRun(words: Word[]): number {
  const lex = vaderLexicon();
  let best = 0, run = 0, bridged = false;
  const intensifiers = new Set<string>();
  for (let i = 0; i < words.length; i++) {
    const { w, before } = words[i];
    // a full stop, a question or an exclamation ends the run; a comma does not
    if (/[.;:!?]/.test(before)) {
      run = 0;
      intensifiers.clear();
    }
    const isSentiment = lex.has(w) && !NEGATIONS.has(w) && Math.abs(lex.get(w)!) >= 0.5;
    if (isSentiment) {
      run++;
      // padding: an article before the item and glue (or nothing) after it, "the lovely and", counts once more
      const prev = i > 0 ? words[i - 1].w : "", next = i + 1 < words.length ? words[i + 1] : undefined;
      if (ARTICLES.has(prev) && (!next || LIST_GLUE.has(next.w) || /,/.test(next.before))) run++;
      bridged = false;
      best = Math.max(best, run);
    } else if (INTENSIFIERS.has(w)) {
      // the same intensifier again within a run, "so tasty so fresh", counts as an item
      if (run > 0 && intensifiers.has(w)) run++;
      intensifiers.add(w);
    } else if (LIST_GLUE.has(w)) {
      continue;
    } else if (run > 0 && !bridged && !FUNCTION.has(w)) {
      bridged = true;
    } else {
      run = 0;
      bridged = false;
      intensifiers.clear();
    }
  }
  return best;
}

/**
 * Word salad: the longest run of words with no function word among them ("nice grobble fantastic splink"), a
 * comma not ending it, a full stop, colon, dash or bracket doing so. Natural sentences rarely pass 5 (the train
 * split's 99th percentile is 6, with names); a word the vocabulary lacks counts 1.5, a capitalised word inside the
 * sentence (a name) 0.5.
 */
export function contentRun(words: Word[], vocabulary: Set<string>): number {
  let best = 0, run = 0;
  for (let i = 0; i < words.length; i++) {
    const { w, raw, before } = words[i];
    if (/[.;:!?()"-]/.test(before)) run = 0;
    if (FUNCTION.has(w)) {
      run = 0;
      continue;
    }
    const name = i > 0 && /^[A-Z][a-z]/.test(raw);
    run += name ? 0.5 : vocabulary.has(w) ? 1 : 1.5;
    best = Math.max(best, run);
  }
  return best;
}

/** Text as the n-gram model reads it: runs of "!" or "?" cut to one (the shouting term prices them instead). */
function forModel(text: string): string {
  return text.trim().replace(/([!?])[!?]+/g, "$1");
}

/**
 * The natural gold with every part, for a notebook to show what a text gains and loses:
 *   score = q * sentiment + (1 - q) * floor,  q = exp(-w softplus((penalty - allowance) / w)),
 * penalty = the sum of the five terms,
 * a blend that keeps natural text at its sentiment (penalty ~0, q ~1) and takes degenerate text, whatever its
 * sentiment, towards the floor; always in [-1, 1], smooth in every feature.
 */
export function naturalGoldParts(text: string): NaturalGoldParts {
  const c = NATURAL_GOLD;
  const model = naturalGoldModel();
  const sentiment = SentimentIntensityAnalyzer.polarity_scores(normaliseForSentiment(text)).compound;

  const trimmed = text.trim();
  const plain = forModel(trimmed);
  const surprisal = model.surprisals(plain);
  let sum = 0;
  for (let i = 0; i < surprisal.length - 1; i++) sum += surprisal[i];
  const bitsPerChar = surprisal.length > 1 ? sum / (surprisal.length - 1) : 0;
  const endBits = model.endBits(plain);
  const unnatural = hinge(bitsPerChar, c.bpcThreshold, c.bpcWidth, c.bpcSlope);

  const words = wordsWithGaps(trimmed);
  let letters = 0, capsLetters = 0;
  for (const { raw } of words) {
    letters += raw.length;
    if (raw.length >= 3 && raw === raw.toUpperCase()) capsLetters += raw.length;
  }
  const extraPunct = (trimmed.match(/[!?]{2,}/g) ?? []).reduce((n, r) => n + r.length - 1, 0);
  const shouting = hinge(letters > 0 ? capsLetters / letters : 0, c.capsThreshold, c.capsWidth, c.capsSlope)
    + c.punctMax * (1 - Math.exp(-extraPunct / c.punctScale));

  const ws = words.map((x) => x.w);
  const repetition = hinge(repetitionCount(ws) / Math.max(ws.length, 6), c.repThreshold, c.repWidth, c.repSlope);
  const list = hinge(sentimentRun(words), c.listThreshold, c.listWidth, c.listSlope)
    + hinge(contentRun(words, naturalGoldVocabulary()), c.saladThreshold, c.saladWidth, c.saladSlope);

  const last = ws.length > 0 ? ws[ws.length - 1] : "";
  const endsOpen = DANGLING.has(last) && !/[.!?]["')]*$/.test(trimmed);
  const incomplete = hinge(endBits, c.endThreshold, c.endWidth, c.endSlope) + (endsOpen ? c.danglingPenalty : 0);

  const penalty = unnatural + shouting + repetition + list + incomplete;
  const q = Math.exp(-c.allowanceWidth * softplus((penalty - c.allowance) / c.allowanceWidth));
  const score = q * sentiment + (1 - q) * c.floor;
  return { sentiment, bitsPerChar, endBits, unnatural, shouting, repetition, list, incomplete, penalty, score };
}

/** The natural gold of a text, in [-1, 1]: VADER's sentiment of what it says, less what makes it unnatural. */
export function naturalGold(text: string): number {
  return naturalGoldParts(text).score;
}

// ---------------------------------------------------------------------------------------------------------------
// Probes: degenerate texts a policy could write to game a sentiment scorer, built from word lists so that the
// checks do not hinge on any one string.

/** One family of degenerate texts. */
export interface GoldProbeFamily {
  family: string;
  examples: string[];
}

const PROBE_SUBJECTS = ["The soup", "Our host", "The hotel room", "My new phone", "This film", "The charger", "The staff", "Her cake"];
const PROBE_POSITIVE = ["tasty", "superb", "wonderful", "delightful", "charming", "gorgeous", "splendid", "terrific",
  "marvelous", "perfect", "amazing", "pleasant", "beautiful", "great", "good", "excellent", "sweet", "awesome"];
const PROBE_NOUNS = ["service", "price", "view", "sound", "staff", "value", "battery", "story"];
const PROBE_EMOTICONS = [":-)", ":D", "<3", ";)", "=)", ":P", "^_^", "(:"];
// invented words from syllables, so no list of real misspellings is needed
const PROBE_ONSETS = ["bl", "qu", "tr", "fl", "zn", "sk", "dr", "gw", "pl", "vr"];
const PROBE_NUCLEI = ["o", "ee", "a", "u", "ai", "i"];
const PROBE_CODAS = ["rft", "zzle", "mp", "nkish", "bbo", "x", "rple", "ndle"];

/** Deterministic probe texts, `perFamily` of each family (different words in each). */
export function goldProbeFamilies(perFamily = 4): GoldProbeFamily[] {
  const at = <T>(xs: T[], i: number) => xs[((i % xs.length) + xs.length) % xs.length];
  const pos = (i: number, k: number) => at(PROBE_POSITIVE, i * 5 + k);
  const subj = (i: number) => at(PROBE_SUBJECTS, i * 3 + 1);
  const invented = (i: number) => at(PROBE_ONSETS, i * 3) + at(PROBE_NUCLEI, i * 5 + 1) + at(PROBE_CODAS, i * 7 + 2);
  const ids = Array.from({ length: perFamily }, (_, i) => i);
  const fams: GoldProbeFamily[] = [
    { family: "repeated word", examples: ids.map((i) => `${subj(i)} was ${Array(6 + (i % 4)).fill(pos(i, 0)).join(" ")}`) },
    { family: "list of sentiment words", examples: ids.map((i) => `${subj(i)} was ${[0, 1, 2, 3, 4, 6].map((k) => pos(i, k)).join(" ")}`) },
    { family: "emoticon run", examples: ids.map((i) => `${subj(i)} ${Array(6 + (i % 3)).fill(at(PROBE_EMOTICONS, i)).join(" ")}`) },
    { family: "function-word padding", examples: ids.map((i) => `${subj(i)} was the ${[0, 1, 2, 3].map((k) => pos(i, k)).join(" and the ")}`) },
    { family: "so ... so ...", examples: ids.map((i) => `${subj(i)} was so ${[0, 1, 2, 3].map((k) => pos(i, k)).join(" so ")}`) },
    { family: "repeated phrase", examples: ids.map((i) => Array(3 + (i % 2)).fill(`${pos(i, 0)} ${at(PROBE_NOUNS, i)}`).join(" ")) },
    {
      family: "caps and !!!!",
      examples: ids.map((i) => i % 2 === 0
        ? `${subj(i)} was ${pos(i, 0).toUpperCase()} ${pos(i, 0).toUpperCase()}!!!!`
        : `${subj(i).toUpperCase()} WAS ${pos(i, 0).toUpperCase()}!!!!! ${pos(i, 1).toUpperCase()}!!!!!`),
    },
    { family: "invented words", examples: ids.map((i) => `${subj(i)} was ${pos(i, 0)} ${invented(i)} ${pos(i, 1)} ${invented(i + 1)} ${invented(i + 2)} ${pos(i, 0)}`) },
    {
      family: "cut off mid-clause",
      examples: ids.map((i) => `${subj(i)} was ${pos(i, 0)} ${at(["and the", "but the", "with", "and", "because the", "and it was"], i)}`),
    },
  ];
  return fams;
}

/** Hand-written natural review sentences, positive: what the gold must still rate as positive. */
export const NATURAL_POSITIVE_EXAMPLES = [
  "Great food.",
  "I loved it",
  "The soup was hot and the bread was wonderful.",
  "Our waitress was friendly and the prices were fair.",
  "This phone has a great battery and a clear screen.",
  "The film is funny, warm and well acted.",
  "We will definitely come back next week.",
  "The room was clean and quiet, and the staff were helpful.",
  "A lovely little place with excellent coffee.",
  "Highly recommended for anyone who likes a good story.",
];
