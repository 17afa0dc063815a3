// What `npm run sample` and the end of `npm run train` share: encode a prompt, generate from the GPT, and
// stream the continuation as text.
import type { Tokenizer } from "../data/tokenizer.ts";
import type { GPT } from "../nn/gpt.ts";
import type { GenerateOptions } from "../nn/generate.ts";

export interface Continuation {
  text: string;
  ids: Uint32Array;
  promptTokens: number;
  msPerToken: number;
}

/**
 * The prompt's ids: its encoding, or where the prompt is empty, what the model starts documents from
 * (GPT-2's <|endoftext|>; a newline for the character tokenizers, which have no special ids).
 */
export async function promptIds(tokenizer: Tokenizer, prompt: string): Promise<Uint32Array> {
  if (prompt !== "") return tokenizer.encode(prompt);
  if (tokenizer.name === "gpt2") return Uint32Array.of((await import("../data/bpe.ts")).GPT2_END_OF_TEXT);
  return tokenizer.encode("\n");
}

/**
 * Continues `prompt` by up to `maxNewTokens` (fewer when the context is shorter: the number used is
 * returned in ids.length), writing the text to `write` as it is sampled.
 */
export async function continueText(
  model: GPT, tokenizer: Tokenizer, prompt: string, opts: GenerateOptions, write: (s: string) => void = () => {},
): Promise<Continuation> {
  const ids = await promptIds(tokenizer, prompt);
  const room = model.config.contextLength - ids.length;
  if (room < 1) throw new Error(`the prompt is ${ids.length} tokens; the model's context holds ${model.config.contextLength}, so nothing can follow it`);
  const maxNewTokens = Math.min(opts.maxNewTokens, room);
  const got: number[] = [];
  let shown = "";
  const t0 = performance.now();
  let first = 0;
  const out = await model.generate(ids, {
    ...opts,
    maxNewTokens,
    onToken: (id, i) => {
      if (i === 0) first = performance.now();
      got.push(id);
      // Byte-level BPE can split one character over tokens: show text only once it extends what was shown.
      const text = tokenizer.decode(got);
      if (text.startsWith(shown) && !text.endsWith("\ufffd")) {
        write(text.slice(shown.length));
        shown = text;
      }
      opts.onToken?.(id, i);
    },
  });
  const text = tokenizer.decode(out);
  if (text.length > shown.length && text.startsWith(shown)) write(text.slice(shown.length));
  // The prompt's steps and the first token's compiles are not a token's cost: time from the first token on.
  const msPerToken = out.length > 1 ? (performance.now() - first) / (out.length - 1) : performance.now() - t0;
  return { text, ids: out, promptTokens: ids.length, msPerToken };
}
