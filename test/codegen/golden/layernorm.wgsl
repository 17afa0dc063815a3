// octet kernel: layernorm
// key: 9989173402282a14
// row kernel over rows of 768 elements, vec4 access, workgroup 256, 1 step(s) per thread
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero)
//   @binding(1) x: f32 elem read
//   @binding(2) weight_col: f32 col read
//   @binding(3) bias_col: f32 col read
//   @binding(4) y: f32 elem write
// source graph:
//   {
//     %0_x:f32[16,768] = input #0
//     %1:f32[16,1] = reduce sum %0_x
//     %2_mean:f32[16,1] = div %1 768
//     %3:f32[16,768] = expand %2_mean
//     %4_centered:f32[16,768] = sub %0_x %3
//     %5:f32[16,768] = mul %4_centered %4_centered
//     %6:f32[16,1] = reduce sum %5
//     %7_variance:f32[16,1] = div %6 768
//     %8:f32[16,1] = add %7_variance 0.00001
//     %9:f32[16,1] = rsqrt %8
//     %10:f32[16,768] = expand %9
//     %11_normed:f32[16,768] = mul %4_centered %10
//     %12_weight:f32[768] = input #1
//     %13:f32[1,768] = reshape %12_weight
//     %14:f32[16,768] = expand %13
//     %15:f32[16,768] = mul %11_normed %14
//     %16_bias:f32[768] = input #2
//     %17:f32[1,768] = reshape %16_bias
//     %18:f32[16,768] = expand %17
//     %19:f32[16,768] = add %15 %18
//     return y=%19
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> weight_col: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> bias_col: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> y: array<vec4<f32>>;
var<workgroup> scratch_reduce_1: array<f32, 256>;
var<workgroup> scratch_reduce_2: array<f32, 256>;

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  var keep_centered_0: array<vec4<f32>, 1>;
  // phase 0
  var acc_reduce_1: f32 = f32(0);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 256u + lid) * 4u;
    if (c < 768u) {
      let e = row * 768u + c;
      let x_0 = x[e >> 2u];
      acc_reduce_1 = (acc_reduce_1 + ((x_0.x + x_0.y) + (x_0.z + x_0.w)));
    }
  }
  scratch_reduce_1[lid] = acc_reduce_1;
  workgroupBarrier();
  if (lid < 64u) { scratch_reduce_1[lid] = ((scratch_reduce_1[lid] + scratch_reduce_1[lid + 64u]) + (scratch_reduce_1[lid + 128u] + scratch_reduce_1[lid + 192u])); }
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_1[lid] = ((scratch_reduce_1[lid] + scratch_reduce_1[lid + 16u]) + (scratch_reduce_1[lid + 32u] + scratch_reduce_1[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_1[lid] = ((scratch_reduce_1[lid] + scratch_reduce_1[lid + 4u]) + (scratch_reduce_1[lid + 8u] + scratch_reduce_1[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_1[lid] = ((scratch_reduce_1[lid] + scratch_reduce_1[lid + 1u]) + (scratch_reduce_1[lid + 2u] + scratch_reduce_1[lid + 3u])); }
  workgroupBarrier();
  let reduce_1 = scratch_reduce_1[0];
  // phase 1: after 1 reduction
  let mean_5 = (reduce_1 / 768f);
  var acc_reduce_2: f32 = f32(0);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 256u + lid) * 4u;
    if (c < 768u) {
      let e = row * 768u + c;
      let x_4 = x[e >> 2u];
      let centered_3 = (x_4 - vec4<f32>(mean_5));
      let mul_2 = (centered_3 * centered_3);
      acc_reduce_2 = (acc_reduce_2 + ((mul_2.x + mul_2.y) + (mul_2.z + mul_2.w)));
      keep_centered_0[k] = centered_3;
    }
  }
  scratch_reduce_2[lid] = acc_reduce_2;
  workgroupBarrier();
  if (lid < 64u) { scratch_reduce_2[lid] = ((scratch_reduce_2[lid] + scratch_reduce_2[lid + 64u]) + (scratch_reduce_2[lid + 128u] + scratch_reduce_2[lid + 192u])); }
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_2[lid] = ((scratch_reduce_2[lid] + scratch_reduce_2[lid + 16u]) + (scratch_reduce_2[lid + 32u] + scratch_reduce_2[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_2[lid] = ((scratch_reduce_2[lid] + scratch_reduce_2[lid + 4u]) + (scratch_reduce_2[lid + 8u] + scratch_reduce_2[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_2[lid] = ((scratch_reduce_2[lid] + scratch_reduce_2[lid + 1u]) + (scratch_reduce_2[lid + 2u] + scratch_reduce_2[lid + 3u])); }
  workgroupBarrier();
  let reduce_6 = scratch_reduce_2[0];
  // phase 2: after 2 reductions
  let variance_13 = (reduce_6 / 768f);
  let add_12 = (variance_13 + 0.000009999999747378752f);
  let rsqrt_11 = inverseSqrt(add_12);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 256u + lid) * 4u;
    if (c < 768u) {
      let e = row * 768u + c;
      let centered_10 = keep_centered_0[k];
      let normed_9 = (centered_10 * vec4<f32>(rsqrt_11));
      let weight_col_14 = weight_col[c >> 2u];
      let mul_8 = (normed_9 * weight_col_14);
      let bias_col_15 = bias_col[c >> 2u];
      let add_7 = (mul_8 + bias_col_15);
      y[e >> 2u] = add_7;
    }
  }
}
