// octet kernel: attention_forward
// key: 88da7f7e03373e87
// fused causal attention, forward (FlashAttention-2): O = softmax(scale q k^T, causal) v with an online softmax
// head size 32 as 8 x vec4<f32>; workgroup 64 threads, one per query row; tiles of 64 key rows in workgroup memory
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, T, H, b0: this dispatch's first sequence, first<i>: the
//     element of binding i's whole tensor at which its bound window starts)
//   @binding(1) qkv: f32 read ([B*T, 3C] packed q | k | v)
//   @binding(2) o: f32 write ([B*T, C] O, heads merged)
// source graph:
//   {
//     %0_qkv:f32[128,384] = input #0
//     %1:f32[128,128] = attention forward T=64 H=4 %0_qkv
//     return o=%1
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  T: u32,
  H: u32,
  b0: u32,
  first0: u32,
  first1: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> qkv: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> o: array<vec4<f32>>;

const D = 8u; // vectors per head row
const WG = 64u; // threads per workgroup
const TILE = 64u; // rows per staged tile
const SCALE = 0.1767766922712326; // 1 / sqrt(head size) (f32)

fn hsum(x: vec4<f32>) -> f32 { return (x.x + x.y) + (x.z + x.w); }
var<workgroup> k_tile: array<vec4<f32>, 8u * TILE>; // [TILE][D] key rows
var<workgroup> v_tile: array<vec4<f32>, 8u * TILE>; // [TILE][D] value rows

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let T = params.T;
  let Dn = D + params.zero; // D, as a value the compiler cannot unroll loops over
  let CV = params.H * D; // vectors per part (q, k or v) of a packed row
  let bh = params.b0 * params.H + wid.y; // (sequence, head) of this workgroup: this dispatch starts at sequence b0
  let b = bh / params.H;
  let h = bh % params.H;
  let r0 = wid.x * WG; // first query row of this workgroup
  let own = r0 + lid < T; // threads past T repeat the last row and store nothing
  let r = min(r0 + lid, T - 1u);
  let i = r;
  let last = min(r0 + WG, T) - 1u; // the workgroup's last query row: key tiles past it are never visited
  let q_at = ((b * T + i) * 3u) * CV + h * D;
  var q: array<vec4<f32>, D>; // this row's query, times SCALE
  var acc: array<vec4<f32>, D>; // sum over keys of exp(s - m) v
  for (var e = 0u; e < Dn; e++) { q[e] = qkv[q_at + e - params.first0] * SCALE; acc[e] = vec4<f32>(0); }
  var m: f32 = -3.0e38; // running max of the row's scores (finite, so exp(m - m_new) is never exp(inf - inf))
  var l: f32 = 0.0; // running sum of exp(s - m)
  var s: array<f32, TILE>; // this tile's scores, then their exp(s - m_new)
  var dot_out: f32;
  for (var j0 = 0u; j0 <= last; j0 += TILE) {
    for (var x = lid; x < TILE * D; x += WG) {
      let at = ((b * T + min(j0 + x / D, T - 1u)) * 3u) * CV + h * D + x % D;
      k_tile[x] = qkv[at + 1u * CV - params.first0];
      v_tile[x] = qkv[at + 2u * CV - params.first0];
    }
    workgroupBarrier();
    let n = select(0u, min(TILE, i + 1u - j0), i >= j0); // causal: keys j0 .. min(i, j0 + TILE - 1)
    var m_new = m;
    for (var j = 0u; j < n; j++) {
      { var a = vec4<f32>(0); for (var e = 0u; e < Dn; e++) { a += q[e] * k_tile[j * D + e]; } dot_out = hsum(a); }
      s[j] = dot_out;
      m_new = max(m_new, dot_out);
    }
    let alpha = exp(m - m_new);
    l = l * alpha;
    for (var j = 0u; j < n; j++) { let p = exp(s[j] - m_new); s[j] = p; l = l + p; }
    // acc = alpha acc + sum_j p_j v_j, one head vector at a time: only one accumulator is live in the
    // key loop (all D of them live across it made lavapipe's register allocator spill, and compile for
    // tens of seconds at head size 64).
    for (var e = 0u; e < Dn; e++) {
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
    for (var e = 0u; e < Dn; e++) { o[o_at + e - params.first1] = acc[e] * inv; }
  }
}
