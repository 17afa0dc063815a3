// octet kernel: cross_entropy_1
// key: 6f946a23c65ef163
// logsumexp kernel: one workgroup of 256 per row of `lanes` vec4s; online max and sum in one pass, pairs merged in a tree
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, lanes)
//   @binding(1) logits: f32 read ([R, lanes * 4], this dispatch's rows)
//   @binding(2) t3_row: f32 write ([R, 1])
// source graph:
//   {
//     %0_logits:f32[32,1000] = input #0
//     %1:f32[32,1] = logsumexp %0_logits
//     return t3=%1
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  lanes: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> logits: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> t3_row: array<f32>;
var<workgroup> sm: array<f32, 256>;
var<workgroup> ss: array<f32, 256>;

// (m, s) of the union of two parts: the larger max, the other part's sum rescaled to it.
fn merge(ma: f32, sa: f32, mb: f32, sb: f32) -> vec2<f32> {
  let m = max(ma, mb);
  return vec2<f32>(m, sa * exp(ma - m) + sb * exp(mb - m));
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  var m = vec4<f32>(-3.4028234663852886e+38f); // -FLT_MAX: see the file's header in codegen/lowerings/logsumexp.ts
  var s = vec4<f32>(0.0);
  for (var c = lid; c < params.lanes; c += 256u) {
    let x = logits[row * params.lanes + c];
    let m1 = max(m, x);
    s = s * exp(m - m1) + exp(x - m1); // s <- s e^(m - m') + e^(x - m')
    m = m1;
  }
  var r = merge(m.x, s.x, m.y, s.y);
  r = merge(r.x, r.y, m.z, s.z);
  r = merge(r.x, r.y, m.w, s.w);
  sm[lid] = r.x;
  ss[lid] = r.y;
  workgroupBarrier();
  if (lid < 128u) { let o = merge(sm[lid], ss[lid], sm[lid + 128u], ss[lid + 128u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 64u) { let o = merge(sm[lid], ss[lid], sm[lid + 64u], ss[lid + 64u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 32u) { let o = merge(sm[lid], ss[lid], sm[lid + 32u], ss[lid + 32u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 16u) { let o = merge(sm[lid], ss[lid], sm[lid + 16u], ss[lid + 16u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 8u) { let o = merge(sm[lid], ss[lid], sm[lid + 8u], ss[lid + 8u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 4u) { let o = merge(sm[lid], ss[lid], sm[lid + 4u], ss[lid + 4u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 2u) { let o = merge(sm[lid], ss[lid], sm[lid + 2u], ss[lid + 2u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid < 1u) { let o = merge(sm[lid], ss[lid], sm[lid + 1u], ss[lid + 1u]); sm[lid] = o.x; ss[lid] = o.y; }
  workgroupBarrier();
  if (lid == 0u) { t3_row[row] = sm[0] + log(ss[0]); }
}

// octet kernel: cross_entropy
// key: 471e2c2f0fb71aed
// row kernel over rows of 32 elements, vec4 access, workgroup 8, 1 step(s) per thread
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero)
//   @binding(1) targets: i32 elem read
//   @binding(2) t3: f32 elem read
//   @binding(3) logits_table: f32 table(width 1) read
//   @binding(4) loss_row: f32 row write
// source graph:
//   {
//     %0_targets:i32[32] = input #1
//     %1:i32[32,1] = reshape %0_targets
//     %2:u32[32,1] = bitcast u32 %1
//     %3:i32[32,1] = bitcast i32 %2
//     %4:bool[32,1] = ne %3 -100i
//     %5:bool[32,1] = lt %2 1000u
//     %6_logits:f32[32,1000] = input #0
//     %7:f32[32,1] = logsumexp %6_logits
//     %8:f32[32000] = reshape %6_logits
//     %9:u32[32,1] = iota 0
//     %10:u32[32,1] = mul %9 1000u
//     %11:u32[32,1] = select %5 %2 0u
//     %12:u32[32,1] = add %10 %11
//     %13:u32[32] = reshape %12
//     %14:f32[32] = gather %8 %13
//     %15:f32[32,1] = reshape %14
//     %16:f32[32,1] = sub %7 %15
//     %17:f32[32,1] = select %5 %16 NaN
//     %18:f32[32,1] = select %4 %17 0
//     %19:f32[1,32] = reshape %18
//     %20:f32[1,1] = reduce sum %19
//     %21:f32[32,1] = cast f32 %4
//     %22:f32[1,32] = reshape %21
//     %23:f32[1,1] = reduce sum %22
//     %24:f32[1,1] = div %20 %23
//     return loss=%24
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> targets: array<vec4<i32>>;
@group(0) @binding(2) var<storage, read> t3: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> logits_table: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss_row: array<f32>;
var<workgroup> scratch_reduce_0: array<f32, 8>;
var<workgroup> scratch_reduce_1: array<f32, 8>;

@compute @workgroup_size(8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  // phase 0
  let iota_14 = r;
  let mul_13 = (iota_14 * 32u);
  var acc_reduce_0: f32 = f32(0);
  var acc_reduce_1: f32 = f32(0);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 8u + lid) * 4u;
    if (c < 32u) {
      let e = row * 32u + c;
      let targets_4 = targets[e >> 2u];
      let bitcast_3 = bitcast<vec4<u32>>(targets_4);
      let bitcast_2 = bitcast<vec4<i32>>(bitcast_3);
      let ne_1 = (bitcast_2 != vec4<i32>((-100i)));
      let lt_6 = (bitcast_3 < vec4<u32>(1000u));
      let t3_8 = t3[e >> 2u];
      let iota_15 = (vec4<u32>(c) + vec4<u32>(0u, 1u, 2u, 3u));
      let add_12 = (vec4<u32>(mul_13) + iota_15);
      let mul_11 = (add_12 * vec4<u32>(1000u));
      let select_16 = select(vec4<u32>(0u), bitcast_3, lt_6);
      let add_10 = (mul_11 + select_16);
      let logits_table_9 = vec4<f32>(logits_table[add_10.x], logits_table[add_10.y], logits_table[add_10.z], logits_table[add_10.w]);
      let sub_7 = (t3_8 - logits_table_9);
      let select_5 = select(vec4<f32>(bitcast<f32>(0x7fc00000u | params.zero)), sub_7, lt_6);
      let select_0 = select(vec4<f32>(0f), select_5, ne_1);
      acc_reduce_0 = (acc_reduce_0 + ((select_0.x + select_0.y) + (select_0.z + select_0.w)));
      let cast_17 = vec4<f32>(ne_1);
      acc_reduce_1 = (acc_reduce_1 + ((cast_17.x + cast_17.y) + (cast_17.z + cast_17.w)));
    }
  }
  scratch_reduce_0[lid] = acc_reduce_0;
  scratch_reduce_1[lid] = acc_reduce_1;
  workgroupBarrier();
  if (lid < 2u) { scratch_reduce_0[lid] = ((scratch_reduce_0[lid] + scratch_reduce_0[lid + 2u]) + (scratch_reduce_0[lid + 4u] + scratch_reduce_0[lid + 6u])); scratch_reduce_1[lid] = ((scratch_reduce_1[lid] + scratch_reduce_1[lid + 2u]) + (scratch_reduce_1[lid + 4u] + scratch_reduce_1[lid + 6u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_0[lid] = (scratch_reduce_0[lid] + scratch_reduce_0[lid + 1u]); scratch_reduce_1[lid] = (scratch_reduce_1[lid] + scratch_reduce_1[lid + 1u]); }
  workgroupBarrier();
  let reduce_18 = scratch_reduce_0[0];
  let reduce_19 = scratch_reduce_1[0];
  // phase 1: after 1 reduction
  let div_20 = (reduce_18 / reduce_19);
  if (lid == 0u) { loss_row[row] = div_20; }
}
