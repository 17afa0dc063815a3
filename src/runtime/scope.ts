// Deterministic release: Tensor.dispose (and `using`), octet.tidy scopes and octet.keep, with TF.js's
// semantics. Garbage collection still returns what nobody disposed (storage.ts's finalizer); these only make
// it happen at a known point, which matters because GPU bytes are invisible to the JS collector.
//
// What a scope frees. Only buffers that belong to no one else:
//   - owned storages allocated while the scope was open and still alive at its end (tracked weakly: a
//     storage collected earlier was already returned by its finalizer);
//   - of category "temporaries" only. "parameters", "gradients" and "optimizer" storages are model and
//     optimizer state that outlives any step: a Parameter made inside a scope, an optimizer's arenas and
//     tables built by its first step inside a scope. They are never freed by a scope (dispose them by hand,
//     or drop them);
//   - never views (arena slices: they own nothing; their parent is shared by every parameter of a bucket),
//     and never a cached program's own temporaries (allocated unscoped, freed when the program is evicted);
//   - not the storages reachable from the scope's return value (tensors, and arrays, Maps, Sets and objects
//     holding them, walked through lazy graphs to their buffer leaves), nor those passed to octet.keep:
//     those move to the enclosing scope, if any.
// A tensor whose buffer a scope freed throws on its next use (never reads a recycled buffer).
//
// Async functions are supported: a scope stays open until the promise settles. Scopes form a stack, so
// allocations made meanwhile by unrelated concurrent code land in the innermost open scope too (as
// TF.js's engine does); keep concurrent work outside an async tidy, or keep() what it returns.
import { toposort, type Node } from "../dsl/node.ts";
import { installMemory, Tensor } from "../dsl/tensor.ts";
import { free, observeAllocations, type Storage } from "./storage.ts";

interface Scope {
  allocated: WeakRef<Storage>[];
  kept: Set<Storage>;
}
const scopes: Scope[] = [];

observeAllocations((s) => {
  const top = scopes[scopes.length - 1];
  if (top && s.category === "temporaries") top.allocated.push(new WeakRef(s));
});

// The tensor each storage was allocated for. dispose() frees a buffer only through its owner: a realized
// reshape of `a` is a second tensor on a's storage, and disposing it must not free a's buffer under `a`.
const owners = new WeakMap<Tensor, Storage>();

/** Records that `s` was allocated to hold `t`'s value (so disposing `t` may free it). */
export function own(t: Tensor, s: Storage): Tensor {
  owners.set(t, s);
  return t;
}

const storageOfLeaf = (n: Node): Storage | undefined => (n.op === "buffer" ? ((n.arg as { storage: Storage }).storage) : undefined);

/** The storage behind a buffer leaf, refused once released. */
function checkedLeaf(n: Node): Storage {
  const s = (n.arg as { storage: Storage }).storage;
  if (s.freed)
    throw new Error(
      "octet: this tensor's buffer was released (by dispose(), or by the octet.tidy scope it was made in); " +
        "return it from the scope or octet.keep() it to use it afterwards",
    );
  return s;
}

let refresh: (n: Node) => Node = (n) => n;
/** realize.ts supplies how a stale leaf becomes a leaf of the current version (it owns bufferNode). */
export function installLeafRefresh(f: (n: Node) => Node): void {
  refresh = f;
}

installMemory({
  leaf(n) {
    const s = checkedLeaf(n);
    return (n.arg as { version: number }).version === s.root.version ? n : refresh(n);
  },
  dispose(t, n) {
    const s = storageOfLeaf(n);
    if (s && owners.get(t) === s) free(s);
  },
});

/**
 * Every storage a value reaches: tensors (through their lazy graphs to the buffer leaves, and a view's
 * parents), in arrays, Sets, Maps and objects, walked through their own enumerable properties (so an autograd
 * Var, a { loss, grads } record or a module keeps what it holds).
 */
function collectStorages(x: unknown, out: Set<Storage>): void {
  const roots: Node[] = [];
  const seen = new Set<unknown>();
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== "object" || seen.has(v)) return;
    seen.add(v);
    if (v instanceof Tensor) {
      try {
        roots.push(v.node);
      } catch {
        // disposed or released: nothing of it to keep
      }
      return;
    }
    if (v instanceof Promise || ArrayBuffer.isView(v) || v instanceof ArrayBuffer) return;
    if (Array.isArray(v) || v instanceof Set) for (const e of v) walk(e);
    else if (v instanceof Map) for (const e of v.values()) walk(e);
    else for (const e of Object.values(v)) walk(e);
  };
  walk(x);
  for (const n of toposort(roots)) for (let r = storageOfLeaf(n); r; r = r.parent) out.add(r);
}

function close(scope: Scope, result: unknown): void {
  const at = scopes.lastIndexOf(scope);
  if (at >= 0) scopes.splice(at, 1);
  const keep = new Set(scope.kept);
  collectStorages(result, keep);
  const parent = at > 0 ? scopes[at - 1] : undefined;
  // Freed in reverse allocation order: the pool is a stack per size, so the next run of the same step gets
  // each buffer back in the role it had (same bind groups: a steady loop creates none).
  for (let i = scope.allocated.length - 1; i >= 0; i--) {
    const ref = scope.allocated[i];
    const s = ref.deref();
    if (!s || s.freed) continue;
    if (keep.has(s)) parent?.allocated.push(ref);
    else free(s);
  }
}

/**
 * Runs `fn` and releases every temporary buffer allocated meanwhile, except those its result reaches (see
 * the rules above). `fn` may be async: the scope closes when its promise settles, also on rejection.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { allocated: [], kept: new Set() };
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    close(scope, undefined);
    throw e;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => (close(scope, v), v),
      (e) => {
        close(scope, undefined);
        throw e;
      },
    ) as T;
  }
  close(scope, result);
  return result;
}

/** Keeps a tensor's buffers alive past the innermost open tidy scope (as tf.keep). Returns the tensor. */
export function keep<T extends Tensor>(t: T): T {
  const top = scopes[scopes.length - 1];
  if (top) collectStorages(t, top.kept);
  return t;
}

/** Disposes every tensor in a value (a tensor, or arrays / Maps / plain objects of them). */
export function dispose(x: unknown): void {
  if (x instanceof Tensor) return x.dispose();
  if (Array.isArray(x) || x instanceof Set) for (const v of x) dispose(v);
  else if (x instanceof Map) for (const v of x.values()) dispose(v);
  else if (x && typeof x === "object" && (Object.getPrototypeOf(x) === Object.prototype || Object.getPrototypeOf(x) === null))
    for (const v of Object.values(x)) dispose(v);
}
