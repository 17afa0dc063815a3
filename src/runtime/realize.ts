// Lazy tensors meet the GPU here. `realize` swaps realized buffers in a graph for numbered input slots, so
// the same computation over different buffers is the same canonical graph (hash-consing makes it the same
// node objects); its schedule and kernels are built once and cached. Reshapes of realized tensors are views.
import { DTYPES, type DType, type TypedArray } from "../dsl/dtype.ts";
import { mk, numel, substitute, toposort, type Node, type Shape } from "../dsl/node.ts";
import { installRuntime, Tensor } from "../dsl/tensor.ts";
import { schedule } from "../codegen/schedule.ts";
import { targetKey } from "../codegen/kernel.ts";
import { deviceTarget } from "./target.ts";
import { Program } from "./execute.ts";
import { allocate, allocateOn, download, upload, uploadOn, type Category, Storage } from "./storage.ts";
import { device, deviceNow } from "./device.ts";
import { programCacheLimit } from "./env.ts";
import { installLeafRefresh, own } from "./scope.ts";
import { nameNode, nodeName } from "../dsl/names.ts";

// Programs by canonical graph (the ids of its root nodes), least recently used first (a Map keeps insertion
// order; a hit moves its entry to the end). Each entry holds its roots: hash-consed nodes live only while
// referenced, and if they were collected the next equal graph would get new ids, so every GC would schedule
// a new Program. Bounded: a process that builds ever new graph shapes (variable sequence lengths) evicts the
// oldest, which releases its uniform buffer, bind groups and temporaries.
const programs = new Map<string, { prog: Program; roots: Node[] }>();

/** How many lazy-graph programs are cached (one per distinct graph). */
export function programCacheSize(): number {
  return programs.size;
}

function cachedProgram(key: string): Program | undefined {
  const hit = programs.get(key);
  if (!hit) return undefined;
  programs.delete(key);
  programs.set(key, hit);
  return hit.prog;
}

function cacheProgram(key: string, prog: Program, roots: Node[]): void {
  programs.set(key, { prog, roots });
  const limit = programCacheLimit();
  for (const [k, v] of programs) {
    if (programs.size <= limit) break;
    programs.delete(k);
    v.prog.release();
  }
}

/** A leaf over a storage, capturing the storage's current version (see Storage.version). */
export function bufferNode(storage: Storage, shape: Shape, name = ""): Node {
  return mk("buffer", storage.dtype, shape, [], { storage, name, version: storage.root.version });
}

// A bare realized tensor whose storage was written in place since stands for the new contents (as PyTorch's
// `.data`): its next use gets a leaf of the current version, keeping its name.
installLeafRefresh((n) => {
  const { storage, name } = n.arg as { storage: Storage; name: string };
  const fresh = bufferNode(storage, n.shape, name);
  const nm = nodeName(n);
  if (nm) nameNode(fresh, nm);
  return fresh;
});

/**
 * A buffer leaf inside a lazy graph must be what the graph was built over: refuses a released buffer, and a
 * leaf captured before an in-place write (realizing it now would compute with the new contents, silently).
 */
function checkLeaf(n: Node, root: Node): Storage {
  const { storage: st, name, version } = n.arg as { storage: Storage; name: string; version: number };
  const what = `${name || nodeName(n) || "a tensor"} (${st.dtype}[${n.shape.join(",")}], ${st.category})`;
  const built = root.site ? ` (built at ${root.site})` : "";
  if (st.freed) throw new Error(`octet: this lazy value${built} reads ${what}, whose buffer was released by dispose() or an octet.tidy scope; realize the value before releasing its inputs`);
  const r = st.root;
  if (version !== r.version)
    throw new Error(
      `octet: this lazy value${built} reads ${what}, which ${r.lastWriter} overwrote in place after the value was built; ` +
        "realize it before that write (e.g. await octet.realize([value]) before opt.step()) or rebuild it from the current tensor",
    );
  return st;
}

export function storageOf(t: Tensor): Storage {
  if (t.node.op !== "buffer") throw new Error(`octet: ${t} is not realized`);
  return (t.node.arg as { storage: Storage }).storage;
}

/** The storage behind a chain of reshapes over a buffer (a view), if that is all this node is. */
function viewOf(n: Node): Storage | undefined {
  let x = n;
  while (x.op === "reshape") x = x.src[0];
  return x.op === "buffer" ? (x.arg as { storage: Storage }).storage : undefined;
}

function programName(roots: Node[]): string {
  const ops = toposort(roots).filter((n) => !["input", "buffer", "const", "uniform", "reshape", "expand"].includes(n.op)).map((n) => n.op);
  const uniq = [...new Set(ops)].slice(0, 4);
  return uniq.length ? uniq.join("_") : "copy";
}

export async function realize(ts: Tensor[]): Promise<void> {
  const todo: Tensor[] = [];
  for (const t of ts) {
    const node = t.node;
    if (node.op === "buffer") continue;
    const v = viewOf(node);
    if (v) {
      for (const leaf of toposort([node])) if (leaf.op === "buffer") checkLeaf(leaf, node);
      t.node = bufferNode(v, t.shape);
    } else if (!todo.includes(t)) todo.push(t);
  }
  if (!todo.length) return;
  const storages: Storage[] = [];
  const slotOf = new Map<Storage, number>();
  const roots = todo.map((t) => t.node);
  const named = roots.find((r) => r.site) ?? roots[0];
  const canon = substitute(
    roots,
    (n) => {
      if (n.op !== "buffer") return undefined;
      const st = checkLeaf(n, named);
      let slot = slotOf.get(st);
      if (slot === undefined) slotOf.set(st, (slot = storages.push(st) - 1));
      const name = (n.arg as { name: string }).name || `x${slot}`;
      return mk("input", n.dtype, n.shape, [], { slot, name });
    },
  );
  await device();
  const target = deviceTarget();
  const key = `${targetKey(target)}|${canon.map((n) => n.id).join(",")}`;
  let prog = cachedProgram(key);
  if (!prog) {
    const name = programName(canon);
    prog = new Program(schedule(canon.map((node, i) => ({ node, name: `out${i}` })), name, [], target), name);
    cacheProgram(key, prog, canon);
  }
  const all = await prog.run([...storages], {});
  todo.forEach((t, i) => {
    const st = all[prog!.schedule.results[i]];
    t.node = bufferNode(st, t.shape);
    own(t, st);
  });
}

export async function read(t: Tensor): Promise<TypedArray | Float16Array> {
  await realize([t]);
  const st = storageOf(t);
  const data = await download(st);
  return data.length === t.numel ? data : data.subarray(0, t.numel);
}

installRuntime(realize, read);

export interface TensorOptions {
  dtype?: DType;
  category?: Category;
  name?: string;
}

type Nested = number | boolean | Nested[];
function flattenNested(x: Nested, shape: number[], depth = 0, out: number[] = []): number[] {
  if (Array.isArray(x)) {
    if (shape.length <= depth) shape.push(x.length);
    else if (shape[depth] !== x.length) throw new Error(`octet.tensor: ragged nested array at depth ${depth}`);
    for (const y of x) flattenNested(y, shape, depth + 1, out);
  } else out.push(typeof x === "boolean" ? +x : x);
  return out;
}

/** Uploads host data and returns a realized tensor on the GPU. */
export async function tensor(data: ArrayLike<number> | Nested[], shape?: number[], opts: TensorOptions = {}): Promise<Tensor> {
  const inferred: number[] = [];
  const flat: ArrayLike<number> = Array.isArray(data) ? flattenNested(data as Nested[], inferred) : data;
  const s = shape ?? (Array.isArray(data) ? inferred : [flat.length]);
  if (numel(s) !== flat.length) throw new Error(`octet.tensor: ${flat.length} values do not fill shape [${s.join(",")}]`);
  const dtype: DType = opts.dtype ?? (data instanceof Int32Array ? "i32" : data instanceof Uint32Array ? "u32" : data instanceof Uint8Array ? "u8" : "f32");
  if (!DTYPES[dtype]) throw new Error(`octet.tensor: unknown dtype ${dtype}`);
  const st = await allocate(dtype, flat.length, opts.category ?? "temporaries");
  await upload(st, flat);
  return own(new Tensor(bufferNode(st, s, opts.name)), st);
}

/** Synchronous upload, for module constructors: needs the device acquired (`await octet.device()`). */
export function tensorNow(data: Float32Array, shape: number[], opts: TensorOptions = {}): Tensor {
  if (numel(shape) !== data.length) throw new Error(`octet.tensorNow: ${data.length} values do not fill shape [${shape.join(",")}]`);
  const dev = deviceNow();
  const st = allocateOn(dev, "f32", data.length, opts.category ?? "temporaries");
  uploadOn(dev, st, data);
  return own(new Tensor(bufferNode(st, shape, opts.name)), st);
}

/** A realized tensor of zeros. */
export async function zeros(shape: number[], opts: TensorOptions = {}): Promise<Tensor> {
  const dtype = opts.dtype ?? "f32";
  const st = await allocate(dtype, numel(shape), opts.category ?? "temporaries", true);
  return own(new Tensor(bufferNode(st, shape, opts.name)), st);
}
