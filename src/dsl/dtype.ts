// Element types. `bits` is the storage width; `wgsl` is the type a value has inside a kernel. Packed
// storage types (u8 and u16 today, room for u4) live in u32 words on the GPU: WGSL has no 8- or 16-bit
// integer storage type, so a thread that writes one owns a whole word of 32 / bits elements.

export type DType = "f32" | "f16" | "i32" | "u32" | "bool" | "u8" | "u16";

export interface DTypeInfo {
  bits: number; // bits per element in storage
  wgsl: string; // scalar type inside a kernel
  storage: string; // scalar type of the storage array element
  packed: number; // elements per storage word (1 = unpacked)
  float: boolean;
  signed: boolean;
  array: (n: number) => TypedArray;
}

export type TypedArray = Float32Array | Int32Array | Uint32Array | Uint8Array | Uint16Array;

export const DTYPES: Record<DType, DTypeInfo> = {
  f32: { bits: 32, wgsl: "f32", storage: "f32", packed: 1, float: true, signed: true, array: (n) => new Float32Array(n) },
  // f16 values are carried as raw binary16 bits in a Uint16Array on the host.
  f16: { bits: 16, wgsl: "f16", storage: "f16", packed: 1, float: true, signed: true, array: (n) => new Uint16Array(n) },
  i32: { bits: 32, wgsl: "i32", storage: "i32", packed: 1, float: false, signed: true, array: (n) => new Int32Array(n) },
  u32: { bits: 32, wgsl: "u32", storage: "u32", packed: 1, float: false, signed: false, array: (n) => new Uint32Array(n) },
  // bool is not host-shareable in WGSL: stored as one u32 (0 or 1) per element.
  bool: { bits: 32, wgsl: "bool", storage: "u32", packed: 1, float: false, signed: false, array: (n) => new Uint32Array(n) },
  // 8-bit codes, four to a u32 word, little-endian (element 4w+k in bits 8k..8k+7 of word w).
  u8: { bits: 8, wgsl: "u32", storage: "u32", packed: 4, float: false, signed: false, array: (n) => new Uint8Array(n) },
  // 16-bit codes, two to a u32 word (element 2w+k in bits 16k..16k+15 of word w): bf16 values are stored as
  // these (ops/bf16.ts converts in the DSL), since WGSL has no bf16 type.
  u16: { bits: 16, wgsl: "u32", storage: "u32", packed: 2, float: false, signed: false, array: (n) => new Uint16Array(n) },
};

/** Whether d is a packed code type (several elements per u32 word): compute with it only after a cast. */
export const isPacked = (d: DType): boolean => DTYPES[d].packed > 1;

export const isFloat = (d: DType): boolean => DTYPES[d].float;

/** Bytes a tensor of n elements occupies in a GPU buffer (before octet's 16-byte padding). */
export const storageBytes = (d: DType, n: number): number => Math.ceil((n * DTYPES[d].bits) / 8);
/** Bytes rounded up to a whole number of 16-byte units, at least one: how every GPU buffer is sized. */
export const pad16 = (bytes: number): number => Math.max(16, Math.ceil(bytes / 16) * 16);
/** Bytes of the buffer that holds n elements of d (runtime/storage.ts allocates this; the scheduler plans with it). */
export const paddedBytes = (d: DType, n: number): number => pad16(storageBytes(d, n));

export function typedArrayFor(d: DType, n: number): TypedArray {
  return DTYPES[d].array(n);
}
