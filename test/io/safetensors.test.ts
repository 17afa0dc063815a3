import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../../src/io/atomic.ts";
import {
  DTYPES,
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  saveSafetensors,
  type SafeTensor,
} from "../../src/io/safetensors.ts";

// ---- byte builders for hand-made files (independent of the writer under test) ----
const ascii = (s: string) => new TextEncoder().encode(s);
function u64le(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}
function concat(...parts: (Uint8Array | number[])[]): Uint8Array {
  const arrays = parts.map((p) => (p instanceof Uint8Array ? p : Uint8Array.from(p)));
  const out = new Uint8Array(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}
/** A file whose header is `json` verbatim (length field = its byte length) followed by `data`. */
function file(json: string, data: Uint8Array | number[] = []): Uint8Array {
  const h = ascii(json);
  return concat(u64le(h.length), h, data);
}
const info = (dtype: string, shape: number[], begin: number, end: number) => ({ dtype, shape, data_offsets: [begin, end] });
const header = (entries: Record<string, unknown>) => JSON.stringify(entries);

describe("safetensors golden bytes", () => {
  // Little-endian f32 bytes written out by hand: 1.0 = 0x3f800000, 2.0 = 0x40000000, ...
  const f32_0to5 = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];

  test("one f32 tensor whose header is already 8-aligned (64 bytes): no padding", () => {
    // Same bytes upstream's Rust `serialize` produces for this input (its test_serialization).
    const json = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(json.length).toBe(64);
    const expected = concat(u64le(64), ascii(json), f32_0to5);
    const out = encodeSafetensors({ "attn.0": { dtype: "F32", shape: [1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) } });
    expect(out).toEqual(expected);
  });

  test("header padded with spaces to 8 bytes (65 -> 72)", () => {
    const json = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    const expected = concat(u64le(72), ascii(json + " ".repeat(7)), f32_0to5);
    const out = encodeSafetensors({ attn0: { dtype: "F32", shape: [1, 1, 2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) } });
    expect(out).toEqual(expected);
    expect(Array.from(decodeSafetensors(expected).tensors.attn0!.data as Float32Array)).toEqual([0, 1, 2, 3, 4, 5]);
  });

  test("empty file, with and without metadata", () => {
    expect(encodeSafetensors({})).toEqual(concat(u64le(8), ascii("{}      ")));
    expect(encodeSafetensors({}, { framework: "pt" })).toEqual(
      concat(u64le(40), ascii('{"__metadata__":{"framework":"pt"}}     ')),
    );
    expect(decodeSafetensors(concat(u64le(8), ascii("{}      ")))).toEqual({ tensors: {}, metadata: {}, names: [] });
  });

  test("mixed dtypes: data laid out largest element first, header in caller's order, metadata first", () => {
    // Built by hand: "a" (F32) takes data bytes [0,4), "b" (U8) [4,7); the header keeps b before a.
    const json =
      '{"__metadata__":{"step":"7"},' +
      '"b":{"dtype":"U8","shape":[3],"data_offsets":[4,7]},' +
      '"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    expect(json.length).toBe(134);
    const expected = concat(u64le(136), ascii(json + "  "), [0x00, 0x00, 0xc0, 0x3f], [1, 2, 3]); // 1.5f = 0x3fc00000
    const out = encodeSafetensors(
      { b: { dtype: "U8", shape: [3], data: Uint8Array.from([1, 2, 3]) }, a: { dtype: "F32", shape: [1], data: Float32Array.of(1.5) } },
      { step: "7" },
    );
    expect(out).toEqual(expected);
    const back = decodeSafetensors(expected);
    expect(back.names).toEqual(["b", "a"]);
    expect(back.metadata).toEqual({ step: "7" });
    expect(Array.from(back.tensors.a!.data as Float32Array)).toEqual([1.5]);
    expect(Array.from(back.tensors.b!.data as Uint8Array)).toEqual([1, 2, 3]);
  });

  test("reads an old unpadded header (60 bytes) as upstream's docs example writes it", () => {
    const json = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
    const bytes = file(json, new Uint8Array(16));
    expect(bytes[0]).toBe(60);
    const { tensors } = decodeSafetensors(bytes);
    expect(tensors.test!.dtype).toBe("I32");
    expect(tensors.test!.shape).toEqual([2, 2]);
    expect(Array.from(tensors.test!.data as Int32Array)).toEqual([0, 0, 0, 0]);
  });
});

describe("safetensors round trip", () => {
  const samples: Record<string, SafeTensor> = {
    f64: { dtype: "F64", shape: [3], data: Float64Array.from([Math.PI, -0, 1e300]) },
    f32: { dtype: "F32", shape: [2, 2], data: Float32Array.from([1.5, -2, Infinity, NaN]) },
    f16: { dtype: "F16", shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7e00]) }, // 1, -2, NaN
    bf16: { dtype: "BF16", shape: [1], data: Uint16Array.of(0x3f80) },
    i64: { dtype: "I64", shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) },
    u64: { dtype: "U64", shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
    i32: { dtype: "I32", shape: [3], data: Int32Array.from([-1, 0, 2 ** 31 - 1]) },
    u32: { dtype: "U32", shape: [1, 1, 1], data: Uint32Array.of(0xdeadbeef) },
    i16: { dtype: "I16", shape: [1], data: Int16Array.of(-32768) },
    u16: { dtype: "U16", shape: [1], data: Uint16Array.of(65535) },
    i8: { dtype: "I8", shape: [2], data: Int8Array.from([-128, 127]) },
    u8: { dtype: "U8", shape: [5], data: Uint8Array.from([0, 1, 2, 254, 255]) }, // odd length: misaligns what follows
    bool: { dtype: "BOOL", shape: [2], data: Uint8Array.from([1, 0]) },
    f8: { dtype: "F8_E4M3", shape: [1], data: Uint8Array.of(0x38) },
    f8b: { dtype: "F8_E5M2", shape: [1], data: Uint8Array.of(0x3c) },
    scalar: { dtype: "F32", shape: [], data: Float32Array.of(42) },
    empty: { dtype: "F32", shape: [0, 4], data: new Float32Array(0) },
  };

  test("every dtype, scalars and zero-size tensors survive bit-exactly", () => {
    expect(new Set<string>(Object.values(samples).map((t) => t.dtype))).toEqual(new Set(Object.keys(DTYPES)));
    const back = decodeSafetensors(encodeSafetensors(samples));
    for (const [name, t] of Object.entries(samples)) {
      const got = back.tensors[name]!;
      expect(got.dtype).toBe(t.dtype);
      expect(got.shape).toEqual(t.shape);
      expect(got.data.constructor).toBe(t.data.constructor);
      // Compare bytes, so NaN payloads and -0 count too.
      const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
      expect(bytes(got.data)).toEqual(bytes(t.data));
    }
  });

  test("every tensor starts aligned to its element size in the file", () => {
    const bytes = encodeSafetensors(samples);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    for (const [name, t] of Object.entries(samples)) {
      expect(parsed[name].data_offsets[0] % DTYPES[t.dtype].size).toBe(0);
    }
  });

  test("names come back in insertion order, integer-like names included", () => {
    const t = (v: number): SafeTensor => ({ dtype: "U8", shape: [1], data: Uint8Array.of(v) });
    const order = ["z", "10", "a.weight", "2", "__proto__"];
    const input = Object.fromEntries(order.map((name, i) => [name, t(i)]));
    // Object.keys(input) would already put "2" and "10" first; build the record in order anyway.
    const back = decodeSafetensors(encodeSafetensors(input));
    expect(back.names).toEqual(Object.keys(input));
    expect(Object.getPrototypeOf(back.tensors)).toBe(Object.prototype); // "__proto__" is an own key
    expect(Array.from(back.tensors["__proto__"]!.data as Uint8Array)).toEqual([4]);
  });

  test("metadata round trip, including unicode", () => {
    const metadata = { format: "octet", blockSize: "256", note: "déjà vu — ✓" };
    const back = decodeSafetensors(encodeSafetensors({ w: { dtype: "F32", shape: [1], data: Float32Array.of(1) } }, metadata));
    expect(back.metadata).toEqual(metadata);
    const parsed = JSON.parse('{"__proto__":"p","0":"zero"}');
    expect(decodeSafetensors(encodeSafetensors({}, parsed)).metadata).toEqual(parsed);
  });

  test("a subarray view is written from its own window, not the whole buffer", () => {
    const big = Float32Array.from([9, 1, 2, 9]);
    const back = decodeSafetensors(encodeSafetensors({ v: { dtype: "F32", shape: [2], data: big.subarray(1, 3) } }));
    expect(Array.from(back.tensors.v!.data as Float32Array)).toEqual([1, 2]);
  });

  test("decoded arrays do not alias the input bytes", () => {
    const bytes = encodeSafetensors({ v: { dtype: "U8", shape: [1], data: Uint8Array.of(7) } });
    const back = decodeSafetensors(bytes);
    bytes[bytes.length - 1] = 99;
    expect((back.tensors.v!.data as Uint8Array)[0]).toBe(7);
  });
});

describe("safetensors rejects bad input with a specific error", () => {
  const good = encodeSafetensors({
    w: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) },
    b: { dtype: "U8", shape: [3], data: Uint8Array.from([1, 2, 3]) },
  });
  const bad = (bytes: Uint8Array) => () => decodeSafetensors(bytes);

  test("truncated: fewer than 8 bytes", () => {
    expect(bad(good.subarray(0, 5))).toThrow(/file is 5 bytes, shorter than the 8-byte header length/);
  });
  test("truncated inside the header", () => {
    expect(bad(good.subarray(0, 20))).toThrow(/header length \d+ runs past the end of the file \(12 bytes follow/);
  });
  test("truncated inside the data names the tensor cut off", () => {
    expect(bad(good.subarray(0, good.length - 1))).toThrow(/tensor 'b': data_offsets \[8,11\] run past the end of the data section \(10 bytes\)/);
  });
  test("header length absurdly large", () => {
    const bytes = good.slice();
    bytes.set([0, 0, 0, 0, 0, 0, 0, 0x80]);
    expect(bad(bytes)).toThrow(/header length 9223372036854775808 exceeds the 100000000-byte limit/);
  });
  test("header length too small", () => {
    expect(bad(concat(u64le(0), ascii("{}")))).toThrow(/header length 0 is too small/);
  });
  test("header not starting with '{'", () => {
    expect(bad(file('["not an object"]'))).toThrow(/header must start with '\{'/);
  });
  test("bad JSON", () => {
    expect(bad(file('{"w":{"dtype":"F32",'))).toThrow(/header is not valid JSON/);
  });
  test("invalid UTF-8", () => {
    expect(bad(concat(u64le(4), [0x7b, 0xff, 0xfe, 0x7d]))).toThrow(/header is not valid UTF-8/);
  });
  test("missing field, wrong types, negative dims", () => {
    expect(bad(file(header({ w: { dtype: "F32", shape: [1] } }), [0, 0, 0, 0]))).toThrow(/tensor 'w': data_offsets: /);
    expect(bad(file(header({ w: { dtype: "F32", shape: ["1"], data_offsets: [0, 4] } }), [0, 0, 0, 0]))).toThrow(/tensor 'w': shape\[0\]: /);
    expect(bad(file(header({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }), [0, 0, 0, 0]))).toThrow(/tensor 'w': shape\[0\]: /);
    expect(bad(file(header({ w: { dtype: "F32", shape: [1], data_offsets: [0, 1.5] } }), [0, 0, 0, 0]))).toThrow(/tensor 'w': data_offsets\[1\]: /);
    expect(bad(file(header({ w: 3 })))).toThrow(/tensor 'w': /);
  });
  test("unknown dtype names the tensor and the dtype", () => {
    expect(bad(file(header({ w: info("F128", [1], 0, 16) }), new Uint8Array(16)))).toThrow(/tensor 'w': unknown dtype 'F128' \(known: F64, F32/);
    expect(bad(file(header({ w: info("toString", [1], 0, 1) }), new Uint8Array(1)))).toThrow(/unknown dtype 'toString'/);
  });
  test("wrong size for shape and dtype", () => {
    expect(bad(file(header({ w: info("F32", [3], 0, 8) }), new Uint8Array(8)))).toThrow(
      /tensor 'w': F32\[3\] needs 12 bytes but data_offsets \[0,8\] hold 8/,
    );
    expect(bad(file(header({ w: info("I64", [1], 0, 4) }), new Uint8Array(4)))).toThrow(/tensor 'w': I64\[1\] needs 8 bytes/);
  });
  test("offsets out of range or reversed", () => {
    expect(bad(file(header({ w: info("U8", [4], 0, 4) }), [1, 2]))).toThrow(/tensor 'w': data_offsets \[0,4\] run past the end of the data section \(2 bytes\)/);
    expect(bad(file(header({ w: info("U8", [0], 2, 1) }), [1, 2]))).toThrow(/tensor 'w': data_offsets \[2,1\] end before they begin/);
  });
  test("overlapping tensors name both", () => {
    const json = header({ a: info("U8", [4], 0, 4), b: info("U8", [4], 2, 6) });
    expect(bad(file(json, new Uint8Array(6)))).toThrow(/tensor 'b': data_offsets \[2,6\] overlap tensor 'a' \[0,4\]/);
    const zeroInside = header({ a: info("U8", [4], 0, 4), z: info("U8", [0], 2, 2) });
    expect(bad(file(zeroInside, new Uint8Array(4)))).toThrow(/tensor 'z': data_offsets \[2,2\] overlap tensor 'a'/);
  });
  test("holes and trailing bytes are refused", () => {
    const hole = header({ a: info("U8", [2], 0, 2), b: info("U8", [2], 3, 5) });
    expect(bad(file(hole, new Uint8Array(5)))).toThrow(/data bytes \[2,3\) before tensor 'b' belong to no tensor/);
    expect(bad(file(header({ a: info("U8", [2], 0, 2) }), new Uint8Array(3)))).toThrow(/data bytes \[2,3\) after the last tensor belong to no tensor/);
    expect(bad(concat(good, [0]))).toThrow(/after the last tensor/);
  });
  test("zero-size tensors at a boundary are fine", () => {
    const json = header({ a: info("U8", [2], 0, 2), e: info("F32", [0], 2, 2), b: info("U8", [1], 2, 3) });
    expect(decodeSafetensors(file(json, [1, 2, 3])).names).toEqual(["a", "e", "b"]);
  });
  test("bad __metadata__", () => {
    expect(bad(file(header({ __metadata__: { step: 3 } })))).toThrow(/__metadata__: step: .*must map strings to strings/);
    expect(bad(file(header({ __metadata__: "x" })))).toThrow(/__metadata__: /);
  });
  test("the writer refuses mismatched input", () => {
    expect(() => encodeSafetensors({ w: { dtype: "F32", shape: [3], data: new Float32Array(2) } })).toThrow(
      /tensor 'w': F32\[3\] has 3 elements but data has 2/,
    );
    expect(() => encodeSafetensors({ w: { dtype: "F16", shape: [1], data: new Float32Array(1) as never } })).toThrow(
      /tensor 'w': dtype F16 needs a Uint16Array, got Float32Array/,
    );
    expect(() => encodeSafetensors({ w: { dtype: "Q4" as never, shape: [1], data: new Uint8Array(1) } })).toThrow(/unknown dtype 'Q4'/);
    expect(() => encodeSafetensors({ w: { dtype: "constructor" as never, shape: [1], data: new Uint8Array(1) } })).toThrow(/unknown dtype 'constructor'/);
    expect(() => encodeSafetensors({ __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) } })).toThrow(/reserved/);
    expect(() => encodeSafetensors({}, { step: 3 as never })).toThrow(/metadata 'step' is a number/);
  });
});

describe("files", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "octet-io-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("save then load, and load errors name the path", async () => {
    const path = join(dir, "model.safetensors");
    await saveSafetensors(path, { w: { dtype: "F32", shape: [2], data: Float32Array.from([1, 2]) } }, { step: "3" });
    const back = await loadSafetensors(path);
    expect(Array.from(back.tensors.w!.data as Float32Array)).toEqual([1, 2]);
    expect(back.metadata).toEqual({ step: "3" });
    writeFileSync(join(dir, "junk.safetensors"), "nope");
    await expect(loadSafetensors(join(dir, "junk.safetensors"))).rejects.toThrow(/loadSafetensors\(.*junk\.safetensors\): file is 4 bytes/);
  });

  test("writeFileAtomic replaces the file and leaves no temp files", async () => {
    const path = join(dir, "a.bin");
    writeFileSync(path, "old");
    await writeFileAtomic(path, ascii("new contents"));
    expect(readFileSync(path, "utf8")).toBe("new contents");
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("writeFileAtomic into a missing directory fails naming the path, creating nothing", async () => {
    const path = join(dir, "missing", "a.bin");
    await expect(writeFileAtomic(path, ascii("x"))).rejects.toThrow(/writeFileAtomic\(.*missing\/a\.bin\): .*(ENOENT|no such file)/i);
    expect(existsSync(join(dir, "missing"))).toBe(false);
  });

  test("a failed rename leaves the target intact and removes the temp file", async () => {
    const target = join(dir, "occupied");
    mkdirSync(target);
    writeFileSync(join(target, "keep"), "kept");
    await expect(writeFileAtomic(target, ascii("x"))).rejects.toThrow(/writeFileAtomic\(.*occupied\)/);
    expect(readFileSync(join(target, "keep"), "utf8")).toBe("kept");
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });

  test("an encoding error leaves the old checkpoint intact", async () => {
    const path = join(dir, "ckpt.safetensors");
    await saveSafetensors(path, { w: { dtype: "U8", shape: [1], data: Uint8Array.of(1) } });
    const before = readFileSync(path);
    await expect(saveSafetensors(path, { w: { dtype: "U8", shape: [2], data: Uint8Array.of(1) } })).rejects.toThrow(/2 elements/);
    expect(readFileSync(path)).toEqual(before);
  });

  test("a write failing halfway (file size limit) leaves the old file intact", () => {
    // Under `ulimit -f 64` the kernel refuses writes past 64 KiB (EFBIG; Bun ignores SIGXFSZ):
    // the 4 MiB temp file fails mid-write, as on a full disk.
    const path = join(dir, "big.bin");
    writeFileSync(path, "old");
    const atomic = join(import.meta.dir, "../../src/io/atomic.ts");
    const script = `import { writeFileAtomic } from ${JSON.stringify(atomic)}; await writeFileAtomic(${JSON.stringify(path)}, new Uint8Array(1 << 22));`;
    const child = Bun.spawnSync(["bash", "-c", `ulimit -f 64 && exec "$0" -e "$1"`, process.execPath, script], { stderr: "pipe" });
    expect(child.exitCode).not.toBe(0);
    expect(child.stderr.toString()).toMatch(/writeFileAtomic\(.*big\.bin\): EFBIG/);
    expect(readFileSync(path, "utf8")).toBe("old");
    expect(readdirSync(dir).filter((f) => f.endsWith(".tmp"))).toEqual([]);
  });
});
