// Matmul as a registered lowering: a thin adapter over codegen/matmul.ts (which owns the kernel itself). The
// operands are materialized by the scheduler; the device target picks the kernel variant.
import type { Node } from "../../dsl/node.ts";
import type { HostArray } from "../interpret.ts";
import { hashString, targetKey, type Kernel } from "../kernel.ts";
import type { KernelKind, Lowering } from "../lowering.ts";
import { kernelBanner } from "../banner.ts";
import { emitMatmulWgsl, lowerMatmul, matmulBlocks } from "../matmul.ts";

export const matmulLowering: Lowering = {
  kernels(n: Node, outSlot, ctx) {
    const [a, b] = [ctx.slotOf(n.src[0]), ctx.slotOf(n.src[1])];
    const sk = lowerMatmul(n, a, b, outSlot, ctx.slots, ctx.kernelName(), ctx.target.matmulVariant);
    sk.kernel.target = ctx.target;
    sk.kernel.key = hashString(`${sk.kernel.key}|${targetKey(ctx.target)}`);
    return [sk];
  },
};

function header(k: Kernel, names: string[]): string {
  const v = k.matmul!.variant;
  const how = v === "broadcast" ? "32x64 blocks, workgroup 8 (one subgroup), 32x8 outputs per lane, A shared by subgroupBroadcast, B in vec4s"
    : v === "direct" ? "8x64 blocks, workgroup 8, 8x8 outputs per thread, no workgroup memory" : "32x32 tiles, workgroup 8x8, 4x4 outputs per thread";
  const what = `matmul kernel (${k.matmul!.variant}): C = ${k.matmul!.ta ? "A^T" : "A"} @ ${k.matmul!.tb ? "B^T" : "B"}, ${how}`;
  return kernelBanner(k, [what], ["M, N, K, batch strides; this dispatch's block of C and window offsets)"], k.bindings.map((b, i) => `${names[i]}: ${b.dtype} ${b.write ? "write" : "read"}`));
}

/** C[z] = op(A[z]) @ op(B[z]) on host arrays, accumulating in f32 in k order. */
function interpretMatmul(k: Kernel, batch: number, slots: HostArray[], u: Record<string, number>): void {
  const [A, B, C] = k.bindings.map((b) => slots[b.slot]);
  const { ta, tb } = k.matmul!;
  for (let z = 0; z < batch; z++)
    for (let m = 0; m < u.M; m++)
      for (let n = 0; n < u.N; n++) {
        let acc = 0;
        for (let kk = 0; kk < u.K; kk++) {
          const a = A[z * u.stride_a + (ta ? kk * u.M + m : m * u.K + kk)];
          const b = B[z * u.stride_b + (tb ? n * u.K + kk : kk * u.N + n)];
          acc = Math.fround(acc + Math.fround(a * b));
        }
        C[z * u.stride_c + m * u.N + n] = acc;
      }
}

export const matmulKind: KernelKind = {
  emit: (k, names) => emitMatmulWgsl(k, header(k, names), names),
  workgroupSize: (k) => (k.matmul!.variant === "tiled" ? 64 : 8),
  interpret: interpretMatmul,
  chunks: matmulBlocks, // blocks of C and slices of K whose windows fit one binding
};
