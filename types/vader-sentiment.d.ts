// vader-sentiment@1.1.3 ships no types. Only what lib/reward/labeller.ts uses is declared.
declare module "vader-sentiment" {
  export interface PolarityScores {
    neg: number;
    neu: number;
    pos: number;
    /** Normalised sum of the valences, in [-1, 1]. */
    compound: number;
  }
  export const SentimentIntensityAnalyzer: {
    polarity_scores(text: string): PolarityScores;
  };
}
