// Lazy tensors meet the GPU here. `realize` swaps realized buffers in a graph for numbered input slots, so
// the same computation over different buffers is the same canonical graph (hash-consing makes it the same
// node objects); its schedule and kernels are built once and cached. Reshapes of realized tensors are views.
import { DTYPES, storageBytes, type DType, type TypedArray } from "../dsl/dtype.ts";
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
  const what = `${name || st.label || nodeName(n) || "a tensor"} (${st.dtype}[${n.shape.join(",")}], ${st.category})`;
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

export interface RealizeOptions {
  /**
   * `into[i]`: the storage ts[i]'s result is written into (an in-place target of the same program, e.g. a
   * slot of an optimizer's gradient arena) instead of a new buffer; ts[i] then views it. Undefined entries
   * get a new buffer as usual. The storage (or the realized tensor over it) must have ts[i]'s dtype and
   * element count.
   */
  into?: (Storage | Tensor | undefined)[];
}

export async function realize(ts: Tensor[], opts: RealizeOptions = {}): Promise<void> {
  const into = (opts.into ?? []).map((x) => (x instanceof Tensor ? intoStorage(x) : x));
  if (into.length > ts.length) throw new Error(`octet.realize: ${into.length} into targets for ${ts.length} tensors`);
  into.forEach((st, i) => {
    if (st && (st.dtype !== ts[i].dtype || st.numel !== ts[i].numel))
      throw new Error(`octet.realize: cannot write ${ts[i]} (${ts[i].dtype}[${ts[i].numel}]) into a ${st.dtype}[${st.numel}] storage`);
  });
  const todo: Tensor[] = [];
  const todoInto: (Storage | undefined)[] = [];
  const copies: [Storage, Storage, Tensor][] = [];
  ts.forEach((t, i) => {
    const dst = into[i];
    const node = t.node;
    if (node.op === "buffer" && !dst) return;
    const v = node.op === "buffer" ? (node.arg as { storage: Storage }).storage : viewOf(node);
    if (v) {
      // (a bare leaf was already checked, and refreshed, by the Tensor.node getter)
      if (node.op !== "buffer") for (const leaf of toposort([node])) if (leaf.op === "buffer") checkLeaf(leaf, node);
      if (!dst) return void (t.node = bufferNode(v, t.shape));
      if (v.buffer === dst.buffer && v.offset === dst.offset) return void (t.node = bufferNode(dst, t.shape));
      // Already realized elsewhere: a buffer copy when WebGPU's 4-byte copy alignment allows, else a copy kernel.
      if (storageBytesOf(v) % 4 === 0 && v.offset % 4 === 0 && dst.offset % 4 === 0) return void copies.push([v, dst, t]);
    }
    const at = todo.indexOf(t);
    if (at < 0) {
      todo.push(t);
      todoInto.push(dst);
    } else if (dst && todoInto[at] && todoInto[at] !== dst) throw new Error(`octet.realize: ${t} is given two different into targets`);
    else todoInto[at] ??= dst;
  });
  if (copies.length) {
    const dev = deviceNow();
    const enc = dev.createCommandEncoder({ label: "realize into" });
    for (const [src, dst] of copies) enc.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, storageBytesOf(src));
    dev.queue.submit([enc.finish()]);
    for (const [, dst, t] of copies) {
      dst.bump("realize into");
      t.node = bufferNode(dst, t.shape);
    }
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
  // An into target that aliases a buffer the graph reads through another storage (another view of the same
  // bytes) would be written while other kernels may still read it: those results go to a new buffer and
  // are copied after the program.
  const aliases = (dst: Storage) => storages.some((st) => st !== dst && st.buffer === dst.buffer && st.offset < dst.offset + dst.bytes && dst.offset < st.offset + st.bytes);
  const after: [number, Storage][] = [];
  const intoSlots = todoInto.map((dst, i) => {
    if (!dst) return undefined;
    if (aliases(dst)) return void after.push([i, dst]);
    let slot = slotOf.get(dst);
    if (slot === undefined) slotOf.set(dst, (slot = storages.push(dst) - 1));
    return slot;
  });
  const declared = storages.map((st, i) => ({ kind: "input" as const, name: `x${i}`, dtype: st.dtype, shape: [st.numel] }));
  const intoKey = intoSlots.some((s) => s !== undefined) ? `|into:${intoSlots.join(",")}|${declared.map((d) => `${d.dtype}${d.shape[0]}`).join(",")}` : "";
  await device();
  const target = deviceTarget();
  const key = `${targetKey(target)}|${canon.map((n) => n.id).join(",")}${intoKey}`;
  let prog = cachedProgram(key);
  if (!prog) {
    const name = programName(canon);
    const targets = canon.map((node, i) => ({ node, name: `out${i}`, into: intoSlots[i] }));
    prog = new Program(schedule(targets, name, intoKey ? declared : [], target), name);
    cacheProgram(key, prog, canon);
  }
  const all = await prog.run([...storages], {});
  todo.forEach((t, i) => {
    const st = all[prog!.schedule.results[i]];
    t.node = bufferNode(st, t.shape);
    if (intoSlots[i] === undefined) own(t, st); // an into target belongs to whoever gave it
  });
  if (after.length) {
    const dev = deviceNow();
    const enc = dev.createCommandEncoder({ label: "realize into (aliased)" });
    for (const [i, dst] of after) {
      const src = storageOf(todo[i]);
      enc.copyBufferToBuffer(src.buffer, src.offset, dst.buffer, dst.offset, Math.ceil(storageBytesOf(src) / 4) * 4);
    }
    dev.queue.submit([enc.finish()]);
    for (const [i, dst] of after) {
      dst.bump("realize into");
      todo[i].node = bufferNode(dst, todo[i].shape);
    }
  }
}

function intoStorage(t: Tensor): Storage {
  const v = t.node.op === "buffer" ? storageOf(t) : viewOf(t.node);
  if (!v) throw new Error(`octet.realize: an into target must be a realized tensor (a buffer or a reshape of one), got ${t}`);
  return v;
}

/** Bytes of a storage's elements (unpadded). */
const storageBytesOf = (s: Storage) => storageBytes(s.dtype, s.numel);

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

/**
 * `octet.tensor` without the await, for synchronous code such as a Module's constructor (PyTorch style):
 * `new octet.nn.Parameter(octet.tensorNow(values, [out, in]))`. Needs the device acquired once before
 * (`await octet.device()`); otherwise it throws saying so. Same data, shape and dtype rules as `octet.tensor`.
 */
export function tensorNow(data: ArrayLike<number> | Nested[], shape?: number[], opts: TensorOptions = {}): Tensor {
  const inferred: number[] = [];
  const flat: ArrayLike<number> = Array.isArray(data) ? flattenNested(data as Nested[], inferred) : data;
  const s = shape ?? (Array.isArray(data) ? inferred : [flat.length]);
  if (numel(s) !== flat.length) throw new Error(`octet.tensorNow: ${flat.length} values do not fill shape [${s.join(",")}]`);
  const dtype: DType = opts.dtype ?? (data instanceof Int32Array ? "i32" : data instanceof Uint32Array ? "u32" : data instanceof Uint8Array ? "u8" : "f32");
  if (!DTYPES[dtype]) throw new Error(`octet.tensorNow: unknown dtype ${dtype}`);
  const dev = deviceNow();
  const st = allocateOn(dev, dtype, flat.length, opts.category ?? "temporaries");
  uploadOn(dev, st, flat);
  return own(new Tensor(bufferNode(st, s, opts.name)), st);
}

/** A realized tensor of zeros. */
export async function zeros(shape: number[], opts: TensorOptions = {}): Promise<Tensor> {
  const dtype = opts.dtype ?? "f32";
  const st = await allocate(dtype, numel(shape), opts.category ?? "temporaries", true);
  return own(new Tensor(bufferNode(st, shape, opts.name)), st);
}
