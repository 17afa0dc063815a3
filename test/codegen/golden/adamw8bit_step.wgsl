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
var<workgroup> scratch_reduce_2: array<f32, 64>;
var<workgroup> scratch_reduce_3: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  var keep_m_new_0: array<vec4<f32>, 1>;
  var keep_v_new_1: array<vec4<f32>, 1>;
  // phase 0
  let m_absmax_row_14 = m_absmax_row[row];
  let v_absmax_row_26 = v_absmax_row[row];
  var acc_reduce_2: f32 = bitcast<f32>(0xff800000u | params.zero);
  var acc_reduce_3: f32 = bitcast<f32>(0xff800000u | params.zero);
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
      acc_reduce_2 = max(acc_reduce_2, max(max(abs_0.x, abs_0.y), max(abs_0.z, abs_0.w)));
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
      acc_reduce_3 = max(acc_reduce_3, max(max(abs_16.x, abs_16.y), max(abs_16.z, abs_16.w)));
      keep_m_new_0[k] = m_new_1;
      keep_v_new_1[k] = v_new_17;
      let p_30 = p[e >> 2u];
      let sqrt_36 = sqrt(v1_18);
      let add_35 = (sqrt_36 + vec4<f32>(params.epsC2));
      let direction_34 = (m1_7 / add_35);
      let mul_33 = (vec4<f32>(params.stepSize) * direction_34);
      let add_32 = (p_30 + mul_33);
      let p_new_31 = (add_32 * vec4<f32>(params.decay));
      let select_29 = select(p_new_31, p_30, bad_grad_2);
      p[e >> 2u] = select_29;
    }
  }
  scratch_reduce_2[lid] = acc_reduce_2;
  scratch_reduce_3[lid] = acc_reduce_3;
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_2[lid] = max(max(scratch_reduce_2[lid], scratch_reduce_2[lid + 16u]), max(scratch_reduce_2[lid + 32u], scratch_reduce_2[lid + 48u])); scratch_reduce_3[lid] = max(max(scratch_reduce_3[lid], scratch_reduce_3[lid + 16u]), max(scratch_reduce_3[lid + 32u], scratch_reduce_3[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_2[lid] = max(max(scratch_reduce_2[lid], scratch_reduce_2[lid + 4u]), max(scratch_reduce_2[lid + 8u], scratch_reduce_2[lid + 12u])); scratch_reduce_3[lid] = max(max(scratch_reduce_3[lid], scratch_reduce_3[lid + 4u]), max(scratch_reduce_3[lid + 8u], scratch_reduce_3[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_2[lid] = max(max(scratch_reduce_2[lid], scratch_reduce_2[lid + 1u]), max(scratch_reduce_2[lid + 2u], scratch_reduce_2[lid + 3u])); scratch_reduce_3[lid] = max(max(scratch_reduce_3[lid], scratch_reduce_3[lid + 1u]), max(scratch_reduce_3[lid + 2u], scratch_reduce_3[lid + 3u])); }
  workgroupBarrier();
  let reduce_37 = scratch_reduce_2[0];
  let reduce_38 = scratch_reduce_3[0];
  // phase 1: after 1 reduction
  let gt_50 = (reduce_37 > 0f);
  let absmax_49 = select(0f, reduce_37, gt_50);
  let gt_119 = (reduce_38 > 0f);
  let absmax_118 = select(0f, reduce_38, gt_119);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let m_new_48 = keep_m_new_0[k];
      let normed_47 = (m_new_48 / vec4<f32>(absmax_49));
      let bits_46 = bitcast<vec4<u32>>(normed_47);
      let mag_45 = (bits_46 & vec4<u32>(2147483647u));
      let gt_44 = (mag_45 > vec4<u32>(2139095040u));
      let shr_53 = (bits_46 >> vec4<u32>(31u));
      let eq_52 = (shr_53 == vec4<u32>(1u));
      let clamped_67 = min(mag_45, vec4<u32>(1073741824u));
      let bitcast_66 = bitcast<vec4<f32>>(clamped_67);
      let gt_69 = (clamped_67 > vec4<u32>(1037209436u));
      let gt_71 = (clamped_67 > vec4<u32>(1009585750u));
      let gt_73 = (clamped_67 > vec4<u32>(982634830u));
      let gt_75 = (clamped_67 > vec4<u32>(956330840u));
      let gt_77 = (clamped_67 > vec4<u32>(930301190u));
      let gt_79 = (clamped_67 > vec4<u32>(905905026u));
      let select_78 = select(vec4<f32>(1111111.125f), vec4<f32>(222222.21875f), gt_79);
      let select_76 = select(select_78, vec4<f32>(44444.4453125f), gt_77);
      let select_74 = select(select_76, vec4<f32>(8888.888671875f), gt_75);
      let select_72 = select(select_74, vec4<f32>(1777.77783203125f), gt_73);
      let select_70 = select(select_72, vec4<f32>(355.5555419921875f), gt_71);
      let select_68 = select(select_70, vec4<f32>(71.11111450195312f), gt_69);
      let mul_65 = (bitcast_66 * select_68);
      let cast_89 = vec4<u32>(gt_79);
      let cast_90 = vec4<u32>(gt_77);
      let add_88 = (cast_89 + cast_90);
      let cast_91 = vec4<u32>(gt_75);
      let add_87 = (add_88 + cast_91);
      let cast_92 = vec4<u32>(gt_73);
      let add_86 = (add_87 + cast_92);
      let cast_93 = vec4<u32>(gt_71);
      let add_85 = (add_86 + cast_93);
      let cast_94 = vec4<u32>(gt_69);
      let add_84 = (add_85 + cast_94);
      let codes_in_decade_83 = (vec4<u32>(1u) << (vec4<u32>(add_84) & vec4<u32>(31u)));
      let cast_82 = vec4<f32>(codes_in_decade_83);
      let mul_81 = (cast_82 * vec4<f32>(0.1111111119389534f));
      let add_80 = (mul_81 + vec4<f32>(0.5f));
      let y_64 = (mul_65 - add_80);
      let floor_63 = floor(y_64);
      let max_62 = max(floor_63, vec4<f32>((-1f)));
      let sub_95 = (cast_82 - vec4<f32>(1f));
      let j_61 = min(max_62, sub_95);
      let cast_60 = select(vec4<i32>(j_61), vec4<i32>(0), (bitcast<vec4<u32>>(j_61) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_96 = vec4<i32>(codes_in_decade_83);
      let add_59 = (cast_60 + cast_96);
      let add_58 = (add_59 + vec4<i32>(127i));
      let guess_57 = vec4<u32>(add_58);
      let add_100 = (guess_57 + vec4<u32>(256u));
      let packed_table_99 = vec4<u32>(packed_table[add_100.x], packed_table[add_100.y], packed_table[add_100.z], packed_table[add_100.w]);
      let gt_98 = (clamped_67 > packed_table_99);
      let cast_97 = vec4<u32>(gt_98);
      let q_56 = (guess_57 + cast_97);
      let min_55 = min(q_56, vec4<u32>(254u));
      let sub_54 = (vec4<u32>(254u) - min_55);
      let select_51 = select(q_56, sub_54, eq_52);
      let select_43 = select(select_51, vec4<u32>(0u), gt_44);
      let lt_42 = (select_43 < vec4<u32>(127u));
      let bitcast_104 = bitcast<vec4<u32>>(m_new_48);
      let shr_103 = (bitcast_104 >> vec4<u32>(31u));
      let eq_102 = (shr_103 == vec4<u32>(1u));
      let and_106 = (bitcast_104 & vec4<u32>(2147483647u));
      let le_105 = (and_106 <= vec4<u32>(2139095040u));
      let and_101 = (eq_102 & le_105);
      let eq_41 = (lt_42 == and_101);
      let gt_110 = (m_new_48 > vec4<f32>(0f));
      let select_109 = select(vec4<u32>(255u), vec4<u32>(1u), gt_110);
      let add_108 = (select_43 + select_109);
      let and_107 = (add_108 & vec4<u32>(255u));
      let select_40 = select(and_107, select_43, eq_41);
      let cast_39 = (vec4<u32>(select_40) & vec4<u32>(255u));
      let v_new_117 = keep_v_new_1[k];
      let normed_116 = (v_new_117 / vec4<f32>(absmax_118));
      let bits_115 = bitcast<vec4<u32>>(normed_116);
      let mag_114 = (bits_115 & vec4<u32>(2147483647u));
      let gt_113 = (mag_114 > vec4<u32>(2139095040u));
      let shr_122 = (bits_115 >> vec4<u32>(31u));
      let eq_121 = (shr_122 == vec4<u32>(1u));
      let clamped_134 = min(mag_114, vec4<u32>(1073741824u));
      let bitcast_133 = bitcast<vec4<f32>>(clamped_134);
      let gt_136 = (clamped_134 > vec4<u32>(1037020692u));
      let gt_138 = (clamped_134 > vec4<u32>(1009283760u));
      let gt_140 = (clamped_134 > vec4<u32>(982151646u));
      let gt_142 = (clamped_134 > vec4<u32>(954814180u));
      let gt_144 = (clamped_134 > vec4<u32>(927827288u));
      let gt_146 = (clamped_134 > vec4<u32>(901946782u));
      let select_145 = select(vec4<f32>(2222222.25f), vec4<f32>(444444.4375f), gt_146);
      let select_143 = select(select_145, vec4<f32>(88888.890625f), gt_144);
      let select_141 = select(select_143, vec4<f32>(17777.77734375f), gt_142);
      let select_139 = select(select_141, vec4<f32>(3555.5556640625f), gt_140);
      let select_137 = select(select_139, vec4<f32>(711.111083984375f), gt_138);
      let select_135 = select(select_137, vec4<f32>(142.22222900390625f), gt_136);
      let mul_132 = (bitcast_133 * select_135);
      let cast_157 = vec4<u32>(gt_146);
      let cast_158 = vec4<u32>(gt_144);
      let add_156 = (cast_157 + cast_158);
      let cast_159 = vec4<u32>(gt_142);
      let add_155 = (add_156 + cast_159);
      let cast_160 = vec4<u32>(gt_140);
      let add_154 = (add_155 + cast_160);
      let cast_161 = vec4<u32>(gt_138);
      let add_153 = (add_154 + cast_161);
      let cast_162 = vec4<u32>(gt_136);
      let add_152 = (add_153 + cast_162);
      let add_151 = (add_152 + vec4<u32>(1u));
      let codes_in_decade_150 = (vec4<u32>(1u) << (vec4<u32>(add_151) & vec4<u32>(31u)));
      let cast_149 = vec4<f32>(codes_in_decade_150);
      let mul_148 = (cast_149 * vec4<f32>(0.1111111119389534f));
      let add_147 = (mul_148 + vec4<f32>(0.5f));
      let y_131 = (mul_132 - add_147);
      let floor_130 = floor(y_131);
      let max_129 = max(floor_130, vec4<f32>((-1f)));
      let sub_163 = (cast_149 - vec4<f32>(1f));
      let j_128 = min(max_129, sub_163);
      let cast_127 = select(vec4<i32>(j_128), vec4<i32>(0), (bitcast<vec4<u32>>(j_128) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_164 = vec4<i32>(codes_in_decade_150);
      let add_126 = (cast_127 + cast_164);
      let add_125 = (add_126 + vec4<i32>((-1i)));
      let guess_124 = vec4<u32>(add_125);
      let add_168 = (guess_124 + vec4<u32>(768u));
      let packed_table_167 = vec4<u32>(packed_table[add_168.x], packed_table[add_168.y], packed_table[add_168.z], packed_table[add_168.w]);
      let gt_166 = (clamped_134 > packed_table_167);
      let cast_165 = vec4<u32>(gt_166);
      let q_123 = (guess_124 + cast_165);
      let select_120 = select(q_123, vec4<u32>(0u), eq_121);
      let select_112 = select(select_120, vec4<u32>(0u), gt_113);
      let cast_111 = (vec4<u32>(select_112) & vec4<u32>(255u));
      { let packed = (cast_39 << vec4<u32>(0u, 8u, 16u, 24u)); m_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
      { let packed = (cast_111 << vec4<u32>(0u, 8u, 16u, 24u)); v_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
    }
  }
  if (lid == 0u) { m_absmax_row[row] = absmax_49; }
  if (lid == 0u) { v_absmax_row[row] = absmax_118; }
}
