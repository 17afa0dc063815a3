// octet kernel: matmul
// key: cfca66b013efef06
// matmul kernel (tiled): C = A @ B, 32x32 tiles, workgroup 8x8, 4x4 outputs per thread
// bindings:
//   @binding(0) params: uniform (M, N, K, batch strides; this dispatch's block of C and window offsets)
//   @binding(1) a_scalar: f32 read
//   @binding(2) b_scalar: f32 read
//   @binding(3) c_scalar: f32 write
// source graph:
//   {
//     %0_a:f32[64,96] = input #0
//     %1_b:f32[96,128] = input #1
//     %2:f32[64,128] = matmul %0_a %1_b
//     return c=%2
//   }
struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  M: u32,
  N: u32,
  K: u32,
  stride_a: u32,
  stride_b: u32,
  stride_c: u32,
  z0: u32,
  m0: u32,
  m_end: u32,
  n0: u32,
  n_end: u32,
  k0: u32,
  k_end: u32,
  a_off: u32,
  b_off: u32,
  c_off: u32,
  accumulate: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a_scalar: array<f32>;
@group(0) @binding(2) var<storage, read> b_scalar: array<f32>;
@group(0) @binding(3) var<storage, read_write> c_scalar: array<f32>;

// Each operand is bound as a window that starts at element a_off / b_off / c_off of the whole tensor. A block
// that is a later slice of a split K adds to what the earlier slices wrote.
fn load_a(at: u32) -> f32 { return a_scalar[min(at - params.a_off, arrayLength(&a_scalar) - 1u)]; }
fn load_b(at: u32) -> f32 { return b_scalar[min(at - params.b_off, arrayLength(&b_scalar) - 1u)]; }
fn store_c(at: u32, v: f32) {
  let i = at - params.c_off;
  if (params.accumulate != 0u) { c_scalar[i] = c_scalar[i] + v; } else { c_scalar[i] = v; }
}
var<workgroup> a_tile: array<f32, 1024>; // [m][k] of this K slice
var<workgroup> b_tile: array<f32, 1024>; // [k][n]

@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) tid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let batch = params.z0 + wid.z;
  let a_base = batch * params.stride_a;
  let b_base = batch * params.stride_b;
  let m0 = params.m0 + wid.y * 32u;
  let n0 = params.n0 + wid.x * 32u;
  let tm = tid.y * 4u; // this thread's 4x4 block inside the tile
  let tn = tid.x * 4u;
  var acc: array<vec4<f32>, 4>;
  for (var k0 = params.k0; k0 < params.k_end; k0 += 32u) {
    // 64 threads stage a 32x32 slice of a_scalar and of b_scalar: 16 elements each (out-of-range ones are 0).
    for (var i = 0u; i < 16u; i++) {
      let idx = lid + i * 64u;
      let r = idx / 32u;
      let c = idx % 32u;
      let gm = m0 + r;
      var gk = k0 + c;
      a_tile[idx] = select(f32(0), load_a(a_base + gm * params.K + gk), gm < params.m_end && gk < params.k_end);
      gk = k0 + r;
      let gn = n0 + c;
      b_tile[idx] = select(f32(0), load_b(b_base + gk * params.N + gn), gk < params.k_end && gn < params.n_end);
    }
    workgroupBarrier();
    for (var k = 0u; k < 32u; k++) {
      let b = vec4<f32>(b_tile[k * 32u + tn], b_tile[k * 32u + tn + 1u], b_tile[k * 32u + tn + 2u], b_tile[k * 32u + tn + 3u]);
      for (var i = 0u; i < 4u; i++) {
        acc[i] = acc[i] + a_tile[(tm + i) * 32u + k] * b;
      }
    }
    workgroupBarrier();
  }
  let c_base = batch * params.stride_c;
  for (var i = 0u; i < 4u; i++) {
    let gm = m0 + tm + i;
    if (gm >= params.m_end) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let gn = n0 + tn + j;
      if (gn < params.n_end) { store_c(c_base + gm * params.N + gn, acc[i][j]); }
    }
  }
}
