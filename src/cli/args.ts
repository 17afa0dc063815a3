// The one command-line layer of `train`, `compare`, `sample`, `kernels` and `bench`: each command declares its
// flags in a table (name -> kind, default, one line of meaning), and this file turns the table into node:util's
// strict parseArgs, converts and checks every value with zod, and prints `--help` from the same table, so a
// flag cannot exist without its help line. A usage error exits 2 with a message naming the flag; --help exits 0.
//
//   const TRAIN = defineCommand({ name: "train", summary: "...", flags: { steps: flag.int("optimizer steps", { default: 300 }) } });
//   const { values } = parseCommand(TRAIN, process.argv.slice(2)); // values.steps: number
import { existsSync } from "node:fs";
import { parseArgs } from "node:util";
import { z } from "zod";
import { noAdapterHelp, NoAdapterError } from "../runtime/adapter-help.ts";

/** One flag of a command: how its text becomes a value, its default and what it means. */
export interface Flag<T = unknown> {
  /** "boolean" takes no value (`--resume`); the others take one (`--steps 20` or `--steps=20`). */
  type: "string" | "boolean";
  /** Checks and converts the flag's text (or `true` for a boolean flag). */
  schema: z.ZodType<T>;
  /** One line: what the flag does. */
  doc: string;
  /** The value when the flag is not given (undefined: unset, the command decides). */
  default?: T;
  /** How --help shows the default when it is not a plain value ("the arch's", "runs/<name>"). */
  defaultText?: string;
  /** The value's placeholder in --help: `--steps N`. */
  placeholder?: string;
  /** The allowed values, listed by --help. */
  choices?: readonly string[];
  short?: string;
}

export type Flags = Record<string, Flag>;

export interface Command<F extends Flags = Flags> {
  /** As the user types it: "train", "bench optim". */
  name: string;
  /** How to run it, e.g. "npm run train -- [flags]". */
  usage: string;
  /** One paragraph on what it does. */
  summary: string;
  flags: F;
  /** Positional arguments: their placeholder and meaning (none when absent: a positional is a usage error). */
  positionals?: { placeholder: string; doc: string };
  /** Lines after the flag list (examples, environment knobs). */
  epilog?: string;
}

type ValueOf<F> = F extends Flag<infer T> ? (F extends { default: unknown } ? (undefined extends F["default"] ? T | undefined : T) : T | undefined) : never;
export type Values<F extends Flags> = { [K in keyof F]: ValueOf<F[K]> };

/** A mistake in how a command was called: exit status 2, the message names the flag. */
export class UsageError extends Error {}

// ---------------------------------------------------------------------------------------------------------
// Flag constructors. Numbers are written by people: "3e-3", "20", "0x10"; Number() reads them, and an empty or
// non-numeric text is refused by name, never read as 0 or NaN.

interface FlagOptions<T> {
  default?: T;
  defaultText?: string;
  placeholder?: string;
  short?: string;
}

const numberText = z.string().trim().min(1, "expected a number").transform((s, ctx) => {
  const v = Number(s);
  if (!Number.isFinite(v)) ctx.addIssue({ code: "custom", message: "expected a number" });
  return v;
});

function make<T, O extends FlagOptions<T>>(type: Flag["type"], schema: z.ZodType<T>, doc: string, o: O, extra: Partial<Flag<T>> = {}): Flag<T> & O {
  return { type, schema, doc, ...extra, ...o };
}

export const flag = {
  /** Any text. */
  string: <O extends FlagOptions<string>>(doc: string, o: O = {} as O) => make("string", z.string(), doc, o, { placeholder: "TEXT" }),
  /** A whole number, at least `min` (default 1). */
  int: <O extends FlagOptions<number> & { min?: number }>(doc: string, o: O = {} as O) =>
    make("string", numberText.pipe(z.number().int("expected a whole number").min(o.min ?? 1, `must be at least ${o.min ?? 1}`)), doc, o, { placeholder: "N" }),
  /** A number greater than 0 (`positive`) or any finite number. */
  number: <O extends FlagOptions<number> & { positive?: boolean; min?: number }>(doc: string, o: O = {} as O) => {
    let n = z.number();
    if (o.positive) n = n.positive("must be greater than 0");
    if (o.min !== undefined) n = n.min(o.min, `must be at least ${o.min}`);
    return make("string", numberText.pipe(n), doc, o, { placeholder: "X" });
  },
  /** One of a fixed set of names. */
  choice: <const C extends readonly [string, ...string[]], O extends FlagOptions<C[number]> = FlagOptions<C[number]>>(choices: C, doc: string, o: O = {} as O) =>
    make<C[number], O>("string", z.string().refine((s) => choices.includes(s), { message: `expected one of ${choices.join(", ")}` }) as unknown as z.ZodType<C[number]>, doc, o, { placeholder: "NAME", choices }),
  /** A comma-separated list of names. */
  list: <O extends FlagOptions<string[]>>(doc: string, o: O = {} as O) =>
    make("string", z.string().transform((s) => s.split(",").map((x) => x.trim()).filter(Boolean)), doc, o, { placeholder: "A,B" }),
  /** A switch without a value: `--resume` (false unless given). */
  boolean: <O extends Omit<FlagOptions<boolean>, "placeholder" | "default">>(doc: string, o: O = {} as O) => make("boolean", z.boolean(), doc, { ...o, default: false as boolean }),
};

/** `--help`, which every command has. */
const HELP: Flag<boolean> = flag.boolean("show this help (every flag, its default and meaning) and exit", { short: "h" });

export function defineCommand<const F extends Flags>(c: Command<F>): Command<F> {
  if ("help" in c.flags) throw new Error(`defineCommand ${c.name}: --help is every command's own; do not declare it`);
  for (const k of Object.keys(c.flags)) if (!/^[a-z][a-z0-9-]*$/.test(k)) throw new Error(`defineCommand ${c.name}: flag "${k}" is not kebab-case`);
  return c;
}

// ---------------------------------------------------------------------------------------------------------

/** Parses `argv` against the command's table; throws UsageError (naming the flag) on any mistake. */
export function parseArgv<F extends Flags>(c: Command<F>, argv: string[]): { values: Values<F>; positionals: string[]; help: boolean } {
  const all: Flags = { ...c.flags, help: HELP };
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: !!c.positionals,
      options: Object.fromEntries(Object.entries(all).map(([k, f]) => [k, { type: f.type, ...(f.short ? { short: f.short } : {}) }])),
    });
  } catch (e) {
    throw new UsageError(explainParseError(c, e as Error & { code?: string }));
  }
  if (parsed.values.help) return { values: {} as Values<F>, positionals: [], help: true };
  const values: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(c.flags)) {
    const raw = parsed.values[k];
    if (raw === undefined) {
      values[k] = f.default;
      continue;
    }
    const r = f.schema.safeParse(raw);
    if (!r.success) {
      const msg = r.error.issues[0]?.message ?? "invalid value";
      const shown = typeof raw === "string" ? JSON.stringify(raw) : "";
      throw new UsageError(shown && !msg.includes(shown) ? `--${k} ${shown}: ${msg}` : `--${k}: ${msg}`);
    }
    values[k] = r.data;
  }
  return { values: values as Values<F>, positionals: parsed.positionals, help: false };
}

function explainParseError(c: Command, e: Error & { code?: string }): string {
  const m = /'(-{1,2}[^' ]+)/.exec(e.message);
  const given = m?.[1];
  switch (e.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION": {
      const near = given ? closest(given.replace(/^-+/, ""), Object.keys(c.flags)) : undefined;
      return `unknown flag ${given ?? ""}${near ? ` (did you mean --${near}?)` : ""}`;
    }
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = /--([a-z0-9-]+)/.exec(e.message)?.[1];
      const f = name ? c.flags[name] : undefined;
      // parseArgs reads `--lr -1` as a flag without its value followed by a flag "-1".
      if (f?.type === "string") return `--${name} needs a value (--${name} ${f.placeholder ?? "VALUE"}; a value starting with "-" is written --${name}=-1)`;
      return `--${name ?? "?"} takes no value`;
    }
    case "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL":
      return `unexpected argument ${/'([^']*)'/.exec(e.message)?.[1] ?? ""} (this command takes only flags)`.replace("  ", " ");
    default:
      return e.message;
  }
}

/** The flag nearest to a mistyped one (edit distance at most 2), for "did you mean". */
function closest(word: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 3;
  for (const n of names) {
    const d = editDistance(word, n);
    if (d < bestD) (best = n), (bestD = d);
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]++;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

// ---------------------------------------------------------------------------------------------------------

/** The --help text: usage, summary, then one line per flag with its default. */
export function helpText(c: Command): string {
  const rows = Object.entries({ ...c.flags, help: HELP }).map(([k, f]) => {
    const left = `${f.short ? `-${f.short}, ` : "    "}--${k}${f.type === "string" ? ` ${f.placeholder ?? "VALUE"}` : ""}`;
    const dflt = f.defaultText ?? (f.default === undefined || (f.type === "boolean" && f.default === false) ? undefined : showDefault(f.default));
    const choices = f.choices && f.choices.length ? `one of: ${f.choices.join(", ")}` : "";
    const right = `${f.doc}${dflt !== undefined ? ` (default: ${dflt})` : ""}`;
    // The meaning stays one line; a long list of choices goes on the next.
    return { left, right: choices && right.length + choices.length > 90 ? [right, choices] : [choices ? `${right}; ${choices}` : right] };
  });
  const w = Math.min(34, Math.max(...rows.map((r) => r.left.length)) + 2);
  const lines = [`usage: ${c.usage}`, "", c.summary, ""];
  if (c.positionals) lines.push(`  ${c.positionals.placeholder.padEnd(w)}${c.positionals.doc}`, "");
  lines.push("flags:");
  const pad = " ".repeat(w);
  for (const r of rows) {
    const [first, ...more] = r.right;
    lines.push(r.left.length + 2 > w ? `  ${r.left}\n  ${pad}${first}` : `  ${r.left.padEnd(w)}${first}`);
    for (const m of more) lines.push(`  ${pad}${m}`);
  }
  if (c.epilog) lines.push("", c.epilog);
  return lines.join("\n");
}

function showDefault(v: unknown): string {
  if (Array.isArray(v)) return v.join(",");
  if (typeof v === "string") return /^[\w./<>-]+$/.test(v) ? v : JSON.stringify(v);
  return String(v);
}

/**
 * parseArgv for a command line's entry point: prints --help and exits 0, or prints a usage error (naming the
 * flag and pointing at --help) and exits 2.
 */
export function parseCommand<F extends Flags>(c: Command<F>, argv: string[]): { values: Values<F>; positionals: string[] } {
  try {
    const r = parseArgv(c, argv);
    if (r.help) {
      console.log(helpText(c));
      process.exit(0);
    }
    return r;
  } catch (e) {
    if (e instanceof UsageError) usageError(c, e.message);
    throw e;
  }
}

/** Prints `<command>: <message>` and a pointer to --help, and exits 2 (a usage error found after parsing). */
export function usageError(c: Command | string, message: string): never {
  const name = typeof c === "string" ? c : c.name;
  console.error(`${name}: ${message}\n(run with --help for every flag)`);
  process.exit(2);
}

/**
 * A command line's entry: runs `main` on the process's arguments, then exits 0 at once rather than waiting for the
 * runtime to wind down the WebGPU objects still held; an error is reported as exitOnError does.
 */
export async function runCommand(c: Command, main: (argv: string[]) => Promise<void>): Promise<never> {
  try {
    await main(process.argv.slice(2));
    process.exit(0);
  } catch (e) {
    exitOnError(c, e);
  }
}

/**
 * The end of every command line's main(): a UsageError exits 2, Dawn finding no adapter prints what is wrong with
 * this machine (checking the files the Vulkan variables name) and exits 1, anything else prints
 * `<command>: <message>` and exits 1.
 */
export function exitOnError(c: Command | string, e: unknown): never {
  const name = typeof c === "string" ? c : c.name;
  if (e instanceof UsageError) usageError(name, e.message);
  if (e instanceof NoAdapterError) {
    console.error(noAdapterHelp(process.env, existsSync));
    process.exit(1);
  }
  if (process.env.OCTET_DEBUG && e instanceof Error && e.stack) console.error(e.stack);
  console.error(`${name}: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
