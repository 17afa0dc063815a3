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
var<workgroup> scratch_reduce_8: array<f32, 64>;
var<workgroup> scratch_reduce_9: array<f32, 64>;
var<workgroup> scratch_reduce_10: array<f32, 64>;

// 2 calls in this kernel
fn q_fn(arg0: vec4<f32>, absmax: f32, arg2: vec4<bool>, arg3: vec4<u32>) -> vec4<u32> {
  let normed_81 = (arg0 / vec4<f32>(absmax));
  let bits_80 = bitcast<vec4<u32>>(normed_81);
  let mag_79 = (bits_80 & vec4<u32>(2147483647u));
  let gt_78 = (mag_79 > vec4<u32>(2139095040u));
  let shr_84 = (bits_80 >> vec4<u32>(31u));
  let eq_83 = (shr_84 == vec4<u32>(1u));
  let clamped_98 = min(mag_79, vec4<u32>(1073741824u));
  let bitcast_97 = bitcast<vec4<f32>>(clamped_98);
  let gt_100 = (clamped_98 > vec4<u32>(1037209436u));
  let gt_102 = (clamped_98 > vec4<u32>(1009585750u));
  let gt_104 = (clamped_98 > vec4<u32>(982634830u));
  let gt_106 = (clamped_98 > vec4<u32>(956330840u));
  let gt_108 = (clamped_98 > vec4<u32>(930301190u));
  let gt_110 = (clamped_98 > vec4<u32>(905905026u));
  let select_109 = select(vec4<f32>(1111111.125f), vec4<f32>(222222.21875f), gt_110);
  let select_107 = select(select_109, vec4<f32>(44444.4453125f), gt_108);
  let select_105 = select(select_107, vec4<f32>(8888.888671875f), gt_106);
  let select_103 = select(select_105, vec4<f32>(1777.77783203125f), gt_104);
  let select_101 = select(select_103, vec4<f32>(355.5555419921875f), gt_102);
  let select_99 = select(select_101, vec4<f32>(71.11111450195312f), gt_100);
  let mul_96 = (bitcast_97 * select_99);
  let cast_120 = vec4<u32>(gt_110);
  let cast_121 = vec4<u32>(gt_108);
  let add_119 = (cast_120 + cast_121);
  let cast_122 = vec4<u32>(gt_106);
  let add_118 = (add_119 + cast_122);
  let cast_123 = vec4<u32>(gt_104);
  let add_117 = (add_118 + cast_123);
  let cast_124 = vec4<u32>(gt_102);
  let add_116 = (add_117 + cast_124);
  let cast_125 = vec4<u32>(gt_100);
  let add_115 = (add_116 + cast_125);
  let codes_in_decade_114 = (vec4<u32>(1u) << (vec4<u32>(add_115) & vec4<u32>(31u)));
  let cast_113 = vec4<f32>(codes_in_decade_114);
  let mul_112 = (cast_113 * vec4<f32>(0.1111111119389534f));
  let add_111 = (mul_112 + vec4<f32>(0.5f));
  let y_95 = (mul_96 - add_111);
  let floor_94 = floor(y_95);
  let max_93 = max(floor_94, vec4<f32>((-1f)));
  let sub_126 = (cast_113 - vec4<f32>(1f));
  let j_92 = min(max_93, sub_126);
  let cast_91 = select(vec4<i32>(j_92), vec4<i32>(0), (bitcast<vec4<u32>>(j_92) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
  let cast_127 = vec4<i32>(codes_in_decade_114);
  let add_90 = (cast_91 + cast_127);
  let add_89 = (add_90 + vec4<i32>(127i));
  let guess_88 = vec4<u32>(add_89);
  let add_131 = (guess_88 + vec4<u32>(256u));
  let packed_table_130 = vec4<u32>(packed_table[add_131.x], packed_table[add_131.y], packed_table[add_131.z], packed_table[add_131.w]);
  let gt_129 = (clamped_98 > packed_table_130);
  let cast_128 = vec4<u32>(gt_129);
  let q_87 = (guess_88 + cast_128);
  let min_86 = min(q_87, vec4<u32>(254u));
  let sub_85 = (vec4<u32>(254u) - min_86);
  let select_82 = select(q_87, sub_85, eq_83);
  let select_77 = select(select_82, vec4<u32>(0u), gt_78);
  let lt_76 = (select_77 < vec4<u32>(127u));
  let eq_75 = (lt_76 == arg2);
  let add_133 = (select_77 + arg3);
  let and_132 = (add_133 & vec4<u32>(255u));
  let select_74 = select(and_132, select_77, eq_75);
  let cast_73 = (vec4<u32>(select_74) & vec4<u32>(255u));
  return cast_73;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.x + wid.y * nwg.x; // one workgroup per row
  if (row >= params.rows) { return; }
  let r = params.row_base + row;
  var keep_select_0: array<vec4<f32>, 1>;
  var keep_m_new_1: array<vec4<f32>, 1>;
  var keep_and_2: array<vec4<bool>, 1>;
  var keep_select_3: array<vec4<u32>, 1>;
  var keep_m2_new_4: array<vec4<f32>, 1>;
  var keep_and_5: array<vec4<bool>, 1>;
  var keep_select_6: array<vec4<u32>, 1>;
  var keep_nu_new_7: array<vec4<f32>, 1>;
  // phase 0
  let m1_absmax_row_14 = m1_absmax_row[row];
  let m2_absmax_row_25 = m2_absmax_row[row];
  let nu_absmax_row_37 = nu_absmax_row[row];
  var acc_reduce_8: f32 = bitcast<f32>(0xff800000u | params.zero);
  var acc_reduce_9: f32 = bitcast<f32>(0xff800000u | params.zero);
  var acc_reduce_10: f32 = bitcast<f32>(0xff800000u | params.zero);
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
      acc_reduce_8 = max(acc_reduce_8, max(max(abs_0.x, abs_0.y), max(abs_0.z, abs_0.w)));
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
      acc_reduce_9 = max(acc_reduce_9, max(max(abs_16.x, abs_16.y), max(abs_16.z, abs_16.w)));
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
      acc_reduce_10 = max(acc_reduce_10, max(max(abs_27.x, abs_27.y), max(abs_27.z, abs_27.w)));
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
      keep_select_0[k] = select_40;
      keep_m_new_1[k] = m_new_1;
      let bitcast_55 = bitcast<vec4<u32>>(m_new_1);
      let shr_54 = (bitcast_55 >> vec4<u32>(31u));
      let eq_53 = (shr_54 == vec4<u32>(1u));
      let and_57 = (bitcast_55 & vec4<u32>(2147483647u));
      let le_56 = (and_57 <= vec4<u32>(2139095040u));
      let and_52 = (eq_53 & le_56);
      keep_and_2[k] = and_52;
      let gt_59 = (m_new_1 > vec4<f32>(0f));
      let select_58 = select(vec4<u32>(255u), vec4<u32>(1u), gt_59);
      keep_select_3[k] = select_58;
      keep_m2_new_4[k] = m2_new_17;
      let bitcast_63 = bitcast<vec4<u32>>(m2_new_17);
      let shr_62 = (bitcast_63 >> vec4<u32>(31u));
      let eq_61 = (shr_62 == vec4<u32>(1u));
      let and_65 = (bitcast_63 & vec4<u32>(2147483647u));
      let le_64 = (and_65 <= vec4<u32>(2139095040u));
      let and_60 = (eq_61 & le_64);
      keep_and_5[k] = and_60;
      let gt_67 = (m2_new_17 > vec4<f32>(0f));
      let select_66 = select(vec4<u32>(255u), vec4<u32>(1u), gt_67);
      keep_select_6[k] = select_66;
      keep_nu_new_7[k] = nu_new_28;
    }
  }
  scratch_reduce_8[lid] = acc_reduce_8;
  scratch_reduce_9[lid] = acc_reduce_9;
  scratch_reduce_10[lid] = acc_reduce_10;
  workgroupBarrier();
  if (lid < 16u) { scratch_reduce_8[lid] = max(max(scratch_reduce_8[lid], scratch_reduce_8[lid + 16u]), max(scratch_reduce_8[lid + 32u], scratch_reduce_8[lid + 48u])); scratch_reduce_9[lid] = max(max(scratch_reduce_9[lid], scratch_reduce_9[lid + 16u]), max(scratch_reduce_9[lid + 32u], scratch_reduce_9[lid + 48u])); scratch_reduce_10[lid] = max(max(scratch_reduce_10[lid], scratch_reduce_10[lid + 16u]), max(scratch_reduce_10[lid + 32u], scratch_reduce_10[lid + 48u])); }
  workgroupBarrier();
  if (lid < 4u) { scratch_reduce_8[lid] = max(max(scratch_reduce_8[lid], scratch_reduce_8[lid + 4u]), max(scratch_reduce_8[lid + 8u], scratch_reduce_8[lid + 12u])); scratch_reduce_9[lid] = max(max(scratch_reduce_9[lid], scratch_reduce_9[lid + 4u]), max(scratch_reduce_9[lid + 8u], scratch_reduce_9[lid + 12u])); scratch_reduce_10[lid] = max(max(scratch_reduce_10[lid], scratch_reduce_10[lid + 4u]), max(scratch_reduce_10[lid + 8u], scratch_reduce_10[lid + 12u])); }
  workgroupBarrier();
  if (lid < 1u) { scratch_reduce_8[lid] = max(max(scratch_reduce_8[lid], scratch_reduce_8[lid + 1u]), max(scratch_reduce_8[lid + 2u], scratch_reduce_8[lid + 3u])); scratch_reduce_9[lid] = max(max(scratch_reduce_9[lid], scratch_reduce_9[lid + 1u]), max(scratch_reduce_9[lid + 2u], scratch_reduce_9[lid + 3u])); scratch_reduce_10[lid] = max(max(scratch_reduce_10[lid], scratch_reduce_10[lid + 1u]), max(scratch_reduce_10[lid + 2u], scratch_reduce_10[lid + 3u])); }
  workgroupBarrier();
  let reduce_68 = scratch_reduce_8[0];
  let reduce_69 = scratch_reduce_9[0];
  let reduce_70 = scratch_reduce_10[0];
  // phase 1: after 1 reduction
  let gt_136 = (reduce_68 > 0f);
  let absmax_135 = select(0f, reduce_68, gt_136);
  let gt_142 = (reduce_69 > 0f);
  let absmax_141 = select(0f, reduce_69, gt_142);
  let gt_153 = (reduce_70 > 0f);
  let absmax_152 = select(0f, reduce_70, gt_153);
  for (var k = 0u; k < 1u; k++) {
    let c = (k * 64u + lid) * 4u;
    if (c < 256u) {
      let e = row * 256u + c;
      let select_71 = keep_select_0[k];
      p[e >> 2u] = select_71;
      let m_new_134 = keep_m_new_1[k];
      let and_137 = keep_and_2[k];
      let select_138 = keep_select_3[k];
      let cast_72 = q_fn(m_new_134, absmax_135, and_137, select_138);
      { let packed = (cast_72 << vec4<u32>(0u, 8u, 16u, 24u)); m1_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
      let m2_new_140 = keep_m2_new_4[k];
      let and_143 = keep_and_5[k];
      let select_144 = keep_select_6[k];
      let cast_139 = q_fn(m2_new_140, absmax_141, and_143, select_144);
      { let packed = (cast_139 << vec4<u32>(0u, 8u, 16u, 24u)); m2_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
      let nu_new_151 = keep_nu_new_7[k];
      let normed_150 = (nu_new_151 / vec4<f32>(absmax_152));
      let bits_149 = bitcast<vec4<u32>>(normed_150);
      let mag_148 = (bits_149 & vec4<u32>(2147483647u));
      let gt_147 = (mag_148 > vec4<u32>(2139095040u));
      let shr_156 = (bits_149 >> vec4<u32>(31u));
      let eq_155 = (shr_156 == vec4<u32>(1u));
      let clamped_168 = min(mag_148, vec4<u32>(1073741824u));
      let bitcast_167 = bitcast<vec4<f32>>(clamped_168);
      let gt_170 = (clamped_168 > vec4<u32>(1037020692u));
      let gt_172 = (clamped_168 > vec4<u32>(1009283760u));
      let gt_174 = (clamped_168 > vec4<u32>(982151646u));
      let gt_176 = (clamped_168 > vec4<u32>(954814180u));
      let gt_178 = (clamped_168 > vec4<u32>(927827288u));
      let gt_180 = (clamped_168 > vec4<u32>(901946782u));
      let select_179 = select(vec4<f32>(2222222.25f), vec4<f32>(444444.4375f), gt_180);
      let select_177 = select(select_179, vec4<f32>(88888.890625f), gt_178);
      let select_175 = select(select_177, vec4<f32>(17777.77734375f), gt_176);
      let select_173 = select(select_175, vec4<f32>(3555.5556640625f), gt_174);
      let select_171 = select(select_173, vec4<f32>(711.111083984375f), gt_172);
      let select_169 = select(select_171, vec4<f32>(142.22222900390625f), gt_170);
      let mul_166 = (bitcast_167 * select_169);
      let cast_191 = vec4<u32>(gt_180);
      let cast_192 = vec4<u32>(gt_178);
      let add_190 = (cast_191 + cast_192);
      let cast_193 = vec4<u32>(gt_176);
      let add_189 = (add_190 + cast_193);
      let cast_194 = vec4<u32>(gt_174);
      let add_188 = (add_189 + cast_194);
      let cast_195 = vec4<u32>(gt_172);
      let add_187 = (add_188 + cast_195);
      let cast_196 = vec4<u32>(gt_170);
      let add_186 = (add_187 + cast_196);
      let add_185 = (add_186 + vec4<u32>(1u));
      let codes_in_decade_184 = (vec4<u32>(1u) << (vec4<u32>(add_185) & vec4<u32>(31u)));
      let cast_183 = vec4<f32>(codes_in_decade_184);
      let mul_182 = (cast_183 * vec4<f32>(0.1111111119389534f));
      let add_181 = (mul_182 + vec4<f32>(0.5f));
      let y_165 = (mul_166 - add_181);
      let floor_164 = floor(y_165);
      let max_163 = max(floor_164, vec4<f32>((-1f)));
      let sub_197 = (cast_183 - vec4<f32>(1f));
      let j_162 = min(max_163, sub_197);
      let cast_161 = select(vec4<i32>(j_162), vec4<i32>(0), (bitcast<vec4<u32>>(j_162) & vec4<u32>(0x7fffffffu)) > vec4<u32>(0x7f800000u));
      let cast_198 = vec4<i32>(codes_in_decade_184);
      let add_160 = (cast_161 + cast_198);
      let add_159 = (add_160 + vec4<i32>((-1i)));
      let guess_158 = vec4<u32>(add_159);
      let add_202 = (guess_158 + vec4<u32>(768u));
      let packed_table_201 = vec4<u32>(packed_table[add_202.x], packed_table[add_202.y], packed_table[add_202.z], packed_table[add_202.w]);
      let gt_200 = (clamped_168 > packed_table_201);
      let cast_199 = vec4<u32>(gt_200);
      let q_157 = (guess_158 + cast_199);
      let select_154 = select(q_157, vec4<u32>(0u), eq_155);
      let select_146 = select(select_154, vec4<u32>(0u), gt_147);
      let cast_145 = (vec4<u32>(select_146) & vec4<u32>(255u));
      { let packed = (cast_145 << vec4<u32>(0u, 8u, 16u, 24u)); nu_codes[e >> 2u] = packed.x | packed.y | packed.z | packed.w; }
    }
  }
  if (lid == 0u) { m1_absmax_row[row] = absmax_135; }
  if (lid == 0u) { m2_absmax_row[row] = absmax_141; }
  if (lid == 0u) { nu_absmax_row[row] = absmax_152; }
}
