// Tokenizers for a small character-level GPT.
//
// The default is `charTokenizer`: printable ASCII plus newline, 96 ids. Why not bytes (256 ids)?
// The State of the Union corpus is ASCII but for ~700 characters in 10.8 M (curly quotes, dashes,
// a few accents, one stray control byte), so a byte vocabulary would spend 160 output logits on
// bytes that (almost) never occur and split each "—" into three tokens; the output layer and the
// softmax are the costly part of a tiny model on a CPU-backed WebGPU device. Normalising those few
// characters to ASCII loses nothing a small model could learn. `byteTokenizer` (lossless UTF-8)
// is kept for text that is not English prose.

export interface Tokenizer {
  readonly name: string;
  readonly vocabSize: number;
  /** Token ids, each < vocabSize (so they fit a Uint8Array: both vocabularies are <= 256). */
  encode(text: string): Uint8Array;
  decode(ids: ArrayLike<number>): string;
}

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
    const ids = new Uint8Array(normalized.length); // all ASCII now: one UTF-16 unit per char
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
  encode: (text) => new TextEncoder().encode(text),
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids)),
};
