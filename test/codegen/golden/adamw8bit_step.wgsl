// octet kernel: adam8bit
// key: 23af87740ecf0423
// row kernel over rows of 256 elements, vec4 access, workgroup 64, 1 step(s) per thread
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, a1: f32, a2: f32, b1: f32, b2: f32, decay: f32, epsC2: f32, stepSize: f32)
//   @binding(1) g: f32 elem read
//   @binding(2) p: f32 elem read_write
//   @binding(3) m_codes: u8 elem read_write
//   @binding(4) packed_table: u32 table(width 1) read
//   @binding(5) m_absmax_row: f32 row read_write
//   @binding(6) v_codes: u8 elem read_write
//   @binding(7) v_absmax_row: f32 row read_write
// source graph:
//   {
//     %0_is_active:bool[] = gt 1 0
//     %1:bool[1,1] = reshape %0_is_active
//     %2:bool[64,256] = expand %1
//     %3_g:f32[64,256] = input #1
//     %4:u32[64,256] = bitcast u32 %3_g
//     %5:u32[64,256] = and %4 2139095040u
//     %6:bool[64,256] = ne %5 2139095040u
//     %7_bad_grad:bool[64,256] = not %6
//     %8_p:f32[64,256] = input #0
//     %9_stepSize:f32[] = uniform stepSize
//     %10_packed:u32[1104] = input #6
//     %11_m_codes:u8[64,256] = input #2
//     %12:u32[64,256] = cast u32 %11_m_codes
//     %13:u32[64,256] = gather %10_packed %12
//     %14:f32[64,256] = bitcast f32 %13
//     %15_m_absmax:f32[64,1] = input #3
//     %16:f32[64,256] = expand %15_m_absmax
//     %17_m:f32[64,256] = mul %14 %16
//     %18_b1:f32[] = uniform b1
//     %19:f32[64,256] = mul %17_m $b1
//     %20_a1:f32[] = uniform a1
//     %21:f32[64,256] = mul %3_g $a1
//     %22_m1:f32[64,256] = add %19 %21
//     %23_v_codes:u8[64,256] = input #4
//     %24:u32[64,256] = cast u32 %23_v_codes
//     %25:u32[64,256] = add %24 512u
//     %26:u32[64,256] = gather %10_packed %25
//     %27:f32[64,256] = bitcast f32 %26
//     %28_v_absmax:f32[64,1] = input #5
//     %29:f32[64,256] = expand %28_v_absmax
//     %30_v:f32[64,256] = mul %27 %29
//     %31_b2:f32[] = uniform b2
//     %32:f32[64,256] = mul %30_v $b2
//     %33_a2:f32[] = uniform a2
//     %34:f32[64,256] = mul %3_g $a2
//     %35:f32[64,256] = mul %34 %3_g
//     %36_v1:f32[64,256] = add %32 %35
//     %37:f32[64,256] = sqrt %36_v1
//     %38_epsC2:f32[] = uniform epsC2
//     %39:f32[64,256] = add %37 $epsC2
//     %40_direction:f32[64,256] = div %22_m1 %39
//     %41:f32[64,256] = mul $stepSize %40_direction
//     %42:f32[64,256] = add %8_p %41
//     %43_decay:f32[] = uniform decay
//     %44_p_new:f32[64,256] = mul %42 $decay
//     %45:f32[64,256] = select %7_bad_grad %8_p %44_p_new
//     %46:f32[64,256] = select %2 %45 %8_p
//     %47_m_new:f32[64,256] = select %7_bad_grad 0 %22_m1
//     %48:f32[64,256] = abs %47_m_new
//     %49:f32[64,1] = reduce max %48
//     %50:bool[64,1] = gt %49 0
//     %51_absmax:f32[64,1] = select %50 %49 0
//     %52:f32[64,256] = expand %51_absmax
//     %53_normed:f32[64,256] = div %47_m_new %52
//     %54_bits:u32[64,256] = bitcast u32 %53_normed
//     %55_mag:u32[64,256] = and %54_bits 2147483647u
//     %56:bool[64,256] = gt %55_mag 2139095040u
//     %57:u32[64,256] = shr %54_bits 31u
//     %58:bool[64,256] = eq %57 1u
//     %59_clamped:u32[64,256] = min %55_mag 1073741824u
//     %60:f32[64,256] = bitcast f32 %59_clamped
//     %61:bool[64,256] = gt %59_clamped 1037209436u
//     %62:bool[64,256] = gt %59_clamped 1009585750u
//     %63:bool[64,256] = gt %59_clamped 982634830u
//     %64:bool[64,256] = gt %59_clamped 956330840u
//     %65:bool[64,256] = gt %59_clamped 930301190u
//     %66:bool[64,256] = gt %59_clamped 905905026u
//     %67:f32[64,256] = select %66 222222.22 1111111.1
//     %68:f32[64,256] = select %65 44444.445 %67
//     %69:f32[64,256] = select %64 8888.889 %68
//     %70:f32[64,256] = select %63 1777.7778 %69
//     %71:f32[64,256] = select %62 355.55554 %70
//     %72:f32[64,256] = select %61 71.111115 %71
//     %73:f32[64,256] = mul %60 %72
//     %74:u32[64,256] = select %66 1u 0u
//     %75:u32[64,256] = add 0u %74
//     %76:u32[64,256] = select %65 1u 0u
//     %77:u32[64,256] = add %75 %76
//     %78:u32[64,256] = select %64 1u 0u
//     %79:u32[64,256] = add %77 %78
//     %80:u32[64,256] = select %63 1u 0u
//     %81:u32[64,256] = add %79 %80
//     %82:u32[64,256] = select %62 1u 0u
//     %83:u32[64,256] = add %81 %82
//     %84:u32[64,256] = select %61 1u 0u
//     %85:u32[64,256] = add %83 %84
//     %86:u32[64,256] = add %85 0u
//     %87_codes_in_decade:u32[64,256] = shl 1u %86
//     %88:f32[64,256] = cast f32 %87_codes_in_decade
//     %89:f32[64,256] = mul %88 0.11111111
//     %90:f32[64,256] = add %89 0.5
//     %91_y:f32[64,256] = sub %73 %90
//     %92:f32[64,256] = floor %91_y
//     %93:f32[64,256] = max %92 -1
//     %94:f32[64,256] = sub %88 1
//     %95_j:f32[64,256] = min %93 %94
//     %96:i32[64,256] = cast i32 %95_j
//     %97:i32[64,256] = cast i32 %87_codes_in_decade
//     %98:i32[64,256] = add %96 %97
//     %99:i32[64,256] = add %98 127i
//     %100_guess:u32[64,256] = cast u32 %99
//     %101:u32[64,256] = add %100_guess 256u
//     %102:u32[64,256] = gather %10_packed %101
//     %103:bool[64,256] = gt %59_clamped %102
//     %104:u32[64,256] = select %103 1u 0u
//     %105_q:u32[64,256] = add %100_guess %104
//     %106:u32[64,256] = min %105_q 254u
//     %107:u32[64,256] = sub 254u %106
//     %108:u32[64,256] = select %58 %107 %105_q
//     %109:u32[64,256] = select %56 0u %108
//     %110:bool[64,256] = lt %109 127u
//     %111:u32[64,256] = bitcast u32 %47_m_new
//     %112:u32[64,256] = shr %111 31u
//     %113:bool[64,256] = eq %112 1u
//     %114:u32[64,256] = and %111 2147483647u
//     %115:bool[64,256] = le %114 2139095040u
//     %116:bool[64,256] = and %113 %115
//     %117:bool[64,256] = eq %110 %116
//     %118:bool[64,256] = gt %47_m_new 0
//     %119:u32[64,256] = select %118 1u 255u
//     %120:u32[64,256] = add %109 %119
//     %121:u32[64,256] = and %120 255u
//     %122:u32[64,256] = select %117 %109 %121
//     %123:u8[64,256] = cast u8 %122
//     %124:u8[64,256] = select %2 %123 %11_m_codes
//     %125:bool[64,1] = expand %1
//     %126:f32[64,1] = select %125 %51_absmax %15_m_absmax
//     %127_v_new:f32[64,256] = select %7_bad_grad 0 %36_v1
//     %128:f32[64,256] = abs %127_v_new
//     %129:f32[64,1] = reduce max %128
//     %130:bool[64,1] = gt %129 0
//     %131_absmax:f32[64,1] = select %130 %129 0
//     %132:f32[64,256] = expand %131_absmax
//     %133_normed:f32[64,256] = div %127_v_new %132
//     %134_bits:u32[64,256] = bitcast u32 %133_normed
//     %135_mag:u32[64,256] = and %134_bits 2147483647u
//     %136:bool[64,256] = gt %135_mag 2139095040u
//     %137:u32[64,256] = shr %134_bits 31u
//     %138:bool[64,256] = eq %137 1u
//     %139_clamped:u32[64,256] = min %135_mag 1073741824u
//     %140:f32[64,256] = bitcast f32 %139_clamped
//     %141:bool[64,256] = gt %139_clamped 1037020692u
//     %142:bool[64,256] = gt %139_clamped 1009283760u
//     %143:bool[64,256] = gt %139_clamped 982151646u
//     %144:bool[64,256] = gt %139_clamped 954814180u
//     %145:bool[64,256] = gt %139_clamped 927827288u
//     %146:bool[64,256] = gt %139_clamped 901946782u
//     %147:f32[64,256] = select %146 444444.44 2222222.3
//     %148:f32[64,256] = select %145 88888.89 %147
//     %149:f32[64,256] = select %144 17777.777 %148
//     %150:f32[64,256] = select %143 3555.5557 %149
//     %151:f32[64,256] = select %142 711.1111 %150
//     %152:f32[64,256] = select %141 142.22223 %151
//     %153:f32[64,256] = mul %140 %152
//     %154:u32[64,256] = select %146 1u 0u
//     %155:u32[64,256] = add 0u %154
//     %156:u32[64,256] = select %145 1u 0u
//     %157:u32[64,256] = add %155 %156
//     %158:u32[64,256] = select %144 1u 0u
//     %159:u32[64,256] = add %157 %158
//     %160:u32[64,256] = select %143 1u 0u
//     %161:u32[64,256] = add %159 %160
//     %162:u32[64,256] = select %142 1u 0u
//     %163:u32[64,256] = add %161 %162
//     %164:u32[64,256] = select %141 1u 0u
//     %165:u32[64,256] = add %163 %164
//     %166:u32[64,256] = add %165 1u
//     %167_codes_in_decade:u32[64,256] = shl 1u %166
//     %168:f32[64,256] = cast f32 %167_codes_in_decade
//     %169:f32[64,256] = mul %168 0.11111111
//     %170:f32[64,256] = add %169 0.5
//     %171_y:f32[64,256] = sub %153 %170
//     %172:f32[64,256] = floor %171_y
//     %173:f32[64,256] = max %172 -1
//     %174:f32[64,256] = sub %168 1
//     %175_j:f32[64,256] = min %173 %174
//     %176:i32[64,256] = cast i32 %175_j
//     %177:i32[64,256] = cast i32 %167_codes_in_decade
//     %178:i32[64,256] = add %176 %177
//     %179:i32[64,256] = add %178 -1i
//     %180_guess:u32[64,256] = cast u32 %179
//     %181:u32[64,256] = add %180_guess 768u
//     %182:u32[64,256] = gather %10_packed %181
//     %183:bool[64,256] = gt %139_clamped %182
//     %184:u32[64,256] = select %183 1u 0u
//     %185_q:u32[64,256] = add %180_guess %184
//     %186:u32[64,256] = select %138 0u %185_q
//     %187:u32[64,256] = select %136 0u %186
//     %188:u8[64,256] = cast u8 %187
//     %189:u8[64,256] = select %2 %188 %23_v_codes
//     %190:f32[64,1] = select %125 %131_absmax %28_v_absmax
//     return p=%46, m_codes=%124, m_absmax=%126, v_codes=%189, v_absmax=%190
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  a1: f32,
  a2: f32,
  b1: f32,
  b2: f32,
  decay: f32,
  epsC2: f32,
  stepSize: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m_codes: array<u32>;
@group(0) @binding(4) var<storage, read> packed_table: array<u32>;
@group(0) @binding(5) var<storage, read_write> m_absmax_row: array<f32>;
@group(0) @binding(6) var<storage, read_write> v_codes: array<u32>;
@group(0) @binding(7) var<storage, read_write> v_absmax_row: array<f32>;
var<workgroup> scratch_reduce_5: array<f32, 64>;
var<workgroup> scratch_reduce_6: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  var keep_select_0: array<vec4<f32>, 1>;
  var keep_m_new_1: array<vec4<f32>, 1>;
  var keep_and_2: array<vec4<bool>, 1>;
  var keep_select_3: array<vec4<u32>, 1>;
  var keep_v_new_4: array<vec4<f32>, 1>;
  // phase 0
  let m_absmax_row_14 = m_absmax_row[row];
  let v_absmax_row_26 = v_absmax_row[row];
  var acc_reduce_5: f32 = bitcast<f32>(0xff800000u | params.zero);
  var acc_reduce_6: f32 = bitcast<f32>(0xff800000u | params.zero);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let g_6 = g[e >> 2u];
      let bitcast_5 = bitcast<vec4<u32>>(g_6);
      let and_4 = (bitcast_5 & vec4<u32>(2139095040u));
      let ne_3 = (and_4 != vec4<u32>(2139095040u));
      let bad_grad_2 = (!ne_3);
      let m_codes_13 = ((vec4<u32>(m_codes[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
      let cast_12 = vec4<u32>(m_codes_13);
      let packed_table_11 = vec4<u32>(packed_table[cast_12.x], packed_table[cast_12.y], packed_table[cast_12.z], packed_table[cast_12.w]);
      let bitcast_10 = bitcast<vec4<f32>>(packed_table_11);
      let m_9 = (bitcast_10 * vec4<f32>(m_absmax_row_14));
      let mul_8 = (m_9 * vec4<f32>(params.b1));
      let mul_15 = (g_6 * vec4<f32>(params.a1));
      let m1_7 = (mul_8 + mul_15);
      let m_new_1 = select(m1_7, vec4<f32>(0f), bad_grad_2);
      let abs_0 = abs(m_new_1);
      acc_reduce_5 = max(acc_reduce_5, max(max(abs_0.x, abs_0.y), max(abs_0.z, abs_0.w)));
      let v_codes_25 = ((vec4<u32>(v_codes[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
      let cast_24 = vec4<u32>(v_codes_25);
      let add_23 = (cast_24 + vec4<u32>(512u));
      let packed_table_22 = vec4<u32>(packed_table[add_23.x], packed_table[add_23.y], packed_table[add_23.z], packed_table[add_23.w]);
      let bitcast_21 = bitcast<vec4<f32>>(packed_table_22);
      let v_20 = (bitcast_21 * vec4<f32>(v_absmax_row_26));
      let mul_19 = (v_20 * vec4<f32>(params.b2));
      let mul_28 = (g_6 * vec4<f32>(params.a2));
      let mul_27 = (mul_28 * g_6);
      let v1_18 = (mul_19 + mul_27);
      let v_new_17 = select(v1_18, vec4<f32>(0f), bad_grad_2);
      let abs_16 = abs(v_new_17);
      acc_reduce_6 = max(acc_reduce_6, max(max(abs_16.x, abs_16.y), max(abs_16.z, abs_16.w)));
      let p_30 = p[e >> 2u];
      let sqrt_36 = sqrt(v1_18);
      let add_35 = (sqrt_36 + vec4<f32>(params.epsC2));
      let direction_34 = (m1_7 / add_35);
      let mul_33 = (vec4<f32>(params.stepSize) * direction_34);
      let add_32 = (p_30 + mul_33);
      let p_new_31 = (add_32 * vec4<f32>(params.decay));
      let select_29 = select(p_new_31, p_30, bad_grad_2);
      keep_select_0[k] = select_29;
      keep_m_new_1[k] = m_new_1;
      let bitcast_40 = bitcast<vec4<u32>>(m_new_1);
      let shr_39 = (bitcast_40 >> vec4<u32>(31u));
      let eq_38 = (shr_39 == vec4<u32>(1u));
      let and_42 = (bitcast_40 & vec4<u32>(2147483647u));
      let le_41 = (and_42 <= vec4<u32>(2139095040u));
      let and_37 = (eq_38 & le_41);
      keep_and_2[k] = and_37;
      let gt_44 = (m_new_1 > vec4<f32>(0f));
      let select_43 = select(vec4<u32>(255u), vec4<u32>(1u), gt_44);
      keep_select_3[k] = select_43;
      keep_v_new_4[k] = v_new_17;
    }
  }
  scratch_reduce_5[lid] = acc_reduce_5;
  scratch_reduce_6[lid] = acc_reduce_6;
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_5[lid] = max(max(scratch_reduce_5[lid], scratch_reduce_5[lid + 16u]), max(scratch_reduce_5[lid + 32u], scratch_reduce_5[lid + 48u])); scratch_reduce_6[lid] = max(max(scratch_reduce_6[lid], scratch_reduce_6[lid + 16u]), max(scratch_reduce_6[lid + 32u], scratch_reduce_6[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_5[lid] = max(max(scratch_reduce_5[lid], scratch_reduce_5[lid + 4u]), max(scratch_reduce_5[lid + 8u], scratch_reduce_5[lid + 12u])); scratch_reduce_6[lid] = max(max(scratch_reduce_6[lid], scratch_reduce_6[lid + 4u]), max(scratch_reduce_6[lid + 8u], scratch_reduce_6[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_5[lid] = max(max(scratch_reduce_5[lid], scratch_reduce_5[lid + 1u]), max(scratch_reduce_5[lid + 2u], scratch_reduce_5[lid + 3u])); scratch_reduce_6[lid] = max(max(scratch_reduce_6[lid], scratch_reduce_6[lid + 1u]), max(scratch_reduce_6[lid + 2u], scratch_reduce_6[lid + 3u])); }
  workgroupBarrier();
  let reduce_45 = scratch_reduce_5[0];
  let reduce_46 = scratch_reduce_6[0];
  // phase 1: after 1 reduction
  let gt_59 = (reduce_45 > 0f);
  let absmax_58 = select(0f, reduce_45, gt_59);
  let gt_122 = (reduce_46 > 0f);
  let absmax_121 = select(0f, reduce_46, gt_122);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let select_47 = keep_select_0[k];
      p[e >> 2u] = select_47;
      let m_new_57 = keep_m_new_1[k];
      let normed_56 = (m_new_57 / vec4<f32>(absmax_58));
      let bits_55 = bitcast<vec4<u32>>(normed_56);
      let mag_54 = (bits_55 & vec4<u32>(2147483647u));
      let gt_53 = (mag_54 > vec4<u32>(2139095040u));
      let shr_62 = (bits_55 >> vec4<u32>(31u));
      let eq_61 = (shr_62 == vec4<u32>(1u));
      let clamped_76 = min(mag_54, vec4<u32>(1073741824u));
      let bitcast_75 = bitcast<vec4<f32>>(clamped_76);
      let gt_78 = (clamped_76 > vec4<u32>(1037209436u));
      let gt_80 = (clamped_76 > vec4<u32>(1009585750u));
      let gt_82 = (clamped_76 > vec4<u32>(982634830u));
      let gt_84 = (clamped_76 > vec4<u32>(956330840u));
      let gt_86 = (clamped_76 > vec4<u32>(930301190u));
      let gt_88 = (clamped_76 > vec4<u32>(905905026u));
      let select_87 = select(vec4<f32>(1111111.125f), vec4<f32>(222222.21875f), gt_88);
      let select_85 = select(select_87, vec4<f32>(44444.4453125f), gt_86);
      let select_83 = select(select_85, vec4<f32>(8888.888671875f), gt_84);
      let select_81 = select(select_83, vec4<f32>(1777.77783203125f), gt_82);
      let select_79 = select(select_81, vec4<f32>(355.5555419921875f), gt_80);
      let select_77 = select(select_79, vec4<f32>(71.11111450195312f), gt_78);
      let mul_74 = (bitcast_75 * select_77);
      let cast_98 = vec4<u32>(gt_88);
      let cast_99 = vec4<u32>(gt_86);
      let add_97 = (cast_98 + cast_99);
      let cast_100 = vec4<u32>(gt_84);
      let add_96 = (add_97 + cast_100);
      let cast_101 = vec4<u32>(gt_82);
      let add_95 = (add_96 + cast_101);
      let cast_102 = vec4<u32>(gt_80);
      let add_94 = (add_95 + cast_102);
      let cast_103 = vec4<u32>(gt_78);
      let add_93 = (add_94 + cast_103);
      let codes_in_decade_92 = (vec4<u32>(1u) << (vec4<u32>(add_93) & vec4<u32>(31u)));
      let cast_91 = vec4<f32>(codes_in_decade_92);
      let mul_90 = (cast_91 * vec4<f32>(0.1111111119389534f));
      let add_89 = (mul_90 + vec4<f32>(0.5f));
      let y_73 = (mul_74 - add_89);
      let floor_72 = floor(y_73);
      let max_71 = max(floor_72, vec4<f32>((-1f)));
      let sub_104 = (cast_91 - vec4<f32>(1f));
      let j_70 = min(max_71, sub_104);
      let cast_69 = select(vec4<i32>(j_70), vec4<i32>(0), (bitcast<vec4<u32>>(j_70) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_105 = vec4<i32>(codes_in_decade_92);
      let add_68 = (cast_69 + cast_105);
      let add_67 = (add_68 + vec4<i32>(127i));
      let guess_66 = vec4<u32>(add_67);
      let add_109 = (guess_66 + vec4<u32>(256u));
      let packed_table_108 = vec4<u32>(packed_table[add_109.x], packed_table[add_109.y], packed_table[add_109.z], packed_table[add_109.w]);
      let gt_107 = (clamped_76 > packed_table_108);
      let cast_106 = vec4<u32>(gt_107);
      let q_65 = (guess_66 + cast_106);
      let min_64 = min(q_65, vec4<u32>(254u));
      let sub_63 = (vec4<u32>(254u) - min_64);
      let select_60 = select(q_65, sub_63, eq_61);
      let select_52 = select(select_60, vec4<u32>(0u), gt_53);
      let lt_51 = (select_52 < vec4<u32>(127u));
      let and_110 = keep_and_2[k];
      let eq_50 = (lt_51 == and_110);
      let select_113 = keep_select_3[k];
      let add_112 = (select_52 + select_113);
      let and_111 = (add_112 & vec4<u32>(255u));
      let select_49 = select(and_111, select_52, eq_50);
      let cast_48 = (vec4<u32>(select_49) & vec4<u32>(255u));
      { let packed = (cast_48 << vec4<u32>(0u, 8u, 16u, 24u)); m_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
      let v_new_120 = keep_v_new_4[k];
      let normed_119 = (v_new_120 / vec4<f32>(absmax_121));
      let bits_118 = bitcast<vec4<u32>>(normed_119);
      let mag_117 = (bits_118 & vec4<u32>(2147483647u));
      let gt_116 = (mag_117 > vec4<u32>(2139095040u));
      let shr_125 = (bits_118 >> vec4<u32>(31u));
      let eq_124 = (shr_125 == vec4<u32>(1u));
      let clamped_137 = min(mag_117, vec4<u32>(1073741824u));
      let bitcast_136 = bitcast<vec4<f32>>(clamped_137);
      let gt_139 = (clamped_137 > vec4<u32>(1037020692u));
      let gt_141 = (clamped_137 > vec4<u32>(1009283760u));
      let gt_143 = (clamped_137 > vec4<u32>(982151646u));
      let gt_145 = (clamped_137 > vec4<u32>(954814180u));
      let gt_147 = (clamped_137 > vec4<u32>(927827288u));
      let gt_149 = (clamped_137 > vec4<u32>(901946782u));
      let select_148 = select(vec4<f32>(2222222.25f), vec4<f32>(444444.4375f), gt_149);
      let select_146 = select(select_148, vec4<f32>(88888.890625f), gt_147);
      let select_144 = select(select_146, vec4<f32>(17777.77734375f), gt_145);
      let select_142 = select(select_144, vec4<f32>(3555.5556640625f), gt_143);
      let select_140 = select(select_142, vec4<f32>(711.111083984375f), gt_141);
      let select_138 = select(select_140, vec4<f32>(142.22222900390625f), gt_139);
      let mul_135 = (bitcast_136 * select_138);
      let cast_160 = vec4<u32>(gt_149);
      let cast_161 = vec4<u32>(gt_147);
      let add_159 = (cast_160 + cast_161);
      let cast_162 = vec4<u32>(gt_145);
      let add_158 = (add_159 + cast_162);
      let cast_163 = vec4<u32>(gt_143);
      let add_157 = (add_158 + cast_163);
      let cast_164 = vec4<u32>(gt_141);
      let add_156 = (add_157 + cast_164);
      let cast_165 = vec4<u32>(gt_139);
      let add_155 = (add_156 + cast_165);
      let add_154 = (add_155 + vec4<u32>(1u));
      let codes_in_decade_153 = (vec4<u32>(1u) << (vec4<u32>(add_154) & vec4<u32>(31u)));
      let cast_152 = vec4<f32>(codes_in_decade_153);
      let mul_151 = (cast_152 * vec4<f32>(0.1111111119389534f));
      let add_150 = (mul_151 + vec4<f32>(0.5f));
      let y_134 = (mul_135 - add_150);
      let floor_133 = floor(y_134);
      let max_132 = max(floor_133, vec4<f32>((-1f)));
      let sub_166 = (cast_152 - vec4<f32>(1f));
      let j_131 = min(max_132, sub_166);
      let cast_130 = select(vec4<i32>(j_131), vec4<i32>(0), (bitcast<vec4<u32>>(j_131) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_167 = vec4<i32>(codes_in_decade_153);
      let add_129 = (cast_130 + cast_167);
      let add_128 = (add_129 + vec4<i32>((-1i)));
      let guess_127 = vec4<u32>(add_128);
      let add_171 = (guess_127 + vec4<u32>(768u));
      let packed_table_170 = vec4<u32>(packed_table[add_171.x], packed_table[add_171.y], packed_table[add_171.z], packed_table[add_171.w]);
      let gt_169 = (clamped_137 > packed_table_170);
      let cast_168 = vec4<u32>(gt_169);
      let q_126 = (guess_127 + cast_168);
      let select_123 = select(q_126, vec4<u32>(0u), eq_124);
      let select_115 = select(select_123, vec4<u32>(0u), gt_116);
      let cast_114 = (vec4<u32>(select_115) & vec4<u32>(255u));
      { let packed = (cast_114 << vec4<u32>(0u, 8u, 16u, 24u)); v_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
    }
  }
  if (lid == 0u) { m_absmax_row[row] = absmax_58; }
  if (lid == 0u) { v_absmax_row[row] = absmax_121; }
}
