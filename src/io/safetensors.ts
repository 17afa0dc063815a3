// safetensors reader and writer (https://github.com/huggingface/safetensors, format as of 0.4).
//
//   [u64 little-endian N][N bytes of UTF-8 JSON header, space-padded][data section]
//
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (byte offsets
// into the data section) plus an optional "__metadata__" string -> string map. Tensor bytes are
// raw little-endian, C order. The data section must be covered exactly: no holes, no overlaps,
// nothing after the last tensor (upstream refuses holes so a file cannot double as another format).
//
// Layout choices of this writer, matching upstream's `serialize`:
// - the header is padded with spaces to a multiple of 8 bytes, so the data section starts 8-aligned;
// - tensor data is laid out by element size, largest first, so every tensor starts at a multiple
//   of its own element size (a Float32Array can view it without a copy). Unlike upstream, the
//   header lists tensors in the caller's order and ties keep the caller's order, so names come
//   back in the order they went in.
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { writeFileAtomic } from "./atomic.ts";

/** Typed array holding each dtype. F16, BF16 and the FP8 formats are raw bit patterns. */
export interface DtypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  U64: BigUint64Array;
  I32: Int32Array;
  U32: Uint32Array;
  I16: Int16Array;
  U16: Uint16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
  F8_E4M3: Uint8Array;
  F8_E5M2: Uint8Array;
}
export type Dtype = keyof DtypeArrays;

type ArrayCtor = {
  new (buffer: ArrayBuffer, byteOffset?: number, length?: number): ArrayBufferView;
  readonly BYTES_PER_ELEMENT: number;
};

/** Element size in bytes and the typed array class of each dtype (upstream `Dtype::size`). */
export const DTYPES: Record<Dtype, { size: number; array: ArrayCtor }> = {
  F64: { size: 8, array: Float64Array },
  F32: { size: 4, array: Float32Array },
  F16: { size: 2, array: Uint16Array },
  BF16: { size: 2, array: Uint16Array },
  I64: { size: 8, array: BigInt64Array },
  U64: { size: 8, array: BigUint64Array },
  I32: { size: 4, array: Int32Array },
  U32: { size: 4, array: Uint32Array },
  I16: { size: 2, array: Int16Array },
  U16: { size: 2, array: Uint16Array },
  I8: { size: 1, array: Int8Array },
  U8: { size: 1, array: Uint8Array },
  BOOL: { size: 1, array: Uint8Array },
  F8_E4M3: { size: 1, array: Uint8Array },
  F8_E5M2: { size: 1, array: Uint8Array },
};

/** One tensor: `data` holds prod(shape) elements of `dtype`, C order. */
export type SafeTensor = { [D in Dtype]: { dtype: D; shape: number[]; data: DtypeArrays[D] } }[Dtype];

export interface Safetensors {
  tensors: Record<string, SafeTensor>;
  /** The `__metadata__` map; empty when the file has none. */
  metadata: Record<string, string>;
  /**
   * Tensor names in header order. Prefer this to `Object.keys(tensors)`: JS objects list
   * integer-like keys ("0", "1") first whatever the insertion order.
   */
  names: string[];
}

export class SafetensorsError extends Error {
  override name = "SafetensorsError";
}

/** Upstream's limit (MAX_HEADER_SIZE); a larger length field means a corrupt or foreign file. */
export const MAX_HEADER_BYTES = 100_000_000;

const METADATA_KEY = "__metadata__";

const offset = z.number().int().nonnegative();
const tensorInfoSchema = z.object({
  dtype: z.string(),
  shape: z.array(offset),
  data_offsets: z.tuple([offset, offset]),
});
const metadataSchema = z.record(z.string(), z.string());
const headerSchema = z.record(z.string(), z.unknown());

// Typed arrays use the host's byte order and safetensors is little-endian; every platform Bun
// and Dawn run on is little-endian, so refuse loudly rather than byte-swap.
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function assertLittleEndian(where: string): void {
  if (!HOST_LITTLE_ENDIAN) throw new SafetensorsError(`${where}: big-endian hosts are not supported`);
}

/** Own keys only: `"toString" in DTYPES` is true. */
function isDtype(name: string): name is Dtype {
  return Object.hasOwn(DTYPES, name);
}

/** "F32[2,3]" */
function describe(dtype: string, shape: readonly number[]): string {
  return `${dtype}[${shape.join(",")}]`;
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/**
 * Serialize tensors and optional string metadata to safetensors bytes. The header lists tensors
 * in `Object.entries(tensors)` order (JS puts integer-like names such as "0" first).
 */
export function encodeSafetensors(
  tensors: Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const where = "encodeSafetensors";
  assertLittleEndian(where);
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new SafetensorsError(`${where}: metadata '${key}' is a ${typeof value}; safetensors metadata values must be strings`);
      }
    }
  }
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) throw new SafetensorsError(`${where}: '${METADATA_KEY}' is reserved and cannot name a tensor`);
    const spec = isDtype(t.dtype) ? DTYPES[t.dtype] : undefined;
    if (spec === undefined) {
      throw new SafetensorsError(`${where}: tensor '${name}': unknown dtype '${t.dtype}' (known: ${Object.keys(DTYPES).join(", ")})`);
    }
    if (!(t.data instanceof spec.array)) {
      throw new SafetensorsError(`${where}: tensor '${name}': dtype ${t.dtype} needs a ${spec.array.name}, got ${t.data?.constructor?.name ?? typeof t.data}`);
    }
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new SafetensorsError(`${where}: tensor '${name}': shape [${t.shape.join(",")}] must be non-negative integers`);
    }
    const n = elementCount(t.shape);
    if (n !== t.data.length) {
      throw new SafetensorsError(`${where}: tensor '${name}': ${describe(t.dtype, t.shape)} has ${n} elements but data has ${t.data.length}`);
    }
  }

  // Largest element size first (stable sort keeps the caller's order within a size): every
  // tensor then starts at a multiple of its element size, since the data section is 8-aligned.
  const layout = entries
    .map(([name, t], index) => ({ name, t, index }))
    .sort((a, b) => DTYPES[b.t.dtype].size - DTYPES[a.t.dtype].size || a.index - b.index);
  const offsets = new Map<string, [number, number]>();
  let dataBytes = 0;
  for (const { name, t } of layout) {
    offsets.set(name, [dataBytes, dataBytes + t.data.byteLength]);
    dataBytes += t.data.byteLength;
  }

  // Assemble the JSON by hand: JSON.stringify of one object would move integer-like names first.
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`${JSON.stringify(METADATA_KEY)}:${JSON.stringify(metadata)}`);
  for (const [name, t] of entries) {
    const info = { dtype: t.dtype, shape: t.shape, data_offsets: offsets.get(name) };
    parts.push(`${JSON.stringify(name)}:${JSON.stringify(info)}`);
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  const headerBytes = json.length + ((8 - (json.length % 8)) % 8); // pad to 8 with spaces

  const out = new Uint8Array(8 + headerBytes + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerBytes);
  const dataStart = 8 + headerBytes;
  for (const { name, t } of layout) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), dataStart + offsets.get(name)![0]);
  }
  return out;
}

/**
 * Parse and validate safetensors bytes. Every tensor's data is copied into a fresh typed array,
 * so the result never aliases `bytes` (and unaligned files from other writers load as well).
 * Throws SafetensorsError naming the problem and the tensor.
 */
export function decodeSafetensors(bytes: Uint8Array): Safetensors {
  return decode(bytes, "decodeSafetensors");
}

function decode(bytes: Uint8Array, where: string): Safetensors {
  assertLittleEndian(where);
  // Declared type needed so TypeScript narrows after a call (an assertion-style `never`).
  const fail: (message: string) => never = (message) => {
    throw new SafetensorsError(`${where}: ${message}`);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${declared} exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file, or corrupt`);
  }
  const headerBytes = Number(declared);
  if (8 + headerBytes > bytes.length) {
    fail(`header length ${headerBytes} runs past the end of the file (${bytes.length - 8} bytes follow the length); file truncated?`);
  }
  if (headerBytes < 2) fail(`header length ${headerBytes} is too small to hold a JSON object`);

  let text = "";
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerBytes));
  } catch {
    fail("header is not valid UTF-8");
  }
  if (!text.startsWith("{")) fail(`header must start with '{', found ${JSON.stringify(text.slice(0, 16))}`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    fail(`header is not valid JSON (${(error as Error).message})`);
  }
  // zod checks shapes; values are then read from `json` itself, because zod rebuilds records by
  // assignment and would silently drop a tensor named "__proto__".
  if (!headerSchema.safeParse(json).success) fail("header must be a JSON object");

  const dataStart = 8 + headerBytes;
  const dataBytes = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const infos: { name: string; dtype: Dtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      const parsed = metadataSchema.safeParse(value);
      if (!parsed.success) fail(`${METADATA_KEY}: ${formatIssue(parsed.error)}; it must map strings to strings`);
      metadata = value as Record<string, string>;
      continue;
    }
    const parsed = tensorInfoSchema.safeParse(value);
    if (!parsed.success) fail(`tensor '${name}': ${formatIssue(parsed.error)}`);
    const { dtype, shape, data_offsets: [begin, end] } = parsed.data;
    if (!isDtype(dtype)) fail(`tensor '${name}': unknown dtype '${dtype}' (known: ${Object.keys(DTYPES).join(", ")})`);
    if (end < begin) fail(`tensor '${name}': data_offsets [${begin},${end}] end before they begin`);
    if (end > dataBytes) {
      fail(`tensor '${name}': data_offsets [${begin},${end}] run past the end of the data section (${dataBytes} bytes); file truncated?`);
    }
    const count = elementCount(shape);
    const need = count * DTYPES[dtype].size;
    if (!Number.isSafeInteger(need) || need !== end - begin) {
      fail(`tensor '${name}': ${describe(dtype, shape)} needs ${need} bytes but data_offsets [${begin},${end}] hold ${end - begin}`);
    }
    infos.push({ name, dtype, shape, begin, end });
  }

  // Exact cover of the data section: walk tensors by offset, every byte claimed exactly once.
  const byOffset = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: (typeof infos)[number] | undefined;
  for (const info of byOffset) {
    if (info.begin < covered) {
      fail(`tensor '${info.name}': data_offsets [${info.begin},${info.end}] overlap tensor '${previous!.name}' [${previous!.begin},${previous!.end}]`);
    }
    if (info.begin > covered) fail(`data bytes [${covered},${info.begin}) before tensor '${info.name}' belong to no tensor`);
    if (info.end > covered || previous === undefined) previous = info;
    covered = Math.max(covered, info.end);
  }
  if (covered !== dataBytes) fail(`data bytes [${covered},${dataBytes}) after the last tensor belong to no tensor`);

  const tensors = Object.fromEntries(
    infos.map(({ name, dtype, shape, begin, end }) => {
      const copy = bytes.slice(dataStart + begin, dataStart + end); // fresh, 0-aligned buffer
      const data = new DTYPES[dtype].array(copy.buffer, 0, (end - begin) / DTYPES[dtype].size);
      return [name, { dtype, shape, data } as SafeTensor];
    }),
  );
  return { tensors, metadata, names: infos.map((i) => i.name) };
}

/** "shape[1]: Invalid input: expected number, received string" from the first zod issue. */
function formatIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const path = issue.path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("");
  return path === "" ? issue.message : `${path}: ${issue.message}`;
}

/** Encode and write atomically (temp file, fsync, rename): a crash never leaves half a checkpoint. */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, SafeTensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}

/** Read and decode a .safetensors file; errors name the path. */
export async function loadSafetensors(path: string): Promise<Safetensors> {
  const buffer = await readFile(path);
  const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  return decode(bytes, `loadSafetensors(${path})`);
}
