// WGSL of the fused attention kernels (codegen/lowerings/attention.ts has the algorithm and the geometry).
// Every buffer is bound whole as an array of head-row vectors (vec4<f32> when the head size is a multiple
// of 4, else f32), so the packed qkv rows are read with strides: row (b, t), part p (0 q, 1 k, 2 v), head h
// starts at vector ((b*T + t) * 3 + p) * CV + h * D, CV = H * D vectors per part.
//
// Summation order, which the interpreter (attention-interpret.ts) repeats: a dot product accumulates
// vector lanes over the head's vectors in order, then adds the lanes as (x + y) + (z + w); softmax sums and
// gradient sums run over keys (or queries) in increasing order.
import type { Kernel } from "../kernel.ts";
import { DISPATCH_FIELDS, kernelBanner, paramsStruct } from "../banner.ts";
import { SUBGROUP_BODY } from "./attention-subgroup.ts";

/** Names the kernels use for their own values: a binding called one of these gets a suffix. */
const LOCALS = new Set(
  ("q g k v a c sp sd start Dn bh acc dq dk dv s m l m_new alpha lse Di Dv dot_out b h i j e x n p ds r r0 row own last end inv ii i0 j0 " +
    "t0 at lane k_row v_row q_row g_row lse_l d_l Dsum " +
    "q_at o_at kv_at wid lid params main hsum Params k_tile v_tile q_tile g_tile lse_tile d_tile").split(" "),
);

/** The subgroup kernels' per-row locals: a short name and the row (q0, acc1, s0_3, ...). */
const ROW_LOCAL = /^(q|g|k|v|i|j|m|l|mn|al|acc|dq|dk|dv|s|p|ds|lse|Di)\d+(_\d+)?$/;

function bindingNames(names: string[]): string[] {
  return names.map((raw) => {
    const n = raw.replace(/_scalar$/, "");
    return LOCALS.has(n) || ROW_LOCAL.test(n) || /^[A-Z]+$/.test(n) ? `${n}_buf` : n;
  });
}

export function emitAttention(k: Kernel, rawNames: string[]): string {
  const g = k.attention!;
  const names = bindingNames(rawNames);
  const V = g.vec === 4;
  const t = V ? "vec4<f32>" : "f32";
  const D = g.d / g.vec;
  const scale = Math.fround(1 / Math.sqrt(g.d));
  const scaleText = Number.isInteger(scale) ? `${scale}.0` : String(scale);
  // Loops over a head's vectors run to the constant D when it is at most 4 (the compiler unrolls them and
  // keeps the vectors in registers), else to Dn, the same number read as a runtime value: lavapipe
  // unrolled 16-vector loops into code that took 5-25 s of CPU to compile per kernel at head size 64 (and
  // spilled anyway); kept as loops they compile in about a second.
  const ctx: Ctx = { t, zero: `${t}(0)`, D, names, loopD: D <= 4 ? "D" : "Dn" };
  const role = ROLES[g.pass];
  const header = kernelBanner(
    k,
    [
      `fused causal attention, ${DESCRIPTION[g.pass]}`,
      g.subgroup
        ? `head size ${g.d} as ${D} x ${t}; workgroup = one subgroup of ${g.wg} lanes, ${g.rows} ${g.pass === "dkv" ? "key" : "query"} rows each; tiles of ${g.tile} ${g.pass === "dkv" ? "query" : "key"} rows, one per lane, passed by subgroupBroadcast`
        : `head size ${g.d} as ${D} x ${t}; workgroup ${g.wg} threads, one per ${g.pass === "dkv" ? "key" : "query"} row; tiles of ${g.tile} ${g.pass === "dkv" ? "query" : "key"} rows in workgroup memory`,
    ],
    [`${DISPATCH_FIELDS.join(", ")}, T, H, b0: this dispatch's first sequence, first<i>: the`, "element of binding i's whole tensor at which its bound window starts)"],
    k.bindings.map((b, i) => `${names[i]}: ${b.dtype} ${b.write ? "write" : "read"} (${role[i]})`),
  );
  const decls = k.bindings
    .map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.write ? "read_write" : "read"}> ${names[i]}: array<${role[i].startsWith("[B*H*T, 2]") ? "f32" : t}>;`)
    .join("\n");
  const common = `${header}
${g.subgroup ? "enable subgroups;\n" : ""}
${paramsStruct(k.uniforms.map((u) => u.name))}
${decls}

const D = ${D}u; // vectors per head row
const WG = ${g.wg}u; // threads per workgroup
const TILE = ${g.tile}u; // rows per staged tile
const SCALE = ${scaleText}; // 1 / sqrt(head size) (f32)

fn hsum(x: ${t}) -> f32 { return ${V ? "(x.x + x.y) + (x.z + x.w)" : "x"}; }
`;
  if (g.subgroup) return common + SUBGROUP_BODY[g.pass](ctx, g.rows, g.tile);
  return common + BODY[g.pass](ctx).replace(/e < D;/g, `e < ${ctx.loopD};`);
}

export interface Ctx {
  t: string;
  zero: string;
  D: number;
  names: string[];
  /** The bound of loops over a head's vectors: "D" (a constant) or "Dn" (D + params.zero, opaque to the compiler). */
  loopD: "D" | "Dn";
}

const DESCRIPTION = {
  forward: "forward (FlashAttention-2): O = softmax(scale q k^T, causal) v with an online softmax",
  dq: "backward, dQ pass: per query row D = dO.O and the row's log-sum-exp, then dQ; writes (lse, D) per row",
  dkv: "backward, dK/dV pass: per key row, over the query tiles at or below the diagonal",
};

const ROLES = {
  forward: ["[B*T, 3C] packed q | k | v", "[B*T, C] O, heads merged"],
  dq: ["[B*T, 3C] packed q | k | v", "[B*T, C] O", "[B*T, C] dO", "[B*T, 3C] d qkv: the q part", "[B*H*T, 2] (lse, D) per query row"],
  dkv: ["[B*T, 3C] packed q | k | v", "[B*T, C] dO", "[B*H*T, 2] (lse, D) per query row", "[B*T, 3C] d qkv: the k and v parts"],
};

/** The first lines of every pass's main, staged or subgroup: the sequence and head this workgroup owns. */
export const SEQUENCE_AND_HEAD = `  let T = params.T;
  let Dn = D + params.zero; // D, as a value the compiler cannot unroll loops over
  let CV = params.H * D; // vectors per part (q, k or v) of a packed row
  let bh = params.b0 * params.H + wid.y; // (sequence, head) of this workgroup: this dispatch starts at sequence b0
  let b = bh / params.H;
  let h = bh % params.H;
`;

/** Declarations every pass opens main with: which sequence, head and rows this workgroup owns. */
function prologue(side: string): string {
  return `@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
${SEQUENCE_AND_HEAD}  let r0 = wid.x * WG; // first ${side} row of this workgroup
  let own = r0 + lid < T; // threads past T repeat the last row and store nothing
  let r = min(r0 + lid, T - 1u);
`;
}

/** Stages tile rows j0 .. j0 + TILE - 1 (clamped to T - 1) of parts into workgroup arrays. */
function stageKV(c: Ctx, parts: [string, number][]): string {
  const [X] = c.names;
  return `    for (var x = lid; x < TILE * D; x += WG) {
      let at = ((b * T + min(j0 + x / D, T - 1u)) * 3u) * CV + h * D + x % D;
${parts.map(([tile, p]) => `      ${tile}[x] = ${X}[at + ${p}u * CV - params.first0];`).join("\n")}
    }
    workgroupBarrier();`;
}

const dot = (c: Ctx, a: (e: string) => string, b: (e: string) => string) =>
  `{ var a = ${c.zero}; for (var e = 0u; e < D; e++) { a += ${a("e")} * ${b("e")}; } dot_out = hsum(a); }`;

function forwardBody(c: Ctx): string {
  const [X, O] = c.names;
  return `var<workgroup> k_tile: array<${c.t}, ${c.D}u * TILE>; // [TILE][D] key rows
var<workgroup> v_tile: array<${c.t}, ${c.D}u * TILE>; // [TILE][D] value rows

${prologue("query")}  let i = r;
  let last = min(r0 + WG, T) - 1u; // the workgroup's last query row: key tiles past it are never visited
  let q_at = ((b * T + i) * 3u) * CV + h * D;
  var q: array<${c.t}, D>; // this row's query, times SCALE
  var acc: array<${c.t}, D>; // sum over keys of exp(s - m) v
  for (var e = 0u; e < D; e++) { q[e] = ${X}[q_at + e - params.first0] * SCALE; acc[e] = ${c.zero}; }
  var m: f32 = -3.0e38; // running max of the row's scores (finite, so exp(m - m_new) is never exp(inf - inf))
  var l: f32 = 0.0; // running sum of exp(s - m)
  var s: array<f32, TILE>; // this tile's scores, then their exp(s - m_new)
  var dot_out: f32;
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
${stageKV(c, [["k_tile", 1], ["v_tile", 2]])}
    let n = select(0u, min(TILE, i + 1u - j0), i >= j0); // causal: keys j0 .. min(i, j0 + TILE - 1)
    var m_new = m;
    for (var j = 0u; j < n; j++) {
      ${dot(c, (e) => `q[${e}]`, (e) => `k_tile[j * D + ${e}]`)}
      s[j] = dot_out;
      m_new = max(m_new, dot_out);
    }
    let alpha = exp(m - m_new);
    l = l * alpha;
    for (var j = 0u; j < n; j++) { let p = exp(s[j] - m_new); s[j] = p; l = l + p; }
    // acc = alpha acc + sum_j p_j v_j, one head vector at a time: only one accumulator is live in the
    // key loop (all D of them live across it made lavapipe's register allocator spill, and compile for
    // tens of seconds at head size 64).
    for (var e = 0u; e < D; e++) {
      var a = acc[e] * alpha;
      for (var j = 0u; j < n; j++) { a = a + s[j] * v_tile[j * D + e]; }
      acc[e] = a;
    }
    m = m_new;
    workgroupBarrier();
  }
  if (own) {
    let inv = 1.0 / l;
    let o_at = (b * T + i) * CV + h * D;
    for (var e = 0u; e < D; e++) { ${O}[o_at + e - params.first1] = acc[e] * inv; }
  }
}
`;
}

function dqBody(c: Ctx): string {
  const [X, O, G, DX, S] = c.names;
  return `var<workgroup> k_tile: array<${c.t}, ${c.D}u * TILE>; // [TILE][D] key rows
var<workgroup> v_tile: array<${c.t}, ${c.D}u * TILE>; // [TILE][D] value rows

${prologue("query")}  let i = r;
  let last = min(r0 + WG, T) - 1u;
  let q_at = ((b * T + i) * 3u) * CV + h * D;
  let o_at = (b * T + i) * CV + h * D;
  var q: array<${c.t}, D>; // this row's query, times SCALE
  var g: array<${c.t}, D>; // this row's dO
  var dq: array<${c.t}, D>;
  var dot_out: f32;
  var Dv = ${c.zero};
  for (var e = 0u; e < D; e++) {
    q[e] = ${X}[q_at + e - params.first0] * SCALE;
    g[e] = ${G}[o_at + e - params.first2];
    dq[e] = ${c.zero};
    Dv += g[e] * ${O}[o_at + e - params.first1];
  }
  let Di = hsum(Dv); // D = dO . O = sum_j P dP, the softmax backward's row term
  // Pass 1: the row's log-sum-exp over keys 0..i (what the forward computed).
  var m: f32 = -3.0e38;
  var l: f32 = 0.0;
  var s: array<f32, TILE>;
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
${stageKV(c, [["k_tile", 1]])}
    let n = select(0u, min(TILE, i + 1u - j0), i >= j0);
    var m_new = m;
    for (var j = 0u; j < n; j++) {
      ${dot(c, (e) => `q[${e}]`, (e) => `k_tile[j * D + ${e}]`)}
      s[j] = dot_out;
      m_new = max(m_new, dot_out);
    }
    l = l * exp(m - m_new);
    for (var j = 0u; j < n; j++) { l = l + exp(s[j] - m_new); }
    m = m_new;
    workgroupBarrier();
  }
  let lse = m + log(l);
  // Pass 2: dQ = SCALE * sum_j P (dP - D) k_j.
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
${stageKV(c, [["k_tile", 1], ["v_tile", 2]])}
    let n = select(0u, min(TILE, i + 1u - j0), i >= j0);
    for (var j = 0u; j < n; j++) {
      ${dot(c, (e) => `q[${e}]`, (e) => `k_tile[j * D + ${e}]`)}
      let p = exp(dot_out - lse);
      ${dot(c, (e) => `g[${e}]`, (e) => `v_tile[j * D + ${e}]`)}
      s[j] = p * (dot_out - Di); // dS_j
    }
    for (var e = 0u; e < D; e++) { // one accumulator live at a time (see the forward)
      var a = dq[e];
      for (var j = 0u; j < n; j++) { a = a + s[j] * k_tile[j * D + e]; }
      dq[e] = a;
    }
    workgroupBarrier();
  }
  if (own) {
    for (var e = 0u; e < D; e++) { ${DX}[q_at + e - params.first3] = dq[e] * SCALE; }
    let row = bh * T + i;
    ${S}[2u * row - params.first4] = lse;
    ${S}[2u * row + 1u - params.first4] = Di;
  }
}
`;
}

function dkvBody(c: Ctx): string {
  const [X, G, S, DX] = c.names;
  return `var<workgroup> q_tile: array<${c.t}, ${c.D}u * TILE>; // [TILE][D] query rows, times SCALE
var<workgroup> g_tile: array<${c.t}, ${c.D}u * TILE>; // [TILE][D] their dO rows
var<workgroup> lse_tile: array<f32, TILE>;
var<workgroup> d_tile: array<f32, TILE>;

${prologue("key")}  let j = r;
  let kv_at = ((b * T + j) * 3u) * CV + h * D;
  var k: array<${c.t}, D>;
  var v: array<${c.t}, D>;
  var dk: array<${c.t}, D>;
  var dv: array<${c.t}, D>;
  var dot_out: f32;
  var sp: array<f32, TILE>; // this tile's P
  var sd: array<f32, TILE>; // and dS
  for (var e = 0u; e < D; e++) { k[e] = ${X}[kv_at + CV + e - params.first0]; v[e] = ${X}[kv_at + 2u * CV + e - params.first0]; dk[e] = ${c.zero}; dv[e] = ${c.zero}; }
  // Query tiles from the one holding this workgroup's first key: earlier queries see none of its keys.
  for (var i0 = (r0 / TILE) * TILE; i0 < T; i0 += TILE) {
    for (var x = lid; x < TILE * D; x += WG) {
      let row = b * T + min(i0 + x / D, T - 1u);
      q_tile[x] = ${X}[(row * 3u) * CV + h * D + x % D - params.first0] * SCALE;
      g_tile[x] = ${G}[row * CV + h * D + x % D - params.first1];
    }
    for (var x = lid; x < TILE; x += WG) {
      let row = bh * T + min(i0 + x, T - 1u);
      lse_tile[x] = ${S}[2u * row - params.first2];
      d_tile[x] = ${S}[2u * row + 1u - params.first2];
    }
    workgroupBarrier();
    // causal: key j gets queries max(j, i0) .. min(T, i0 + TILE) - 1
    let end = min(TILE, T - i0);
    let start = select(0u, j - i0, j > i0);
    for (var ii = start; ii < end; ii++) {
      ${dot(c, (e) => `q_tile[ii * D + ${e}]`, (e) => `k[${e}]`)}
      let p = exp(dot_out - lse_tile[ii]);
      ${dot(c, (e) => `g_tile[ii * D + ${e}]`, (e) => `v[${e}]`)}
      sp[ii] = p;
      sd[ii] = p * (dot_out - d_tile[ii]); // dS
    }
    for (var e = 0u; e < D; e++) { // two accumulators live at a time (see the forward)
      var a = dv[e];
      var c = dk[e];
      for (var ii = start; ii < end; ii++) {
        a = a + sp[ii] * g_tile[ii * D + e];
        c = c + sd[ii] * q_tile[ii * D + e];
      }
      dv[e] = a;
      dk[e] = c;
    }
    workgroupBarrier();
  }
  if (own) {
    for (var e = 0u; e < D; e++) { ${DX}[kv_at + CV + e - params.first3] = dk[e]; ${DX}[kv_at + 2u * CV + e - params.first3] = dv[e]; }
  }
}
`;
}

const BODY = { forward: forwardBody, dq: dqBody, dkv: dkvBody };
