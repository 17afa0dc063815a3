// Tokenizers: the character tokenizer of the small GPT, lossless bytes, and (src/data/bpe.ts) GPT-2's
// byte-level BPE. Every tokenizer returns u32 ids, which is what the model's inputs are end to end.
//
// The default is `charTokenizer`: printable ASCII plus newline, 96 ids. Why not bytes (256 ids)?
// The State of the Union corpus is ASCII but for ~700 characters in 10.8 M (curly quotes, dashes,
// a few accents, one stray control byte), so a byte vocabulary would spend 160 output logits on
// bytes that (almost) never occur and split each "—" into three tokens; the output layer and the
// softmax are the costly part of a tiny model on a CPU-backed WebGPU device. Normalising those few
// characters to ASCII loses nothing a small model could learn. `byteTokenizer` (lossless UTF-8)
// is kept for text that is not English prose.

export interface Tokenizer {
  /** What a checkpoint records ("char96", "byte256", "gpt2"); `tokenizerFromRecord` finds it again. */
  readonly name: string;
  readonly vocabSize: number;
  /** Token ids, each < vocabSize. */
  encode(text: string): Uint32Array;
  decode(ids: ArrayLike<number>): string;
}

/** What a checkpoint stores about the tokenizer a model was trained with. */
export interface TokenizerRecord {
  name: string;
  vocabSize: number;
}

export const tokenizerRecord = (t: Tokenizer): TokenizerRecord => ({ name: t.name, vocabSize: t.vocabSize });

// id 0 is "\n"; ids 1..95 are " " (0x20) .. "~" (0x7e).
const FIRST_PRINTABLE = 0x20;
const LAST_PRINTABLE = 0x7e;
const NEWLINE_ID = 0;

/** Non-ASCII characters worth spelling out rather than turning into "?". */
const REPLACEMENTS: Record<string, string> = {
  "\u2018": "'", "\u2019": "'", "\u201b": "'", "\u2032": "'", // ‘ ’ ‛ ′
  "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', // “ ” „ ″
  "\u2014": "--", // — em dash: the older addresses already write it "--"
  "\u2013": "-", "\u2011": "-", "\u2010": "-", "\u2012": "-", "\u2212": "-", // – ‑ ‐ ‒ −
  "\u2026": "...", "\u2022": "*", "\u00b0": " degrees", "\u2044": "/", // … • ° ⁄
  "\u00a0": " ", "\t": " ",
};

/**
 * Map text onto the 96-symbol alphabet: CRLF/CR -> LF, the REPLACEMENTS table, accents stripped
 * (NFKD then drop combining marks: "á" -> "a"), other control characters dropped (the corpus has
 * one stray U+0002), anything else left over -> "?".
 */
export function normalizeText(text: string): string {
  const unified = text.replace(/\r\n?/g, "\n").normalize("NFKD");
  let out = "";
  for (const ch of unified) {
    const code = ch.codePointAt(0)!;
    if (code === 0x0a || (code >= FIRST_PRINTABLE && code <= LAST_PRINTABLE)) out += ch;
    else if (ch in REPLACEMENTS) out += REPLACEMENTS[ch];
    else if (/\p{M}/u.test(ch) || /\p{Cc}/u.test(ch)) continue; // combining mark, control char
    else out += "?";
  }
  return out;
}

export const charTokenizer: Tokenizer = {
  name: "char96",
  vocabSize: 1 + (LAST_PRINTABLE - FIRST_PRINTABLE + 1),
  encode(text) {
    const normalized = normalizeText(text);
    const ids = new Uint32Array(normalized.length); // all ASCII now: one UTF-16 unit per char
    for (let i = 0; i < normalized.length; i++) {
      const code = normalized.charCodeAt(i);
      ids[i] = code === 0x0a ? NEWLINE_ID : code - FIRST_PRINTABLE + 1;
    }
    return ids;
  },
  decode(ids) {
    let out = "";
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= 96) throw new RangeError(`charTokenizer.decode: id ${id} at ${i} is outside 0..95`);
      out += id === NEWLINE_ID ? "\n" : String.fromCharCode(id - 1 + FIRST_PRINTABLE);
    }
    return out;
  },
};

/** Lossless UTF-8 bytes. Decoding a window cut mid-character yields U+FFFD for the broken bytes. */
export const byteTokenizer: Tokenizer = {
  name: "byte256",
  vocabSize: 256,
  encode: (text) => Uint32Array.from(new TextEncoder().encode(text)),
  decode(ids) {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id > 255) throw new RangeError(`byteTokenizer.decode: id ${id} at ${i} is outside 0..255`);
    }
    return new TextDecoder().decode(Uint8Array.from(ids));
  },
};

// --- by name --------------------------------------------------------------------------------------------
/** The tokenizers `--tokenizer` offers (and `byte`), by their command-line name. */
const BY_CHOICE: Record<string, () => Promise<Tokenizer>> = {
  char: async () => charTokenizer,
  byte: async () => byteTokenizer,
  gpt2: async () => (await import("./bpe.ts")).gpt2Tokenizer,
};
/** Recorded name (Tokenizer.name) -> command-line name. */
const CHOICE_OF: Record<string, string> = { char96: "char", byte256: "byte", gpt2: "gpt2" };

export const TOKENIZER_CHOICES = ["char", "gpt2", "byte"] as const;
export type TokenizerChoice = (typeof TOKENIZER_CHOICES)[number];

/** The tokenizer for a command-line name ("char", "gpt2", "byte") or a recorded one ("char96", ...). */
export async function loadTokenizer(name: string): Promise<Tokenizer> {
  const load = BY_CHOICE[name] ?? BY_CHOICE[CHOICE_OF[name] ?? ""];
  if (!load) throw new Error(`unknown tokenizer "${name}"; valid: ${TOKENIZER_CHOICES.join(", ")}`);
  return load();
}

/** The command-line name of a tokenizer ("char" for char96). */
export const tokenizerChoice = (t: Tokenizer | TokenizerRecord): string => CHOICE_OF[t.name] ?? t.name;

/** The tokenizer a checkpoint recorded, checked to have the vocabulary it recorded. */
export async function tokenizerFromRecord(rec: TokenizerRecord, where: string): Promise<Tokenizer> {
  let t: Tokenizer;
  try {
    t = await loadTokenizer(rec.name);
  } catch (e) {
    throw new Error(`${where}: the checkpoint's tokenizer "${rec.name}" is not one octet has (${(e as Error).message})`);
  }
  if (t.vocabSize !== rec.vocabSize) throw new Error(`${where}: the checkpoint records tokenizer ${rec.name} with ${rec.vocabSize} ids, but ${rec.name} has ${t.vocabSize}`);
  return t;
}
