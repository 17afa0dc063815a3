// The fused attention kernels for a workgroup that is one subgroup (attention.ts picks them where the
// device's smallest subgroup has 8 lanes or more: lavapipe, 8 lanes per AVX2 register).
//
// Why: on lavapipe a load whose index is not a compile-time constant runs lane by lane (about 12
// instructions per float per lane), and a barrier makes the kernel a coroutine whose LLVM compile time
// grows with the square of its blocks (unrolled tiles staged in workgroup memory took over a minute of CPU
// to compile at head size 64). So these kernels have no workgroup memory and no barrier. Each lane loads one
// row of the other side's tile (lane L: row t0 + L) and every lane takes row L's vectors from lane L with
// subgroupBroadcast at a constant lane, a register shuffle. The tile's rows and the head's vectors are
// unrolled, so every private-array index is a constant; each lane owns R rows, so one broadcast feeds R
// multiply-adds. Arrays filled by a loop to Dn (D as a run-time value) stay in memory instead of occupying
// registers across the tile loop. The causal mask is a select per score.
//
// Same tiles, sums and order as the staged kernels of attention-wgsl.ts (tiles of `tile` rows; dot
// products per vector lane over the head, lanes added (x + y) + (z + w); sums over keys or queries in
// increasing order, a masked term adding an exact zero), so the interpreter serves both.
import { SEQUENCE_AND_HEAD, type Ctx } from "./attention-wgsl.ts";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

interface Shape {
  rows: number[];
  tile: number[];
  vecs: number[];
}

/** Lane j's vector e of a private array, broadcast to every lane. */
const bc = (arr: string, e: number, j: number) => `subgroupBroadcast(${arr}[${e}], ${j}u)`;
/** hsum(a(0) * b(0) + a(1) * b(1) + ...): a dot product over the head's vectors, in order. */
const dot = (sh: Shape, a: (e: number) => string, b: (e: number) => string) => `hsum(${sh.vecs.map((e) => `${a(e)} * ${b(e)}`).join(" + ")})`;

/** The opening of every pass: which sequence, head and rows this workgroup and lane own. */
function prologue(R: number, side: "query" | "key"): string {
  return `@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32, @builtin(subgroup_invocation_id) lane: u32) {
${SEQUENCE_AND_HEAD}  let r0 = wid.x * WG * ${R}u; // first ${side} row of this workgroup
  let t0 = r0 + lid * ${R}u; // this lane's ${side} rows: t0 .. t0 + ${R - 1} (rows past T repeat row T - 1 and store nothing)
  let last = min(r0 + WG * ${R}u, T) - 1u; // the workgroup's last ${side} row
`;
}

/** A private array of D vectors, filled by a loop to Dn. */
const fill = (c: Ctx, name: string, value: string, indent = "  ") => `${indent}var ${name}: array<${c.t}, D>;\n${indent}for (var e = 0u; e < Dn; e++) { ${name}[e] = ${value}; }`;

/** Query row i<r> of the lane: its scaled q, and the online softmax's running max and sum. */
function queryRows(c: Ctx, sh: Shape): string {
  const [X] = c.names;
  return sh.rows
    .map((r) => `  let i${r} = min(t0 + ${r}u, T - 1u);
  let q_at${r} = ((b * T + i${r}) * 3u) * CV + h * D;
${fill(c, `q${r}`, `${X}[q_at${r} + e - params.first0] * SCALE`)}
  var m${r}: f32 = -3.0e38; // running max of the row's scores (finite, so exp(m - m_new) is never exp(inf - inf))
  var l${r}: f32 = 0.0; // running sum of exp(s - m)`)
    .join("\n");
}

/** Loads key row j0 + lane of the tile (clamped to T - 1) into k_row (and v_row). */
function laneKeys(c: Ctx, withValues: boolean): string {
  const [X] = c.names;
  return `    let at = ((b * T + min(j0 + lane, T - 1u)) * 3u) * CV + h * D - params.first0;
    for (var e = 0u; e < Dn; e++) { k_row[e] = ${X}[at + CV + e];${withValues ? ` v_row[e] = ${X}[at + 2u * CV + e];` : ""} }`;
}

/**
 * The scores of query row r against the tile's keys, s<r>_<j> = q<r> . k_j, keys after the row (the causal
 * mask; clamped rows past T are such keys) set to -3e38: max() ignores them and exp(s - m) of them is 0. The
 * one scores piece of the forward and both dQ passes.
 */
function scores(sh: Shape, r: number): string[] {
  return sh.tile.map((j) => `    let s${r}_${j} = select(${dot(sh, (e) => `q${r}[${e}]`, (e) => bc("k_row", e, j))}, -3.0e38, j0 + ${j}u > i${r});`);
}

/** The online softmax's step over the tile for row r: new max, rescale al<r>, p<r>_<j>, and l, m updated. */
function softmaxStep(sh: Shape, r: number): string[] {
  return [
    `    let mn${r} = ${sh.tile.reduce((a, j) => `max(${a}, s${r}_${j})`, `m${r}`)};`,
    `    let al${r} = exp(m${r} - mn${r});`,
    ...sh.tile.map((j) => `    let p${r}_${j} = exp(s${r}_${j} - mn${r});`),
    `    l${r} = l${r} * al${r} + ${sh.tile.map((j) => `p${r}_${j}`).join(" + ")};`,
    `    m${r} = mn${r};`,
  ];
}

/** acc[e] = acc[e] (* scale) + w_0 * lane 0's arr[e] + w_1 * lane 1's arr[e] + ... for every e. */
function accumulate(sh: Shape, acc: (r: number) => string, weight: (r: number, j: number) => string, arr: string, scale?: (r: number) => string): string {
  return sh.vecs
    .flatMap((e) => sh.rows.map((r) => `    ${acc(r)}[${e}] = ${acc(r)}[${e}]${scale ? ` * ${scale(r)}` : ""} + ${sh.tile.map((j) => `${weight(r, j)} * ${bc(arr, e, j)}`).join(" + ")};`))
    .join("\n");
}

const shapeOf = (c: Ctx, R: number, K: number): Shape => ({ rows: range(R), tile: range(K), vecs: range(c.D) });

function forward(c: Ctx, R: number, K: number): string {
  const [, O] = c.names;
  const sh = shapeOf(c, R, K);
  return `${prologue(R, "query")}${queryRows(c, sh)}
${sh.rows.map((r) => `  var acc${r}: array<${c.t}, D>; // sum over keys of exp(s - m) v`).join("\n")}
  var k_row: array<${c.t}, D>; // key row j0 + lane of the tile
  var v_row: array<${c.t}, D>;
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
${laneKeys(c, true)}
${sh.rows.flatMap((r) => [...scores(sh, r), ...softmaxStep(sh, r)]).join("\n")}
${accumulate(sh, (r) => `acc${r}`, (r, j) => `p${r}_${j}`, "v_row", (r) => `al${r}`)}
  }
${sh.rows.map((r) => `  if (t0 + ${r}u < T) {
    let inv = 1.0 / l${r};
    for (var e = 0u; e < Dn; e++) { ${O}[(b * T + i${r}) * CV + h * D + e - params.first1] = acc${r}[e] * inv; }
  }`).join("\n")}
}
`;
}

function dq(c: Ctx, R: number, K: number): string {
  const [, O, G, DX, S] = c.names;
  const sh = shapeOf(c, R, K);
  return `${prologue(R, "query")}${queryRows(c, sh)}
${sh.rows.map((r) => `  let o_at${r} = (b * T + i${r}) * CV + h * D;
${fill(c, `g${r}`, `${G}[o_at${r} + e - params.first2]`)}
  var Dsum${r} = ${c.zero};
  for (var e = 0u; e < Dn; e++) { Dsum${r} += g${r}[e] * ${O}[o_at${r} + e - params.first1]; }
  let Di${r} = hsum(Dsum${r}); // D = dO . O = sum_j P dP, the softmax backward's row term`).join("\n")}
  var k_row: array<${c.t}, D>; // key row j0 + lane of the tile
  var v_row: array<${c.t}, D>;
  // Pass 1: each row's log-sum-exp over its keys (what the forward computed).
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
${laneKeys(c, false)}
${sh.rows.flatMap((r) => [...scores(sh, r), ...softmaxStep(sh, r)]).join("\n")}
  }
${sh.rows.map((r) => `  let lse${r} = m${r} + log(l${r});
  var dq${r}: array<${c.t}, D>;`).join("\n")}
  // Pass 2: dQ = SCALE * sum_j P (dP - D) k_j, P = exp(s - lse), dP = dO . v_j.
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
${laneKeys(c, true)}
${sh.rows.flatMap((r) => [...scores(sh, r), ...sh.tile.map((j) => `    let ds${r}_${j} = exp(s${r}_${j} - lse${r}) * (${dot(sh, (e) => `g${r}[${e}]`, (e) => bc("v_row", e, j))} - Di${r});`)]).join("\n")}
${accumulate(sh, (r) => `dq${r}`, (r, j) => `ds${r}_${j}`, "k_row")}
  }
${sh.rows.map((r) => `  if (t0 + ${r}u < T) {
    for (var e = 0u; e < Dn; e++) { ${DX}[q_at${r} + e - params.first3] = dq${r}[e] * SCALE; }
    ${S}[2u * (bh * T + i${r}) - params.first4] = lse${r};
    ${S}[2u * (bh * T + i${r}) + 1u - params.first4] = Di${r};
  }`).join("\n")}
}
`;
}

function dkv(c: Ctx, R: number, K: number): string {
  const [X, G, S, DX] = c.names;
  const sh = shapeOf(c, R, K);
  return `${prologue(R, "key")}${sh.rows.map((r) => `  let j${r} = min(t0 + ${r}u, T - 1u);
  let kv_at${r} = ((b * T + j${r}) * 3u) * CV + h * D;
${fill(c, `k${r}`, `${X}[kv_at${r} + CV + e - params.first0]`)}
${fill(c, `v${r}`, `${X}[kv_at${r} + 2u * CV + e - params.first0]`)}
  var dk${r}: array<${c.t}, D>;
  var dv${r}: array<${c.t}, D>;`).join("\n")}
  var q_row: array<${c.t}, D>; // query row i0 + lane of the tile, times SCALE
  var g_row: array<${c.t}, D>; // its dO
  // Query tiles from this workgroup's first key: earlier queries see none of its keys.
  for (var i0 = r0; i0 < T; i0 += TILE) {
    let row = b * T + min(i0 + lane, T - 1u);
    for (var e = 0u; e < Dn; e++) {
      q_row[e] = ${X}[(row * 3u) * CV + h * D + e - params.first0] * SCALE;
      g_row[e] = ${G}[row * CV + h * D + e - params.first1];
    }
    let stat = 2u * (bh * T + min(i0 + lane, T - 1u)) - params.first2;
    let lse_l = ${S}[stat];
    let d_l = ${S}[stat + 1u];
    // P of query i0 + i against key row r: 0 where the query is before the key or past T (a clamped copy)
${sh.rows
  .flatMap((r) => sh.tile.map((i) => `    let p${r}_${i} = select(exp(${dot(sh, (e) => bc("q_row", e, i), (e) => `k${r}[${e}]`)} - subgroupBroadcast(lse_l, ${i}u)), 0.0, i0 + ${i}u < j${r} || i0 + ${i}u >= T);`))
  .join("\n")}
${sh.rows
  .flatMap((r) => sh.tile.map((i) => `    let ds${r}_${i} = p${r}_${i} * (${dot(sh, (e) => bc("g_row", e, i), (e) => `v${r}[${e}]`)} - subgroupBroadcast(d_l, ${i}u));`))
  .join("\n")}
${accumulate(sh, (r) => `dv${r}`, (r, i) => `p${r}_${i}`, "g_row")}
${accumulate(sh, (r) => `dk${r}`, (r, i) => `ds${r}_${i}`, "q_row")}
  }
${sh.rows.map((r) => `  if (t0 + ${r}u < T) {
    for (var e = 0u; e < Dn; e++) { ${DX}[kv_at${r} + CV + e - params.first3] = dk${r}[e]; ${DX}[kv_at${r} + 2u * CV + e - params.first3] = dv${r}[e]; }
  }`).join("\n")}
}
`;
}

/** The bodies by pass: c the emitter's context, R rows per lane, K rows per tile (the subgroup's lanes). */
export const SUBGROUP_BODY = { forward, dq, dkv };
