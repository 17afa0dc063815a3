// octet kernel: ademamix8bit
// key: 15508b24296331a5
// row kernel over rows of 256 elements, vec4 access, workgroup 64, 1 step(s) per thread
// bindings:
//   @binding(0) params: uniform (rows, row_base, count, zero, a1: f32, a2: f32, a3: f32, alpha: f32, b1: f32, b2: f32, b3: f32, c1: f32, c2: f32, decay: f32, eps: f32, lr: f32)
//   @binding(1) g: f32 elem read
//   @binding(2) p: f32 elem read_write
//   @binding(3) m1_codes: u8 elem read_write
//   @binding(4) packed_table: u32 table(width 1) read
//   @binding(5) m1_absmax_row: f32 row read_write
//   @binding(6) m2_codes: u8 elem read_write
//   @binding(7) m2_absmax_row: f32 row read_write
//   @binding(8) nu_codes: u8 elem read_write
//   @binding(9) nu_absmax_row: f32 row read_write
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
//     %9_lr:f32[] = uniform lr
//     %10_packed:u32[1108] = input #8
//     %11_m1_codes:u8[64,256] = input #2
//     %12:u32[64,256] = cast u32 %11_m1_codes
//     %13:u32[64,256] = gather %10_packed %12
//     %14:f32[64,256] = bitcast f32 %13
//     %15_m1_absmax:f32[64,1] = input #3
//     %16:f32[64,256] = expand %15_m1_absmax
//     %17_m1:f32[64,256] = mul %14 %16
//     %18_b1:f32[] = uniform b1
//     %19:f32[64,256] = mul %17_m1 $b1
//     %20_a1:f32[] = uniform a1
//     %21:f32[64,256] = mul %3_g $a1
//     %22_m1_next:f32[64,256] = add %19 %21
//     %23_c1:f32[] = uniform c1
//     %24:f32[64,256] = div %22_m1_next $c1
//     %25_alpha:f32[] = uniform alpha
//     %26_m2_codes:u8[64,256] = input #4
//     %27:u32[64,256] = cast u32 %26_m2_codes
//     %28:u32[64,256] = gather %10_packed %27
//     %29:f32[64,256] = bitcast f32 %28
//     %30_m2_absmax:f32[64,1] = input #5
//     %31:f32[64,256] = expand %30_m2_absmax
//     %32_m2:f32[64,256] = mul %29 %31
//     %33_b3:f32[] = uniform b3
//     %34:f32[64,256] = mul %32_m2 $b3
//     %35_a3:f32[] = uniform a3
//     %36:f32[64,256] = mul %3_g $a3
//     %37_m2_next:f32[64,256] = add %34 %36
//     %38:f32[64,256] = mul $alpha %37_m2_next
//     %39:f32[64,256] = add %24 %38
//     %40_nu_codes:u8[64,256] = input #6
//     %41:u32[64,256] = cast u32 %40_nu_codes
//     %42:u32[64,256] = add %41 512u
//     %43:u32[64,256] = gather %10_packed %42
//     %44:f32[64,256] = bitcast f32 %43
//     %45_nu_absmax:f32[64,1] = input #7
//     %46:f32[64,256] = expand %45_nu_absmax
//     %47_nu:f32[64,256] = mul %44 %46
//     %48_b2:f32[] = uniform b2
//     %49:f32[64,256] = mul %47_nu $b2
//     %50_a2:f32[] = uniform a2
//     %51:f32[64,256] = mul %3_g $a2
//     %52:f32[64,256] = mul %51 %3_g
//     %53_nu_next:f32[64,256] = add %49 %52
//     %54:f32[64,256] = sqrt %53_nu_next
//     %55_c2:f32[] = uniform c2
//     %56:f32[64,256] = div %54 $c2
//     %57_eps:f32[] = uniform eps
//     %58:f32[64,256] = add %56 $eps
//     %59:f32[64,256] = div %39 %58
//     %60:f32[64,256] = mul $lr %59
//     %61:f32[64,256] = sub %8_p %60
//     %62_decay:f32[] = uniform decay
//     %63:f32[64,256] = mul %61 $decay
//     %64:f32[64,256] = select %7_bad_grad %8_p %63
//     %65:f32[64,256] = select %2 %64 %8_p
//     %66_m1_new:f32[64,256] = select %7_bad_grad 0 %22_m1_next
//     %67:f32[64,256] = abs %66_m1_new
//     %68:f32[64,1] = reduce max %67
//     %69:bool[64,1] = gt %68 0
//     %70_absmax:f32[64,1] = select %69 %68 0
//     %71:f32[64,256] = expand %70_absmax
//     %72_normed:f32[64,256] = div %66_m1_new %71
//     %73_bits:u32[64,256] = bitcast u32 %72_normed
//     %74_mag:u32[64,256] = and %73_bits 2147483647u
//     %75:bool[64,256] = gt %74_mag 2139095040u
//     %76:u32[64,256] = shr %73_bits 31u
//     %77:bool[64,256] = eq %76 1u
//     %78_clamped:u32[64,256] = min %74_mag 1073741824u
//     %79:f32[64,256] = bitcast f32 %78_clamped
//     %80:bool[64,256] = gt %78_clamped 1037209436u
//     %81:bool[64,256] = gt %78_clamped 1009585750u
//     %82:bool[64,256] = gt %78_clamped 982634830u
//     %83:bool[64,256] = gt %78_clamped 956330840u
//     %84:bool[64,256] = gt %78_clamped 930301190u
//     %85:bool[64,256] = gt %78_clamped 905905026u
//     %86:f32[64,256] = select %85 222222.22 1111111.1
//     %87:f32[64,256] = select %84 44444.445 %86
//     %88:f32[64,256] = select %83 8888.889 %87
//     %89:f32[64,256] = select %82 1777.7778 %88
//     %90:f32[64,256] = select %81 355.55554 %89
//     %91:f32[64,256] = select %80 71.111115 %90
//     %92:f32[64,256] = mul %79 %91
//     %93:u32[64,256] = select %85 1u 0u
//     %94:u32[64,256] = add 0u %93
//     %95:u32[64,256] = select %84 1u 0u
//     %96:u32[64,256] = add %94 %95
//     %97:u32[64,256] = select %83 1u 0u
//     %98:u32[64,256] = add %96 %97
//     %99:u32[64,256] = select %82 1u 0u
//     %100:u32[64,256] = add %98 %99
//     %101:u32[64,256] = select %81 1u 0u
//     %102:u32[64,256] = add %100 %101
//     %103:u32[64,256] = select %80 1u 0u
//     %104:u32[64,256] = add %102 %103
//     %105:u32[64,256] = add %104 0u
//     %106_codes_in_decade:u32[64,256] = shl 1u %105
//     %107:f32[64,256] = cast f32 %106_codes_in_decade
//     %108:f32[64,256] = mul %107 0.11111111
//     %109:f32[64,256] = add %108 0.5
//     %110_y:f32[64,256] = sub %92 %109
//     %111:f32[64,256] = floor %110_y
//     %112:f32[64,256] = max %111 -1
//     %113:f32[64,256] = sub %107 1
//     %114_j:f32[64,256] = min %112 %113
//     %115:i32[64,256] = cast i32 %114_j
//     %116:i32[64,256] = cast i32 %106_codes_in_decade
//     %117:i32[64,256] = add %115 %116
//     %118:i32[64,256] = add %117 127i
//     %119_guess:u32[64,256] = cast u32 %118
//     %120:u32[64,256] = add %119_guess 256u
//     %121:u32[64,256] = gather %10_packed %120
//     %122:bool[64,256] = gt %78_clamped %121
//     %123:u32[64,256] = select %122 1u 0u
//     %124_q:u32[64,256] = add %119_guess %123
//     %125:u32[64,256] = min %124_q 254u
//     %126:u32[64,256] = sub 254u %125
//     %127:u32[64,256] = select %77 %126 %124_q
//     %128:u32[64,256] = select %75 0u %127
//     %129:bool[64,256] = lt %128 127u
//     %130:u32[64,256] = bitcast u32 %66_m1_new
//     %131:u32[64,256] = shr %130 31u
//     %132:bool[64,256] = eq %131 1u
//     %133:u32[64,256] = and %130 2147483647u
//     %134:bool[64,256] = le %133 2139095040u
//     %135:bool[64,256] = and %132 %134
//     %136:bool[64,256] = eq %129 %135
//     %137:bool[64,256] = gt %66_m1_new 0
//     %138:u32[64,256] = select %137 1u 255u
//     %139:u32[64,256] = add %128 %138
//     %140:u32[64,256] = and %139 255u
//     %141:u32[64,256] = select %136 %128 %140
//     %142:u8[64,256] = cast u8 %141
//     %143:u8[64,256] = select %2 %142 %11_m1_codes
//     %144:bool[64,1] = expand %1
//     %145:f32[64,1] = select %144 %70_absmax %15_m1_absmax
//     %146_m2_new:f32[64,256] = select %7_bad_grad 0 %37_m2_next
//     %147:f32[64,256] = abs %146_m2_new
//     %148:f32[64,1] = reduce max %147
//     %149:bool[64,1] = gt %148 0
//     %150_absmax:f32[64,1] = select %149 %148 0
//     %151:f32[64,256] = expand %150_absmax
//     %152_normed:f32[64,256] = div %146_m2_new %151
//     %153_bits:u32[64,256] = bitcast u32 %152_normed
//     %154_mag:u32[64,256] = and %153_bits 2147483647u
//     %155:bool[64,256] = gt %154_mag 2139095040u
//     %156:u32[64,256] = shr %153_bits 31u
//     %157:bool[64,256] = eq %156 1u
//     %158_clamped:u32[64,256] = min %154_mag 1073741824u
//     %159:f32[64,256] = bitcast f32 %158_clamped
//     %160:bool[64,256] = gt %158_clamped 1037209436u
//     %161:bool[64,256] = gt %158_clamped 1009585750u
//     %162:bool[64,256] = gt %158_clamped 982634830u
//     %163:bool[64,256] = gt %158_clamped 956330840u
//     %164:bool[64,256] = gt %158_clamped 930301190u
//     %165:bool[64,256] = gt %158_clamped 905905026u
//     %166:f32[64,256] = select %165 222222.22 1111111.1
//     %167:f32[64,256] = select %164 44444.445 %166
//     %168:f32[64,256] = select %163 8888.889 %167
//     %169:f32[64,256] = select %162 1777.7778 %168
//     %170:f32[64,256] = select %161 355.55554 %169
//     %171:f32[64,256] = select %160 71.111115 %170
//     %172:f32[64,256] = mul %159 %171
//     %173:u32[64,256] = select %165 1u 0u
//     %174:u32[64,256] = add 0u %173
//     %175:u32[64,256] = select %164 1u 0u
//     %176:u32[64,256] = add %174 %175
//     %177:u32[64,256] = select %163 1u 0u
//     %178:u32[64,256] = add %176 %177
//     %179:u32[64,256] = select %162 1u 0u
//     %180:u32[64,256] = add %178 %179
//     %181:u32[64,256] = select %161 1u 0u
//     %182:u32[64,256] = add %180 %181
//     %183:u32[64,256] = select %160 1u 0u
//     %184:u32[64,256] = add %182 %183
//     %185:u32[64,256] = add %184 0u
//     %186_codes_in_decade:u32[64,256] = shl 1u %185
//     %187:f32[64,256] = cast f32 %186_codes_in_decade
//     %188:f32[64,256] = mul %187 0.11111111
//     %189:f32[64,256] = add %188 0.5
//     %190_y:f32[64,256] = sub %172 %189
//     %191:f32[64,256] = floor %190_y
//     %192:f32[64,256] = max %191 -1
//     %193:f32[64,256] = sub %187 1
//     %194_j:f32[64,256] = min %192 %193
//     %195:i32[64,256] = cast i32 %194_j
//     %196:i32[64,256] = cast i32 %186_codes_in_decade
//     %197:i32[64,256] = add %195 %196
//     %198:i32[64,256] = add %197 127i
//     %199_guess:u32[64,256] = cast u32 %198
//     %200:u32[64,256] = add %199_guess 256u
//     %201:u32[64,256] = gather %10_packed %200
//     %202:bool[64,256] = gt %158_clamped %201
//     %203:u32[64,256] = select %202 1u 0u
//     %204_q:u32[64,256] = add %199_guess %203
//     %205:u32[64,256] = min %204_q 254u
//     %206:u32[64,256] = sub 254u %205
//     %207:u32[64,256] = select %157 %206 %204_q
//     %208:u32[64,256] = select %155 0u %207
//     %209:bool[64,256] = lt %208 127u
//     %210:u32[64,256] = bitcast u32 %146_m2_new
//     %211:u32[64,256] = shr %210 31u
//     %212:bool[64,256] = eq %211 1u
//     %213:u32[64,256] = and %210 2147483647u
//     %214:bool[64,256] = le %213 2139095040u
//     %215:bool[64,256] = and %212 %214
//     %216:bool[64,256] = eq %209 %215
//     %217:bool[64,256] = gt %146_m2_new 0
//     %218:u32[64,256] = select %217 1u 255u
//     %219:u32[64,256] = add %208 %218
//     %220:u32[64,256] = and %219 255u
//     %221:u32[64,256] = select %216 %208 %220
//     %222:u8[64,256] = cast u8 %221
//     %223:u8[64,256] = select %2 %222 %26_m2_codes
//     %224:f32[64,1] = select %144 %150_absmax %30_m2_absmax
//     %225_nu_new:f32[64,256] = select %7_bad_grad 0 %53_nu_next
//     %226:f32[64,256] = abs %225_nu_new
//     %227:f32[64,1] = reduce max %226
//     %228:bool[64,1] = gt %227 0
//     %229_absmax:f32[64,1] = select %228 %227 0
//     %230:f32[64,256] = expand %229_absmax
//     %231_normed:f32[64,256] = div %225_nu_new %230
//     %232_bits:u32[64,256] = bitcast u32 %231_normed
//     %233_mag:u32[64,256] = and %232_bits 2147483647u
//     %234:bool[64,256] = gt %233_mag 2139095040u
//     %235:u32[64,256] = shr %232_bits 31u
//     %236:bool[64,256] = eq %235 1u
//     %237_clamped:u32[64,256] = min %233_mag 1073741824u
//     %238:f32[64,256] = bitcast f32 %237_clamped
//     %239:bool[64,256] = gt %237_clamped 1037020692u
//     %240:bool[64,256] = gt %237_clamped 1009283760u
//     %241:bool[64,256] = gt %237_clamped 982151646u
//     %242:bool[64,256] = gt %237_clamped 954814180u
//     %243:bool[64,256] = gt %237_clamped 927827288u
//     %244:bool[64,256] = gt %237_clamped 901946782u
//     %245:f32[64,256] = select %244 444444.44 2222222.3
//     %246:f32[64,256] = select %243 88888.89 %245
//     %247:f32[64,256] = select %242 17777.777 %246
//     %248:f32[64,256] = select %241 3555.5557 %247
//     %249:f32[64,256] = select %240 711.1111 %248
//     %250:f32[64,256] = select %239 142.22223 %249
//     %251:f32[64,256] = mul %238 %250
//     %252:u32[64,256] = select %244 1u 0u
//     %253:u32[64,256] = add 0u %252
//     %254:u32[64,256] = select %243 1u 0u
//     %255:u32[64,256] = add %253 %254
//     %256:u32[64,256] = select %242 1u 0u
//     %257:u32[64,256] = add %255 %256
//     %258:u32[64,256] = select %241 1u 0u
//     %259:u32[64,256] = add %257 %258
//     %260:u32[64,256] = select %240 1u 0u
//     %261:u32[64,256] = add %259 %260
//     %262:u32[64,256] = select %239 1u 0u
//     %263:u32[64,256] = add %261 %262
//     %264:u32[64,256] = add %263 1u
//     %265_codes_in_decade:u32[64,256] = shl 1u %264
//     %266:f32[64,256] = cast f32 %265_codes_in_decade
//     %267:f32[64,256] = mul %266 0.11111111
//     %268:f32[64,256] = add %267 0.5
//     %269_y:f32[64,256] = sub %251 %268
//     %270:f32[64,256] = floor %269_y
//     %271:f32[64,256] = max %270 -1
//     %272:f32[64,256] = sub %266 1
//     %273_j:f32[64,256] = min %271 %272
//     %274:i32[64,256] = cast i32 %273_j
//     %275:i32[64,256] = cast i32 %265_codes_in_decade
//     %276:i32[64,256] = add %274 %275
//     %277:i32[64,256] = add %276 -1i
//     %278_guess:u32[64,256] = cast u32 %277
//     %279:u32[64,256] = add %278_guess 768u
//     %280:u32[64,256] = gather %10_packed %279
//     %281:bool[64,256] = gt %237_clamped %280
//     %282:u32[64,256] = select %281 1u 0u
//     %283_q:u32[64,256] = add %278_guess %282
//     %284:u32[64,256] = select %236 0u %283_q
//     %285:u32[64,256] = select %234 0u %284
//     %286:u8[64,256] = cast u8 %285
//     %287:u8[64,256] = select %2 %286 %40_nu_codes
//     %288:f32[64,1] = select %144 %229_absmax %45_nu_absmax
//     return p=%65, m1_codes=%143, m1_absmax=%145, m2_codes=%223, m2_absmax=%224, nu_codes=%287, nu_absmax=%288
//   }

struct Params {
  rows: u32,
  row_base: u32,
  count: u32,
  zero: u32,
  a1: f32,
  a2: f32,
  a3: f32,
  alpha: f32,
  b1: f32,
  b2: f32,
  b3: f32,
  c1: f32,
  c2: f32,
  decay: f32,
  eps: f32,
  lr: f32,
}
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> g: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> p: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> m1_codes: array<u32>;
@group(0) @binding(4) var<storage, read> packed_table: array<u32>;
@group(0) @binding(5) var<storage, read_write> m1_absmax_row: array<f32>;
@group(0) @binding(6) var<storage, read_write> m2_codes: array<u32>;
@group(0) @binding(7) var<storage, read_write> m2_absmax_row: array<f32>;
@group(0) @binding(8) var<storage, read_write> nu_codes: array<u32>;
@group(0) @binding(9) var<storage, read_write> nu_absmax_row: array<f32>;
var<workgroup> scratch_reduce_3: array<f32, 64>;
var<workgroup> scratch_reduce_4: array<f32, 64>;
var<workgroup> scratch_reduce_5: array<f32, 64>;

// 2 calls in this kernel
fn q_fn(arg0: vec4<f32>, absmax: f32) -> vec4<u32> {
  let normed_64 = (arg0 / vec4<f32>(absmax));
  let bits_63 = bitcast<vec4<u32>>(normed_64);
  let mag_62 = (bits_63 & vec4<u32>(2147483647u));
  let gt_61 = (mag_62 > vec4<u32>(2139095040u));
  let shr_67 = (bits_63 >> vec4<u32>(31u));
  let eq_66 = (shr_67 == vec4<u32>(1u));
  let clamped_81 = min(mag_62, vec4<u32>(1073741824u));
  let bitcast_80 = bitcast<vec4<f32>>(clamped_81);
  let gt_83 = (clamped_81 > vec4<u32>(1037209436u));
  let gt_85 = (clamped_81 > vec4<u32>(1009585750u));
  let gt_87 = (clamped_81 > vec4<u32>(982634830u));
  let gt_89 = (clamped_81 > vec4<u32>(956330840u));
  let gt_91 = (clamped_81 > vec4<u32>(930301190u));
  let gt_93 = (clamped_81 > vec4<u32>(905905026u));
  let select_92 = select(vec4<f32>(1111111.125f), vec4<f32>(222222.21875f), gt_93);
  let select_90 = select(select_92, vec4<f32>(44444.4453125f), gt_91);
  let select_88 = select(select_90, vec4<f32>(8888.888671875f), gt_89);
  let select_86 = select(select_88, vec4<f32>(1777.77783203125f), gt_87);
  let select_84 = select(select_86, vec4<f32>(355.5555419921875f), gt_85);
  let select_82 = select(select_84, vec4<f32>(71.11111450195312f), gt_83);
  let mul_79 = (bitcast_80 * select_82);
  let cast_103 = vec4<u32>(gt_93);
  let cast_104 = vec4<u32>(gt_91);
  let add_102 = (cast_103 + cast_104);
  let cast_105 = vec4<u32>(gt_89);
  let add_101 = (add_102 + cast_105);
  let cast_106 = vec4<u32>(gt_87);
  let add_100 = (add_101 + cast_106);
  let cast_107 = vec4<u32>(gt_85);
  let add_99 = (add_100 + cast_107);
  let cast_108 = vec4<u32>(gt_83);
  let add_98 = (add_99 + cast_108);
  let codes_in_decade_97 = (vec4<u32>(1u) << (vec4<u32>(add_98) & vec4<u32>(31u)));
  let cast_96 = vec4<f32>(codes_in_decade_97);
  let mul_95 = (cast_96 * vec4<f32>(0.1111111119389534f));
  let add_94 = (mul_95 + vec4<f32>(0.5f));
  let y_78 = (mul_79 - add_94);
  let floor_77 = floor(y_78);
  let max_76 = max(floor_77, vec4<f32>((-1f)));
  let sub_109 = (cast_96 - vec4<f32>(1f));
  let j_75 = min(max_76, sub_109);
  let cast_74 = select(vec4<i32>(j_75), vec4<i32>(0), (bitcast<vec4<u32>>(j_75) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
  let cast_110 = vec4<i32>(codes_in_decade_97);
  let add_73 = (cast_74 + cast_110);
  let add_72 = (add_73 + vec4<i32>(127i));
  let guess_71 = vec4<u32>(add_72);
  let add_114 = (guess_71 + vec4<u32>(256u));
  let packed_table_113 = vec4<u32>(packed_table[add_114.x], packed_table[add_114.y], packed_table[add_114.z], packed_table[add_114.w]);
  let gt_112 = (clamped_81 > packed_table_113);
  let cast_111 = vec4<u32>(gt_112);
  let q_70 = (guess_71 + cast_111);
  let min_69 = min(q_70, vec4<u32>(254u));
  let sub_68 = (vec4<u32>(254u) - min_69);
  let select_65 = select(q_70, sub_68, eq_66);
  let select_60 = select(select_65, vec4<u32>(0u), gt_61);
  let lt_59 = (select_60 < vec4<u32>(127u));
  let bitcast_118 = bitcast<vec4<u32>>(arg0);
  let shr_117 = (bitcast_118 >> vec4<u32>(31u));
  let eq_116 = (shr_117 == vec4<u32>(1u));
  let and_120 = (bitcast_118 & vec4<u32>(2147483647u));
  let le_119 = (and_120 <= vec4<u32>(2139095040u));
  let and_115 = (eq_116 & le_119);
  let eq_58 = (lt_59 == and_115);
  let gt_124 = (arg0 > vec4<f32>(0f));
  let select_123 = select(vec4<u32>(255u), vec4<u32>(1u), gt_124);
  let add_122 = (select_60 + select_123);
  let and_121 = (add_122 & vec4<u32>(255u));
  let select_57 = select(and_121, select_60, eq_58);
  let cast_56 = (vec4<u32>(select_57) & vec4<u32>(255u));
  return cast_56;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  var keep_m_new_0: array<vec4<f32>, 1>;
  var keep_m2_new_1: array<vec4<f32>, 1>;
  var keep_nu_new_2: array<vec4<f32>, 1>;
  // phase 0
  let m1_absmax_row_14 = m1_absmax_row[row];
  let m2_absmax_row_25 = m2_absmax_row[row];
  let nu_absmax_row_37 = nu_absmax_row[row];
  var acc_reduce_3: f32 = bitcast<f32>(0xff800000u | params.zero);
  var acc_reduce_4: f32 = bitcast<f32>(0xff800000u | params.zero);
  var acc_reduce_5: f32 = bitcast<f32>(0xff800000u | params.zero);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let g_6 = g[e >> 2u];
      let bitcast_5 = bitcast<vec4<u32>>(g_6);
      let and_4 = (bitcast_5 & vec4<u32>(2139095040u));
      let ne_3 = (and_4 != vec4<u32>(2139095040u));
      let bad_grad_2 = (!ne_3);
      let m1_codes_13 = ((vec4<u32>(m1_codes[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
      let cast_12 = vec4<u32>(m1_codes_13);
      let packed_table_11 = vec4<u32>(packed_table[cast_12.x], packed_table[cast_12.y], packed_table[cast_12.z], packed_table[cast_12.w]);
      let bitcast_10 = bitcast<vec4<f32>>(packed_table_11);
      let m_9 = (bitcast_10 * vec4<f32>(m1_absmax_row_14));
      let mul_8 = (m_9 * vec4<f32>(params.b1));
      let mul_15 = (g_6 * vec4<f32>(params.a1));
      let m1_7 = (mul_8 + mul_15);
      let m_new_1 = select(m1_7, vec4<f32>(0f), bad_grad_2);
      let abs_0 = abs(m_new_1);
      acc_reduce_3 = max(acc_reduce_3, max(max(abs_0.x, abs_0.y), max(abs_0.z, abs_0.w)));
      let m2_codes_24 = ((vec4<u32>(m2_codes[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
      let cast_23 = vec4<u32>(m2_codes_24);
      let packed_table_22 = vec4<u32>(packed_table[cast_23.x], packed_table[cast_23.y], packed_table[cast_23.z], packed_table[cast_23.w]);
      let bitcast_21 = bitcast<vec4<f32>>(packed_table_22);
      let m2_20 = (bitcast_21 * vec4<f32>(m2_absmax_row_25));
      let mul_19 = (m2_20 * vec4<f32>(params.b3));
      let mul_26 = (g_6 * vec4<f32>(params.a3));
      let m2_next_18 = (mul_19 + mul_26);
      let m2_new_17 = select(m2_next_18, vec4<f32>(0f), bad_grad_2);
      let abs_16 = abs(m2_new_17);
      acc_reduce_4 = max(acc_reduce_4, max(max(abs_16.x, abs_16.y), max(abs_16.z, abs_16.w)));
      let nu_codes_36 = ((vec4<u32>(nu_codes[e >> 2u]) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(255u));
      let cast_35 = vec4<u32>(nu_codes_36);
      let add_34 = (cast_35 + vec4<u32>(512u));
      let packed_table_33 = vec4<u32>(packed_table[add_34.x], packed_table[add_34.y], packed_table[add_34.z], packed_table[add_34.w]);
      let bitcast_32 = bitcast<vec4<f32>>(packed_table_33);
      let nu_31 = (bitcast_32 * vec4<f32>(nu_absmax_row_37));
      let mul_30 = (nu_31 * vec4<f32>(params.b2));
      let mul_39 = (g_6 * vec4<f32>(params.a2));
      let mul_38 = (mul_39 * g_6);
      let nu_next_29 = (mul_30 + mul_38);
      let nu_new_28 = select(nu_next_29, vec4<f32>(0f), bad_grad_2);
      let abs_27 = abs(nu_new_28);
      acc_reduce_5 = max(acc_reduce_5, max(max(abs_27.x, abs_27.y), max(abs_27.z, abs_27.w)));
      keep_m_new_0[k] = m_new_1;
      keep_m2_new_1[k] = m2_new_17;
      keep_nu_new_2[k] = nu_new_28;
      let p_41 = p[e >> 2u];
      let div_47 = (m1_7 / vec4<f32>(params.c1));
      let mul_48 = (vec4<f32>(params.alpha) * m2_next_18);
      let add_46 = (div_47 + mul_48);
      let sqrt_51 = sqrt(nu_next_29);
      let div_50 = (sqrt_51 / vec4<f32>(params.c2));
      let add_49 = (div_50 + vec4<f32>(params.eps));
      let div_45 = (add_46 / add_49);
      let mul_44 = (vec4<f32>(params.lr) * div_45);
      let sub_43 = (p_41 - mul_44);
      let mul_42 = (sub_43 * vec4<f32>(params.decay));
      let select_40 = select(mul_42, p_41, bad_grad_2);
      p[e >> 2u] = select_40;
    }
  }
  scratch_reduce_3[lid] = acc_reduce_3;
  scratch_reduce_4[lid] = acc_reduce_4;
  scratch_reduce_5[lid] = acc_reduce_5;
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_3[lid] = max(max(scratch_reduce_3[lid], scratch_reduce_3[lid + 16u]), max(scratch_reduce_3[lid + 32u], scratch_reduce_3[lid + 48u])); scratch_reduce_4[lid] = max(max(scratch_reduce_4[lid], scratch_reduce_4[lid + 16u]), max(scratch_reduce_4[lid + 32u], scratch_reduce_4[lid + 48u])); scratch_reduce_5[lid] = max(max(scratch_reduce_5[lid], scratch_reduce_5[lid + 16u]), max(scratch_reduce_5[lid + 32u], scratch_reduce_5[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_3[lid] = max(max(scratch_reduce_3[lid], scratch_reduce_3[lid + 4u]), max(scratch_reduce_3[lid + 8u], scratch_reduce_3[lid + 12u])); scratch_reduce_4[lid] = max(max(scratch_reduce_4[lid], scratch_reduce_4[lid + 4u]), max(scratch_reduce_4[lid + 8u], scratch_reduce_4[lid + 12u])); scratch_reduce_5[lid] = max(max(scratch_reduce_5[lid], scratch_reduce_5[lid + 4u]), max(scratch_reduce_5[lid + 8u], scratch_reduce_5[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_3[lid] = max(max(scratch_reduce_3[lid], scratch_reduce_3[lid + 1u]), max(scratch_reduce_3[lid + 2u], scratch_reduce_3[lid + 3u])); scratch_reduce_4[lid] = max(max(scratch_reduce_4[lid], scratch_reduce_4[lid + 1u]), max(scratch_reduce_4[lid + 2u], scratch_reduce_4[lid + 3u])); scratch_reduce_5[lid] = max(max(scratch_reduce_5[lid], scratch_reduce_5[lid + 1u]), max(scratch_reduce_5[lid + 2u], scratch_reduce_5[lid + 3u])); }
  workgroupBarrier();
  let reduce_52 = scratch_reduce_3[0];
  let reduce_53 = scratch_reduce_4[0];
  let reduce_54 = scratch_reduce_5[0];
  // phase 1: after 1 reduction
  let gt_127 = (reduce_52 > 0f);
  let absmax_126 = select(0f, reduce_52, gt_127);
  let gt_131 = (reduce_53 > 0f);
  let absmax_130 = select(0f, reduce_53, gt_131);
  let gt_140 = (reduce_54 > 0f);
  let absmax_139 = select(0f, reduce_54, gt_140);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let m_new_125 = keep_m_new_0[k];
      let cast_55 = q_fn(m_new_125, absmax_126);
      let m2_new_129 = keep_m2_new_1[k];
      let cast_128 = q_fn(m2_new_129, absmax_130);
      let nu_new_138 = keep_nu_new_2[k];
      let normed_137 = (nu_new_138 / vec4<f32>(absmax_139));
      let bits_136 = bitcast<vec4<u32>>(normed_137);
      let mag_135 = (bits_136 & vec4<u32>(2147483647u));
      let gt_134 = (mag_135 > vec4<u32>(2139095040u));
      let shr_143 = (bits_136 >> vec4<u32>(31u));
      let eq_142 = (shr_143 == vec4<u32>(1u));
      let clamped_155 = min(mag_135, vec4<u32>(1073741824u));
      let bitcast_154 = bitcast<vec4<f32>>(clamped_155);
      let gt_157 = (clamped_155 > vec4<u32>(1037020692u));
      let gt_159 = (clamped_155 > vec4<u32>(1009283760u));
      let gt_161 = (clamped_155 > vec4<u32>(982151646u));
      let gt_163 = (clamped_155 > vec4<u32>(954814180u));
      let gt_165 = (clamped_155 > vec4<u32>(927827288u));
      let gt_167 = (clamped_155 > vec4<u32>(901946782u));
      let select_166 = select(vec4<f32>(2222222.25f), vec4<f32>(444444.4375f), gt_167);
      let select_164 = select(select_166, vec4<f32>(88888.890625f), gt_165);
      let select_162 = select(select_164, vec4<f32>(17777.77734375f), gt_163);
      let select_160 = select(select_162, vec4<f32>(3555.5556640625f), gt_161);
      let select_158 = select(select_160, vec4<f32>(711.111083984375f), gt_159);
      let select_156 = select(select_158, vec4<f32>(142.22222900390625f), gt_157);
      let mul_153 = (bitcast_154 * select_156);
      let cast_178 = vec4<u32>(gt_167);
      let cast_179 = vec4<u32>(gt_165);
      let add_177 = (cast_178 + cast_179);
      let cast_180 = vec4<u32>(gt_163);
      let add_176 = (add_177 + cast_180);
      let cast_181 = vec4<u32>(gt_161);
      let add_175 = (add_176 + cast_181);
      let cast_182 = vec4<u32>(gt_159);
      let add_174 = (add_175 + cast_182);
      let cast_183 = vec4<u32>(gt_157);
      let add_173 = (add_174 + cast_183);
      let add_172 = (add_173 + vec4<u32>(1u));
      let codes_in_decade_171 = (vec4<u32>(1u) << (vec4<u32>(add_172) & vec4<u32>(31u)));
      let cast_170 = vec4<f32>(codes_in_decade_171);
      let mul_169 = (cast_170 * vec4<f32>(0.1111111119389534f));
      let add_168 = (mul_169 + vec4<f32>(0.5f));
      let y_152 = (mul_153 - add_168);
      let floor_151 = floor(y_152);
      let max_150 = max(floor_151, vec4<f32>((-1f)));
      let sub_184 = (cast_170 - vec4<f32>(1f));
      let j_149 = min(max_150, sub_184);
      let cast_148 = select(vec4<i32>(j_149), vec4<i32>(0), (bitcast<vec4<u32>>(j_149) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_185 = vec4<i32>(codes_in_decade_171);
      let add_147 = (cast_148 + cast_185);
      let add_146 = (add_147 + vec4<i32>((-1i)));
      let guess_145 = vec4<u32>(add_146);
      let add_189 = (guess_145 + vec4<u32>(768u));
      let packed_table_188 = vec4<u32>(packed_table[add_189.x], packed_table[add_189.y], packed_table[add_189.z], packed_table[add_189.w]);
      let gt_187 = (clamped_155 > packed_table_188);
      let cast_186 = vec4<u32>(gt_187);
      let q_144 = (guess_145 + cast_186);
      let select_141 = select(q_144, vec4<u32>(0u), eq_142);
      let select_133 = select(select_141, vec4<u32>(0u), gt_134);
      let cast_132 = (vec4<u32>(select_133) & vec4<u32>(255u));
      { let packed = (cast_55 << vec4<u32>(0u, 8u, 16u, 24u)); m1_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
      { let packed = (cast_128 << vec4<u32>(0u, 8u, 16u, 24u)); m2_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
      { let packed = (cast_132 << vec4<u32>(0u, 8u, 16u, 24u)); nu_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
    }
  }
  if (lid == 0u) { m1_absmax_row[row] = absmax_126; }
  if (lid == 0u) { m2_absmax_row[row] = absmax_130; }
  if (lid == 0u) { nu_absmax_row[row] = absmax_139; }
}
