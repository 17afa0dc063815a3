export { Module, type StateDictValue } from "./module.ts";
export { Parameter } from "./parameter.ts";
export { Linear, LayerNorm, Embedding, StableEmbedding } from "./layers.ts";
export { GPT, type GPTConfig, type GPTInit, replaceEmbeddings } from "./gpt.ts";
export type { PretrainedFiles } from "./pretrained.ts";
export * as functional from "./functional.ts";
export { leaf, constant, backward, op, Var, type Vjp } from "../autograd/var.ts";
export { clipGradNorm } from "./clip.ts";
