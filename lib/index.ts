// The course's public API: what the notebooks and the pipeline import. Each module owns one responsibility;
// add a module's line here when it lands.
export * from "./backend";
export * from "./config";
export * from "./rng";
export * from "./data";
export * from "./metrics";
export * from "./model";
export * from "./labeller";
export * from "./kl";
export * from "./gae";
export * from "./ppo";
export * from "./reward";
export * from "./rollout";
export * from "./packing";
export * from "./preferences";
export * from "./ppo_update";
export * from "./rlhf";
export * from "./ablation";
