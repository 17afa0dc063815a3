// octet kernel: lion8bit
// key: 8c6d4e57a663209e
// row kernel over rows of 256 elements, vec4 access, workgroup 64, 1 step(s) per thread
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, a1: f32, a2: f32, b1: f32, b2: f32, decay: f32, lr: f32)
//   @binding(1) p: f32 elem read_write
//   @binding(2) m_codes: u8 elem read_write
//   @binding(3) packed_table: u32 table(width 1) read
//   @binding(4) m_absmax_row: f32 row read_write
//   @binding(5) g: f32 elem read
// source graph:
//   {
//     %0_is_active:bool[] = gt 1 0
//     %1:bool[1,1] = reshape %0_is_active
//     %2:bool[64,256] = expand %1
//     %3_p:f32[64,256] = input #0
//     %4_decay:f32[] = uniform decay
//     %5_p_decayed:f32[64,256] = mul %3_p $decay
//     %6_lr:f32[] = uniform lr
//     %7_packed:u32[572] = input #4
//     %8_m_codes:u8[64,256] = input #2
//     %9:u32[64,256] = cast u32 %8_m_codes
//     %10:u32[64,256] = gather %7_packed %9
//     %11:f32[64,256] = bitcast f32 %10
//     %12_m_absmax:f32[64,1] = input #3
//     %13:f32[64,256] = expand %12_m_absmax
//     %14_m:f32[64,256] = mul %11 %13
//     %15_b1:f32[] = uniform b1
//     %16:f32[64,256] = mul %14_m $b1
//     %17_g:f32[64,256] = input #1
//     %18_a1:f32[] = uniform a1
//     %19:f32[64,256] = mul %17_g $a1
//     %20_interp:f32[64,256] = add %16 %19
//     %21:bool[64,256] = gt %20_interp 0
//     %22:bool[64,256] = lt %20_interp 0
//     %23:f32[64,256] = select %22 -1 0
//     %24_sign:f32[64,256] = select %21 1 %23
//     %25:f32[64,256] = mul $lr %24_sign
//     %26:f32[64,256] = sub %5_p_decayed %25
//     %27:f32[64,256] = select %2 %26 %3_p
//     %28_b2:f32[] = uniform b2
//     %29:f32[64,256] = mul %14_m $b2
//     %30_a2:f32[] = uniform a2
//     %31:f32[64,256] = mul %17_g $a2
//     %32_m_new:f32[64,256] = add %29 %31
//     %33:f32[64,256] = abs %32_m_new
//     %34:f32[64,1] = reduce max %33
//     %35:bool[64,1] = gt %34 0
//     %36_absmax:f32[64,1] = select %35 %34 0
//     %37:f32[64,256] = expand %36_absmax
//     %38_normed:f32[64,256] = div %32_m_new %37
//     %39_bits:u32[64,256] = bitcast u32 %38_normed
//     %40_mag:u32[64,256] = and %39_bits 2147483647u
//     %41:bool[64,256] = gt %40_mag 2139095040u
//     %42:u32[64,256] = shr %39_bits 31u
//     %43:bool[64,256] = eq %42 1u
//     %44_clamped:u32[64,256] = min %40_mag 1073741824u
//     %45:f32[64,256] = bitcast f32 %44_clamped
//     %46:bool[64,256] = gt %44_clamped 1037209436u
//     %47:bool[64,256] = gt %44_clamped 1009585750u
//     %48:bool[64,256] = gt %44_clamped 982634830u
//     %49:bool[64,256] = gt %44_clamped 956330840u
//     %50:bool[64,256] = gt %44_clamped 930301190u
//     %51:bool[64,256] = gt %44_clamped 905905026u
//     %52:f32[64,256] = select %51 222222.22 1111111.1
//     %53:f32[64,256] = select %50 44444.445 %52
//     %54:f32[64,256] = select %49 8888.889 %53
//     %55:f32[64,256] = select %48 1777.7778 %54
//     %56:f32[64,256] = select %47 355.55554 %55
//     %57:f32[64,256] = select %46 71.111115 %56
//     %58:f32[64,256] = mul %45 %57
//     %59:u32[64,256] = select %51 1u 0u
//     %60:u32[64,256] = add 0u %59
//     %61:u32[64,256] = select %50 1u 0u
//     %62:u32[64,256] = add %60 %61
//     %63:u32[64,256] = select %49 1u 0u
//     %64:u32[64,256] = add %62 %63
//     %65:u32[64,256] = select %48 1u 0u
//     %66:u32[64,256] = add %64 %65
//     %67:u32[64,256] = select %47 1u 0u
//     %68:u32[64,256] = add %66 %67
//     %69:u32[64,256] = select %46 1u 0u
//     %70:u32[64,256] = add %68 %69
//     %71:u32[64,256] = add %70 0u
//     %72_codes_in_decade:u32[64,256] = shl 1u %71
//     %73:f32[64,256] = cast f32 %72_codes_in_decade
//     %74:f32[64,256] = mul %73 0.11111111
//     %75:f32[64,256] = add %74 0.5
//     %76_y:f32[64,256] = sub %58 %75
//     %77:f32[64,256] = floor %76_y
//     %78:f32[64,256] = max %77 -1
//     %79:f32[64,256] = sub %73 1
//     %80_j:f32[64,256] = min %78 %79
//     %81:i32[64,256] = cast i32 %80_j
//     %82:i32[64,256] = cast i32 %72_codes_in_decade
//     %83:i32[64,256] = add %81 %82
//     %84:i32[64,256] = add %83 127i
//     %85_guess:u32[64,256] = cast u32 %84
//     %86:u32[64,256] = add %85_guess 256u
//     %87:u32[64,256] = gather %7_packed %86
//     %88:bool[64,256] = gt %44_clamped %87
//     %89:u32[64,256] = select %88 1u 0u
//     %90_q:u32[64,256] = add %85_guess %89
//     %91:u32[64,256] = min %90_q 254u
//     %92:u32[64,256] = sub 254u %91
//     %93:u32[64,256] = select %43 %92 %90_q
//     %94:u32[64,256] = select %41 0u %93
//     %95:bool[64,256] = lt %94 127u
//     %96:u32[64,256] = bitcast u32 %32_m_new
//     %97:u32[64,256] = shr %96 31u
//     %98:bool[64,256] = eq %97 1u
//     %99:u32[64,256] = and %96 2147483647u
//     %100:bool[64,256] = le %99 2139095040u
//     %101:bool[64,256] = and %98 %100
//     %102:bool[64,256] = eq %95 %101
//     %103:bool[64,256] = gt %32_m_new 0
//     %104:u32[64,256] = select %103 1u 255u
//     %105:u32[64,256] = add %94 %104
//     %106:u32[64,256] = and %105 255u
//     %107:u32[64,256] = select %102 %94 %106
//     %108:u8[64,256] = cast u8 %107
//     %109:u8[64,256] = select %2 %108 %8_m_codes
//     %110:bool[64,1] = expand %1
//     %111:f32[64,1] = select %110 %36_absmax %12_m_absmax
//     return p=%27, m_codes=%109, m_absmax=%111
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
  lr: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> m_codes: array<u32>;
@group(0) @binding(3) var<storage, read> packed_table: array<u32>;
@group(0) @binding(4) var<storage, read_write> m_absmax_row: array<f32>;
@group(0) @binding(5) var<storage, read> g: array<vec4<f32>>;
var<workgroup> scratch_reduce_1: array<f32, 64>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  var keep_m_new_0: array<vec4<f32>, 1>;
  // phase 0
  let m_absmax_row_8 = m_absmax_row[row];
  var acc_reduce_1: f32 = bitcast<f32>(0xff800000u | params.zero);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let m_codes_7 = ((vec4<u32>(m_codes[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
      let cast_6 = vec4<u32>(m_codes_7);
      let packed_table_5 = vec4<u32>(packed_table[cast_6.x], packed_table[cast_6.y], packed_table[cast_6.z], packed_table[cast_6.w]);
      let bitcast_4 = bitcast<vec4<f32>>(packed_table_5);
      let m_3 = (bitcast_4 * vec4<f32>(m_absmax_row_8));
      let mul_2 = (m_3 * vec4<f32>(params.b2));
      let g_10 = g[e >> 2u];
      let mul_9 = (g_10 * vec4<f32>(params.a2));
      let m_new_1 = (mul_2 + mul_9);
      let abs_0 = abs(m_new_1);
      acc_reduce_1 = max(acc_reduce_1, max(max(abs_0.x, abs_0.y), max(abs_0.z, abs_0.w)));
      keep_m_new_0[k] = m_new_1;
      let p_13 = p[e >> 2u];
      let p_decayed_12 = (p_13 * vec4<f32>(params.decay));
      let mul_18 = (m_3 * vec4<f32>(params.b1));
      let mul_19 = (g_10 * vec4<f32>(params.a1));
      let interp_17 = (mul_18 + mul_19);
      let gt_16 = (interp_17 > vec4<f32>(0f));
      let lt_21 = (interp_17 < vec4<f32>(0f));
      let select_20 = select(vec4<f32>(0f), vec4<f32>((-1f)), lt_21);
      let sign_15 = select(select_20, vec4<f32>(1f), gt_16);
      let mul_14 = (vec4<f32>(params.lr) * sign_15);
      let sub_11 = (p_decayed_12 - mul_14);
      p[e >> 2u] = sub_11;
    }
  }
  scratch_reduce_1[lid] = acc_reduce_1;
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_1[lid] = max(max(scratch_reduce_1[lid], scratch_reduce_1[lid + 16u]), max(scratch_reduce_1[lid + 32u], scratch_reduce_1[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_1[lid] = max(max(scratch_reduce_1[lid], scratch_reduce_1[lid + 4u]), max(scratch_reduce_1[lid + 8u], scratch_reduce_1[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_1[lid] = max(max(scratch_reduce_1[lid], scratch_reduce_1[lid + 1u]), max(scratch_reduce_1[lid + 2u], scratch_reduce_1[lid + 3u])); }
  workgroupBarrier();
  let reduce_22 = scratch_reduce_1[0];
  // phase 1: after 1 reduction
  let gt_34 = (reduce_22 > 0f);
  let absmax_33 = select(0f, reduce_22, gt_34);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let m_new_32 = keep_m_new_0[k];
      let normed_31 = (m_new_32 / vec4<f32>(absmax_33));
      let bits_30 = bitcast<vec4<u32>>(normed_31);
      let mag_29 = (bits_30 & vec4<u32>(2147483647u));
      let gt_28 = (mag_29 > vec4<u32>(2139095040u));
      let shr_37 = (bits_30 >> vec4<u32>(31u));
      let eq_36 = (shr_37 == vec4<u32>(1u));
      let clamped_51 = min(mag_29, vec4<u32>(1073741824u));
      let bitcast_50 = bitcast<vec4<f32>>(clamped_51);
      let gt_53 = (clamped_51 > vec4<u32>(1037209436u));
      let gt_55 = (clamped_51 > vec4<u32>(1009585750u));
      let gt_57 = (clamped_51 > vec4<u32>(982634830u));
      let gt_59 = (clamped_51 > vec4<u32>(956330840u));
      let gt_61 = (clamped_51 > vec4<u32>(930301190u));
      let gt_63 = (clamped_51 > vec4<u32>(905905026u));
      let select_62 = select(vec4<f32>(1111111.125f), vec4<f32>(222222.21875f), gt_63);
      let select_60 = select(select_62, vec4<f32>(44444.4453125f), gt_61);
      let select_58 = select(select_60, vec4<f32>(8888.888671875f), gt_59);
      let select_56 = select(select_58, vec4<f32>(1777.77783203125f), gt_57);
      let select_54 = select(select_56, vec4<f32>(355.5555419921875f), gt_55);
      let select_52 = select(select_54, vec4<f32>(71.11111450195312f), gt_53);
      let mul_49 = (bitcast_50 * select_52);
      let cast_73 = vec4<u32>(gt_63);
      let cast_74 = vec4<u32>(gt_61);
      let add_72 = (cast_73 + cast_74);
      let cast_75 = vec4<u32>(gt_59);
      let add_71 = (add_72 + cast_75);
      let cast_76 = vec4<u32>(gt_57);
      let add_70 = (add_71 + cast_76);
      let cast_77 = vec4<u32>(gt_55);
      let add_69 = (add_70 + cast_77);
      let cast_78 = vec4<u32>(gt_53);
      let add_68 = (add_69 + cast_78);
      let codes_in_decade_67 = (vec4<u32>(1u) << (vec4<u32>(add_68) & vec4<u32>(31u)));
      let cast_66 = vec4<f32>(codes_in_decade_67);
      let mul_65 = (cast_66 * vec4<f32>(0.1111111119389534f));
      let add_64 = (mul_65 + vec4<f32>(0.5f));
      let y_48 = (mul_49 - add_64);
      let floor_47 = floor(y_48);
      let max_46 = max(floor_47, vec4<f32>((-1f)));
      let sub_79 = (cast_66 - vec4<f32>(1f));
      let j_45 = min(max_46, sub_79);
      let cast_44 = select(vec4<i32>(j_45), vec4<i32>(0), (bitcast<vec4<u32>>(j_45) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_80 = vec4<i32>(codes_in_decade_67);
      let add_43 = (cast_44 + cast_80);
      let add_42 = (add_43 + vec4<i32>(127i));
      let guess_41 = vec4<u32>(add_42);
      let add_84 = (guess_41 + vec4<u32>(256u));
      let packed_table_83 = vec4<u32>(packed_table[add_84.x], packed_table[add_84.y], packed_table[add_84.z], packed_table[add_84.w]);
      let gt_82 = (clamped_51 > packed_table_83);
      let cast_81 = vec4<u32>(gt_82);
      let q_40 = (guess_41 + cast_81);
      let min_39 = min(q_40, vec4<u32>(254u));
      let sub_38 = (vec4<u32>(254u) - min_39);
      let select_35 = select(q_40, sub_38, eq_36);
      let select_27 = select(select_35, vec4<u32>(0u), gt_28);
      let lt_26 = (select_27 < vec4<u32>(127u));
      let bitcast_88 = bitcast<vec4<u32>>(m_new_32);
      let shr_87 = (bitcast_88 >> vec4<u32>(31u));
      let eq_86 = (shr_87 == vec4<u32>(1u));
      let and_90 = (bitcast_88 & vec4<u32>(2147483647u));
      let le_89 = (and_90 <= vec4<u32>(2139095040u));
      let and_85 = (eq_86 & le_89);
      let eq_25 = (lt_26 == and_85);
      let gt_94 = (m_new_32 > vec4<f32>(0f));
      let select_93 = select(vec4<u32>(255u), vec4<u32>(1u), gt_94);
      let add_92 = (select_27 + select_93);
      let and_91 = (add_92 & vec4<u32>(255u));
      let select_24 = select(and_91, select_27, eq_25);
      let cast_23 = (vec4<u32>(select_24) & vec4<u32>(255u));
      { let packed = (cast_23 << vec4<u32>(0u, 8u, 16u, 24u)); m_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
    }
  }
  if (lid == 0u) { m_absmax_row[row] = absmax_33; }
}
