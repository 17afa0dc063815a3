// WGSL identifiers made from DSL names (bindings, uniform fields, values). A DSL user may call a tensor `var`,
// `fn`, `mat4x4`, `sample` or `max`; each of those either cannot be an identifier at all (a keyword or reserved
// word: a shader-creation error) or would shadow a predeclared name the generated code calls (a binding named
// `max` hides the builtin `max()`). So every name is checked against one list here, taken from the WGSL spec
// (https://www.w3.org/TR/WGSL/, "Keyword Summary", "Reserved Words", "Predeclared Types", "Built-in
// Functions", "Predeclared Enumerants"), plus the names the emitters declare themselves.

/** The spec's keywords (Keyword Summary): never identifiers. */
const KEYWORDS = "alias break case const const_assert continue continuing default diagnostic discard else enable false fn for if let loop override requires return struct switch true var while";

/** The spec's reserved words (Reserved Words): reserved for future use, a shader-creation error as identifiers. */
const RESERVED_WORDS =
  "NULL Self abstract active alignas alignof as asm asm_fragment async attribute auto await become binding_array cast catch class co_await co_return co_yield " +
  "coherent column_major common compile compile_fragment concept const_cast consteval constexpr constinit crate debugger decltype delete demote " +
  "demote_to_helper do dynamic_cast enum explicit export extends extern external fallthrough filter final finally friend from fxgroup get goto " +
  "groupshared highp impl implements import inline instanceof interface layout lowp macro macro_rules match mediump meta mod module move mut " +
  "mutable namespace new nil noexcept noinline nointerpolation non_coherent noncoherent noperspective null nullptr of operator package packoffset " +
  "partition pass patch pixelfragment precise precision premerge priv protected pub public readonly ref regardless register reinterpret_cast " +
  "require resource restrict self set shared sizeof smooth snorm static static_assert static_cast std subroutine super target template this " +
  "thread_local throw trait try type typedef typeid typename typeof union unless unorm unsafe unsized use using varying virtual volatile wgsl " +
  "where with writeonly yield";

/**
 * Predeclared names (types, type generators and aliases, enumerants, built-in functions). WGSL lets a
 * declaration shadow them, but the generated code calls them, so a DSL name must not.
 */
const PREDECLARED =
  "bool f16 f32 i32 u32 i64 u64 array atomic ptr sampler sampler_comparison texture_external vec2 vec3 vec4 mat2x2 mat2x3 mat2x4 mat3x2 mat3x3 mat3x4 " +
  "mat4x2 mat4x3 mat4x4 texture_1d texture_2d texture_2d_array texture_3d texture_cube texture_cube_array texture_multisampled_2d " +
  "texture_storage_1d texture_storage_2d texture_storage_2d_array texture_storage_3d texture_depth_2d texture_depth_2d_array texture_depth_cube " +
  "texture_depth_cube_array texture_depth_multisampled_2d vec2i vec3i vec4i vec2u vec3u vec4u vec2f vec3f vec4f vec2h vec3h vec4h mat2x2f mat2x3f " +
  "mat2x4f mat3x2f mat3x3f mat3x4f mat4x2f mat4x3f mat4x4f mat2x2h mat2x3h mat2x4h mat3x2h mat3x3h mat3x4h mat4x2h mat4x3h mat4x4h " +
  "read write read_write function private workgroup uniform storage handle perspective linear flat center centroid sample first either " +
  "vertex_index instance_index position front_facing frag_depth local_invocation_id local_invocation_index global_invocation_id workgroup_id " +
  "num_workgroups sample_index sample_mask subgroup_invocation_id subgroup_size " +
  "bitcast all any select arrayLength abs acos acosh asin asinh atan atanh atan2 ceil clamp cos cosh countLeadingZeros countOneBits " +
  "countTrailingZeros cross degrees determinant distance dot dot4U8Packed dot4I8Packed exp exp2 extractBits faceForward firstLeadingBit " +
  "firstTrailingBit floor fma fract frexp insertBits inverseSqrt ldexp length log log2 max min mix modf normalize pow quantizeToF16 radians " +
  "reflect refract reverseBits round saturate sign sin sinh smoothstep sqrt step tan tanh transpose trunc dpdx dpdxCoarse dpdxFine dpdy " +
  "dpdyCoarse dpdyFine fwidth fwidthCoarse fwidthFine textureDimensions textureGather textureGatherCompare textureLoad textureNumLayers " +
  "textureNumLevels textureNumSamples textureSample textureSampleBias textureSampleCompare textureSampleCompareLevel textureSampleGrad " +
  "textureSampleLevel textureSampleBaseClampToEdge textureStore atomicLoad atomicStore atomicAdd atomicSub atomicMax atomicMin atomicAnd " +
  "atomicOr atomicXor atomicExchange atomicCompareExchangeWeak pack4x8snorm pack4x8unorm pack4xI8 pack4xU8 pack4xI8Clamp pack4xU8Clamp " +
  "pack2x16snorm pack2x16unorm pack2x16float unpack4x8snorm unpack4x8unorm unpack4xI8 unpack4xU8 unpack2x16snorm unpack2x16unorm " +
  "unpack2x16float storageBarrier textureBarrier workgroupBarrier workgroupUniformLoad subgroupAdd subgroupExclusiveAdd subgroupInclusiveAdd " +
  "subgroupAll subgroupAnd subgroupAny subgroupBallot subgroupBroadcast subgroupBroadcastFirst subgroupElect subgroupMax subgroupMin subgroupMul " +
  "subgroupExclusiveMul subgroupInclusiveMul subgroupOr subgroupShuffle subgroupShuffleDown subgroupShuffleUp subgroupShuffleXor subgroupXor " +
  "quadBroadcast quadSwapDiagonal quadSwapX quadSwapY";

/** Names the map/row emitter (codegen/wgsl.ts) declares itself: entry point, builtins, loop and index locals. */
const EMITTER_LOCALS = "main Params params lid wid nwg row col e k c r i packed keep bits";

/** Every spelling a DSL name must not take as it is. */
export const WGSL_RESERVED: ReadonlySet<string> = new Set([KEYWORDS, RESERVED_WORDS, PREDECLARED, EMITTER_LOCALS].join(" ").split(/\s+/));

/**
 * A valid WGSL identifier from a DSL name: other characters become `_`; a name that is reserved, starts with a
 * digit or `__` (the spec reserves `__` prefixes), or is a bare `_`, gets the prefix `prefix` (e.g. `b_var`).
 */
export function wgslIdent(name: string, prefix: string): string {
  let s = name.replace(/[^A-Za-z0-9_]/g, "_");
  return s === "" || s === "_" || WGSL_RESERVED.has(s) || /^\d/.test(s) || s.startsWith("__") ? `${prefix}${s}` : s;
}

/**
 * The stem of a local value's name (the emitter appends `_<n>`, so no stem can meet a reserved word): other
 * characters become `_`, a leading `__` (reserved by the spec) becomes one `_`, a leading digit gets one.
 */
export function localStem(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, "_").replace(/^_+/, "_");
  return /^\d/.test(s) ? `_${s}` : s;
}

/** wgslIdent, made distinct from the names in `used` with a numeric suffix; the result is added to `used`. */
export function uniqueIdent(name: string, prefix: string, used: Set<string>): string {
  const base = wgslIdent(name, prefix);
  let n = base;
  for (let i = 2; used.has(n); i++) n = `${base}${i}`;
  used.add(n);
  return n;
}
