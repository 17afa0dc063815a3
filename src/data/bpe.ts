// GPT-2's byte-level BPE (Radford et al. 2019; 50257 ids: 256 byte tokens, 50000 merges, <|endoftext|>),
// from js-tiktoken, which ships the ranks in the package and so works offline. The ranks are ~1 MB of
// text: this module is imported lazily (`loadTokenizer("gpt2")`) so the character model never pays for it,
// and the encoder itself is built on first use (~80 ms).
import { Tiktoken } from "js-tiktoken/lite";
import gpt2Ranks from "js-tiktoken/ranks/gpt2";
import type { Tokenizer } from "./tokenizer.ts";

export const GPT2_VOCAB_SIZE = 50257;
/** <|endoftext|>, the id GPT-2 puts between documents. */
export const GPT2_END_OF_TEXT = 50256;

let encoder: Tiktoken | undefined;
const bpe = (): Tiktoken => (encoder ??= new Tiktoken(gpt2Ranks));

export const gpt2Tokenizer: Tokenizer = {
  name: "gpt2",
  vocabSize: GPT2_VOCAB_SIZE,
  encode(text) {
    // No special tokens: "<|endoftext|>" inside a text is text (tiktoken would otherwise throw on it), so
    // decode(encode(s)) === s for every string.
    return Uint32Array.from(bpe().encode(text, [], []));
  },
  decode(ids) {
    const list: number[] = new Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= GPT2_VOCAB_SIZE) throw new RangeError(`gpt2Tokenizer.decode: id ${id} at ${i} is outside 0..${GPT2_VOCAB_SIZE - 1}`);
      list[i] = id;
    }
    return bpe().decode(list);
  },
};
