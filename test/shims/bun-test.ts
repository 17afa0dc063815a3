// `bun:test` for Deno: the part of its API octet's tests use (describe/test with skipIf/each, the four hooks,
// setDefaultTimeout and the expect matchers), mapped onto Deno.test. deno.json's import map points "bun:test"
// here, so the same test files run under both runtimes. Vendored (no @std/expect) so that `deno task test`
// needs no network.
//
// Each test() registers one Deno.test named "describe > ... > name", in order. Hooks belong to the describe
// (or file) they were declared in: beforeAll runs before that scope's first test, afterAll after its last
// (Deno runs a file's tests in registration order, and every test is registered before the first runs).
const DenoNs = (globalThis as { Deno?: { test(def: Record<string, unknown>): void } }).Deno;
if (!DenoNs) throw new Error("test/shims/bun-test.ts is the Deno adapter of bun:test; under Bun import bun:test itself");

type Fn = () => unknown;

interface Scope {
  name: string;
  parent?: Scope;
  skip: boolean;
  beforeAll: Fn[];
  afterAll: Fn[];
  beforeEach: Fn[];
  afterEach: Fn[];
  tests: number; // tests registered under this scope (children included)
  ran: number;
  started: boolean;
}

const newScope = (name: string, parent?: Scope, skip = false): Scope =>
  ({ name, parent, skip: skip || !!parent?.skip, beforeAll: [], afterAll: [], beforeEach: [], afterEach: [], tests: 0, ran: 0, started: false });

// One root scope per test file, found from the caller's stack (a file's top-level hooks are its own).
const roots = new Map<string, Scope>();
let current: Scope | undefined;

function callerFile(): string {
  const lines = (new Error().stack ?? "").split("\n");
  for (const l of lines) {
    const m = l.match(/(file:\/\/[^\s)]+?):\d+:\d+/);
    if (m && !m[1].includes("/test/shims/")) return m[1];
  }
  return "<unknown>";
}

function scopeNow(): Scope {
  if (current) return current;
  const file = callerFile();
  let r = roots.get(file);
  if (!r) roots.set(file, (r = newScope("")));
  return r;
}

function chain(s: Scope): Scope[] {
  const out: Scope[] = [];
  for (let x: Scope | undefined = s; x; x = x.parent) out.unshift(x);
  return out;
}

// The README's test command runs bun test with --timeout 60000; the same default here. setDefaultTimeout sets
// it for the calling file only (one file's shorter limit must not cut another file's long tests short).
const DEFAULT_TIMEOUT = 60_000;
const fileTimeouts = new Map<Scope, number>();
export function setDefaultTimeout(ms: number): void {
  fileTimeouts.set(rootOf(scopeNow()), ms);
}
function rootOf(s: Scope): Scope {
  while (s.parent) s = s.parent;
  return s;
}

async function withTimeout(fn: Fn, ms: number, name: string): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`test "${name}" timed out after ${ms} ms`)), ms);
  });
  try {
    await Promise.race([Promise.resolve().then(fn), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function register(name: string, fn: Fn | undefined, timeoutMs: number | undefined, skip: boolean): void {
  const scope = scopeNow();
  const scopes = chain(scope);
  const full = scopes.map((s) => s.name).filter(Boolean).concat(name).join(" > ");
  const ignore = skip || scope.skip || !fn;
  if (!ignore) for (const s of scopes) s.tests++;
  // Read at run time: a file may call setDefaultTimeout after its first test() (Bun reads it per test too).
  DenoNs!.test({
    name: full,
    ignore,
    sanitizeOps: false,
    sanitizeResources: false,
    sanitizeExit: false,
    fn: async () => {
      const ms = timeoutMs ?? fileTimeouts.get(scopes[0]) ?? DEFAULT_TIMEOUT;
      for (const s of scopes) {
        if (!s.started) {
          s.started = true;
          for (const h of s.beforeAll) await h();
        }
      }
      try {
        for (const s of scopes) for (const h of s.beforeEach) await h();
        try {
          await withTimeout(fn!, ms, full);
        } finally {
          for (const s of [...scopes].reverse()) for (const h of s.afterEach) await h();
        }
      } finally {
        for (const s of [...scopes].reverse()) {
          s.ran++;
          if (s.ran === s.tests) for (const h of s.afterAll) await h();
        }
      }
    },
  });
}

type TestOptions = number | { timeout?: number };
const timeoutOf = (o: TestOptions | undefined) => (typeof o === "number" ? o : o?.timeout);

interface TestFn {
  (name: string, fn?: Fn, options?: TestOptions): void;
  skip(name: string, fn?: Fn, options?: TestOptions): void;
  todo(name: string, fn?: Fn, options?: TestOptions): void;
  only(name: string, fn?: Fn, options?: TestOptions): void;
  skipIf(cond: unknown): (name: string, fn?: Fn, options?: TestOptions) => void;
  if(cond: unknown): (name: string, fn?: Fn, options?: TestOptions) => void;
  each<T>(rows: readonly T[]): (name: string, fn: (...args: any[]) => unknown, options?: TestOptions) => void;
}

/** `%s`, `%d`, `%i`, `%p`, `%o`, `%j` in an each-name, filled from the row in order (as bun:test and jest do). */
function eachName(name: string, args: unknown[]): string {
  let i = 0;
  return name.replace(/%[sdipoj#%]/g, (m) => {
    if (m === "%%") return "%";
    if (m === "%#") return String(i);
    const v = args[i++];
    return m === "%s" || m === "%d" || m === "%i" ? String(v) : JSON.stringify(v);
  });
}

const rowArgs = (row: unknown): unknown[] => (Array.isArray(row) ? row : [row]);

export const test: TestFn = Object.assign(
  (name: string, fn?: Fn, options?: TestOptions) => register(name, fn, timeoutOf(options), false),
  {
    skip: (name: string, fn?: Fn, options?: TestOptions) => register(name, fn, timeoutOf(options), true),
    todo: (name: string, fn?: Fn, options?: TestOptions) => register(name, fn, timeoutOf(options), true),
    only: (name: string, fn?: Fn, options?: TestOptions) => register(name, fn, timeoutOf(options), false),
    skipIf: (cond: unknown) => (name: string, fn?: Fn, options?: TestOptions) => register(name, fn, timeoutOf(options), !!cond),
    if: (cond: unknown) => (name: string, fn?: Fn, options?: TestOptions) => register(name, fn, timeoutOf(options), !cond),
    each: <T>(rows: readonly T[]) => (name: string, fn: (...args: any[]) => unknown, options?: TestOptions) => {
      for (const row of rows) register(eachName(name, rowArgs(row)), () => fn(...rowArgs(row)), timeoutOf(options), false);
    },
  },
);
export const it = test;

interface DescribeFn {
  (name: string, body: () => void): void;
  skip(name: string, body: () => void): void;
  skipIf(cond: unknown): (name: string, body: () => void) => void;
  if(cond: unknown): (name: string, body: () => void) => void;
  each<T>(rows: readonly T[]): (name: string, body: (...args: any[]) => void) => void;
}

function group(name: string, body: () => void, skip: boolean): void {
  const parent = scopeNow();
  const s = newScope(name, parent, skip);
  current = s;
  try {
    const r = body() as unknown;
    if (r instanceof Promise) throw new Error(`describe("${name}") got an async body; bun:test and this adapter need a synchronous one`);
  } finally {
    current = parent.parent || parent.name ? parent : undefined;
  }
}

export const describe: DescribeFn = Object.assign((name: string, body: () => void) => group(name, body, false), {
  skip: (name: string, body: () => void) => group(name, body, true),
  skipIf: (cond: unknown) => (name: string, body: () => void) => group(name, body, !!cond),
  if: (cond: unknown) => (name: string, body: () => void) => group(name, body, !cond),
  each: <T>(rows: readonly T[]) => (name: string, body: (...args: any[]) => void) => {
    for (const row of rows) group(eachName(name, rowArgs(row)), () => body(...rowArgs(row)), false);
  },
});

export const beforeAll = (fn: Fn): void => void scopeNow().beforeAll.push(fn);
export const afterAll = (fn: Fn): void => void scopeNow().afterAll.push(fn);
export const beforeEach = (fn: Fn): void => void scopeNow().beforeEach.push(fn);
export const afterEach = (fn: Fn): void => void scopeNow().afterEach.push(fn);

// ---- expect ----

function show(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "function") return `[Function ${v.name || "anonymous"}]`;
  if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
    const a = v as unknown as ArrayLike<number>;
    const head = Array.from({ length: Math.min(a.length, 8) }, (_, i) => a[i]).join(", ");
    return `${v.constructor.name}(${a.length}) [${head}${a.length > 8 ? ", ..." : ""}]`;
  }
  try {
    const s = JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x === undefined ? "<undefined>" : x));
    return s === undefined ? String(v) : s.length > 400 ? `${s.slice(0, 400)}...` : s;
  } catch {
    return String(v);
  }
}

/** Recursive equality as bun:test's toEqual (undefined properties ignored) or toStrictEqual (not ignored, same classes). */
function equals(a: unknown, b: unknown, strict: boolean, seen = new Map<object, object>()): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (isAsymmetric(b)) return b.matches(a);
  if (seen.get(a) === b) return true;
  seen.set(a, b);
  if (strict && Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (a instanceof Date || b instanceof Date) return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
  if (a instanceof RegExp || b instanceof RegExp) return String(a) === String(b);
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (!ArrayBuffer.isView(a) || !ArrayBuffer.isView(b) || a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>, y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (a instanceof ArrayBuffer || b instanceof ArrayBuffer)
    return a instanceof ArrayBuffer && b instanceof ArrayBuffer && equals(new Uint8Array(a), new Uint8Array(b), strict, seen);
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map && b instanceof Map) || a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || !equals(v, b.get(k), strict, seen)) return false;
    return true;
  }
  if (a instanceof Set || b instanceof Set) {
    if (!(a instanceof Set && b instanceof Set) || a.size !== b.size) return false;
    for (const v of a) if (!b.has(v) && ![...b].some((w) => equals(v, w, strict, seen))) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!equals(a[i], b[i], strict, seen)) return false;
    return true;
  }
  const ka = Object.keys(a).filter((k) => strict || (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => strict || (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  for (const k of ka) if (!Object.hasOwn(b, k) || !equals((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], strict, seen)) return false;
  return true;
}

/** `actual` has at least `expected`'s properties, recursively (toMatchObject). */
function matchesObject(actual: unknown, expected: unknown): boolean {
  if (isAsymmetric(expected)) return expected.matches(actual);
  if (typeof expected !== "object" || expected === null || typeof actual !== "object" || actual === null) return equals(actual, expected, false);
  if (Array.isArray(expected)) return Array.isArray(actual) && actual.length === expected.length && expected.every((e, i) => matchesObject(actual[i], e));
  if (ArrayBuffer.isView(expected) || expected instanceof Date || expected instanceof RegExp || expected instanceof Map || expected instanceof Set) return equals(actual, expected, false);
  return Object.keys(expected).every((k) => k in (actual as object) && matchesObject((actual as Record<string, unknown>)[k], (expected as Record<string, unknown>)[k]));
}

interface Asymmetric {
  asymmetric: true;
  matches(v: unknown): boolean;
}
const isAsymmetric = (v: unknown): v is Asymmetric => typeof v === "object" && v !== null && (v as Asymmetric).asymmetric === true;

class ExpectationError extends Error {
  override name = "ExpectationError";
}

function thrownMatches(err: unknown, expected: unknown): string | undefined {
  const message = err instanceof Error ? err.message : String(err);
  if (expected === undefined) return undefined;
  if (typeof expected === "string") return message.includes(expected) ? undefined : `message ${show(message)} does not contain ${show(expected)}`;
  if (expected instanceof RegExp) return expected.test(message) ? undefined : `message ${show(message)} does not match ${expected}`;
  if (typeof expected === "function") return err instanceof expected ? undefined : `${show(err)} is not an instance of ${expected.name}`;
  if (expected instanceof Error) return message === expected.message ? undefined : `message ${show(message)} is not ${show(expected.message)}`;
  if (typeof expected === "object" && expected !== null) return matchesObject(err, expected) ? undefined : `${show(err)} does not match ${show(expected)}`;
  return `cannot match a thrown value against ${show(expected)}`;
}

type Matchers = Record<string, (...args: any[]) => any>;

function matchers(actual: unknown, negate: boolean, label = ""): Matchers {
  const check = (pass: boolean, what: string): void => {
    if (pass === negate) throw new ExpectationError(`expect(${show(actual)})${label}${negate ? ".not" : ""}.${what}`);
  };
  const num = (): number | bigint => {
    if (typeof actual !== "number" && typeof actual !== "bigint") throw new ExpectationError(`expect(${show(actual)}): a number was expected`);
    return actual;
  };
  return {
    toBe: (e: unknown) => check(Object.is(actual, e), `toBe(${show(e)})`),
    toEqual: (e: unknown) => check(equals(actual, e, false), `toEqual(${show(e)})`),
    toStrictEqual: (e: unknown) => check(equals(actual, e, true), `toStrictEqual(${show(e)})`),
    toMatchObject: (e: unknown) => check(matchesObject(actual, e), `toMatchObject(${show(e)})`),
    toBeCloseTo: (e: number, digits = 2) => {
      const a = num() as number;
      check((a === Infinity && e === Infinity) || (a === -Infinity && e === -Infinity) || Math.abs(a - e) < 10 ** -digits / 2, `toBeCloseTo(${e}, ${digits})`);
    },
    toBeGreaterThan: (e: number | bigint) => check(num() > e, `toBeGreaterThan(${show(e)})`),
    toBeGreaterThanOrEqual: (e: number | bigint) => check(num() >= e, `toBeGreaterThanOrEqual(${show(e)})`),
    toBeLessThan: (e: number | bigint) => check(num() < e, `toBeLessThan(${show(e)})`),
    toBeLessThanOrEqual: (e: number | bigint) => check(num() <= e, `toBeLessThanOrEqual(${show(e)})`),
    toBeNaN: () => check(typeof actual === "number" && Number.isNaN(actual), "toBeNaN()"),
    toBeNull: () => check(actual === null, "toBeNull()"),
    toBeUndefined: () => check(actual === undefined, "toBeUndefined()"),
    toBeDefined: () => check(actual !== undefined, "toBeDefined()"),
    toBeTruthy: () => check(!!actual, "toBeTruthy()"),
    toBeFalsy: () => check(!actual, "toBeFalsy()"),
    toBeInstanceOf: (c: new (...a: any[]) => unknown) => check(actual instanceof c, `toBeInstanceOf(${c.name})`),
    toHaveLength: (n: number) => check((actual as { length?: number })?.length === n, `toHaveLength(${n})`),
    toContain: (e: unknown) => {
      const has = typeof actual === "string" ? actual.includes(e as string)
        : actual != null && typeof (actual as Iterable<unknown>)[Symbol.iterator] === "function" ? [...(actual as Iterable<unknown>)].some((x) => Object.is(x, e))
        : false;
      check(has, `toContain(${show(e)})`);
    },
    toMatch: (e: RegExp | string) => check(typeof actual === "string" && (typeof e === "string" ? actual.includes(e) : e.test(actual)), `toMatch(${e})`),
    toStartWith: (e: string) => check(typeof actual === "string" && actual.startsWith(e), `toStartWith(${show(e)})`),
    toEndWith: (e: string) => check(typeof actual === "string" && actual.endsWith(e), `toEndWith(${show(e)})`),
    toThrow: (e?: unknown) => {
      let threw = false, err: unknown;
      if (label === ".rejects") {
        threw = true;
        err = actual;
      } else {
        if (typeof actual !== "function") throw new ExpectationError(`expect(${show(actual)}).toThrow(): a function was expected`);
        try {
          (actual as () => unknown)();
        } catch (x) {
          threw = true;
          err = x;
        }
      }
      if (!negate && !threw) throw new ExpectationError(`expected the function to throw${e === undefined ? "" : ` ${show(e)}`}, it returned`);
      const why = threw ? thrownMatches(err, e) : undefined;
      if (!negate && why) throw new ExpectationError(`expected the thrown error to match: ${why}`);
      if (negate && threw && !why) throw new ExpectationError(`expected no throw${e === undefined ? "" : ` matching ${show(e)}`}, got ${show(err instanceof Error ? err.message : err)}`);
    },
    toMatchInlineSnapshot: () => {
      throw new ExpectationError("toMatchInlineSnapshot is not supported under the Deno adapter (run that file under Bun)");
    },
    toMatchSnapshot: () => {
      throw new ExpectationError("toMatchSnapshot is not supported under the Deno adapter (run that file under Bun)");
    },
  };
}

function asyncMatchers(promise: unknown, mode: "rejects" | "resolves", negate: boolean): Matchers {
  const names = Object.keys(matchers(undefined, false));
  return Object.fromEntries(names.map((n) => [n, async (...args: unknown[]) => {
    let value: unknown, rejected = false;
    try {
      value = await (typeof promise === "function" ? (promise as () => unknown)() : promise);
    } catch (e) {
      rejected = true;
      value = e;
    }
    if (mode === "rejects" && !rejected) throw new ExpectationError(`expected a rejection, the promise resolved to ${show(value)}`);
    if (mode === "resolves" && rejected) throw new ExpectationError(`expected the promise to resolve, it rejected with ${show(value instanceof Error ? value.message : value)}`);
    return matchers(value, negate, `.${mode}`)[n](...args);
  }]));
}

interface Expect {
  (actual: unknown): any; // the matchers below; bun:test's own types check the test files under tsc
  any(c: unknown): Asymmetric;
  anything(): Asymmetric;
  stringContaining(s: string): Asymmetric;
  stringMatching(r: RegExp | string): Asymmetric;
  objectContaining(o: object): Asymmetric;
  arrayContaining(a: unknown[]): Asymmetric;
  closeTo(n: number, digits?: number): Asymmetric;
}

const asym = (matches: (v: unknown) => boolean): Asymmetric => ({ asymmetric: true, matches });

export const expect: Expect = Object.assign(
  (actual: unknown) => ({
    ...matchers(actual, false),
    not: matchers(actual, true),
    rejects: { ...asyncMatchers(actual, "rejects", false), not: asyncMatchers(actual, "rejects", true) },
    resolves: { ...asyncMatchers(actual, "resolves", false), not: asyncMatchers(actual, "resolves", true) },
  }),
  {
    any: (c: unknown) => asym((v) =>
      c === Number ? typeof v === "number" : c === String ? typeof v === "string" : c === Boolean ? typeof v === "boolean"
        : c === BigInt ? typeof v === "bigint" : c === Function ? typeof v === "function" : v instanceof (c as new () => unknown)),
    anything: () => asym((v) => v !== null && v !== undefined),
    stringContaining: (s: string) => asym((v) => typeof v === "string" && v.includes(s)),
    stringMatching: (r: RegExp | string) => asym((v) => typeof v === "string" && (typeof r === "string" ? v.includes(r) : r.test(v))),
    objectContaining: (o: object) => asym((v) => matchesObject(v, o)),
    arrayContaining: (a: unknown[]) => asym((v) => Array.isArray(v) && a.every((x) => v.some((y) => equals(y, x, false)))),
    closeTo: (n: number, digits = 2) => asym((v) => typeof v === "number" && Math.abs(v - n) < 10 ** -digits / 2),
  },
);
