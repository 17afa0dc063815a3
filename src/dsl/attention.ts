// Fused causal self-attention as one IR op (`attention`), forward and backward, computed FlashAttention-style
// by codegen/lowerings/attention.ts: no [T, T] score or probability tensor exists anywhere.
//
// Both passes read q, k and v straight from the packed rows that the qkv projection writes, qkv [B*T, 3C]
// with row (b, t) = q | k | v and head h in columns h*d .. (h+1)*d of each part, and write in the layouts
// their users want: O [B*T, C] (heads merged, the output projection's input) and d qkv [B*T, 3C] (the qkv
// projection's gradient). So no split or merge gathers remain around the op.
//
// One op with a `pass` in its argument keeps the IR small. The backward needs the forward's per-row
// log-sum-exp; a node has one output, so instead of a second output the backward recomputes it in the kernel
// that computes dQ: one more pass of q.k products over the keys, a tenth of a training step's attention work
// (the forward does 2 such [T, T] x d products, the backward 8 with it).
import { mk, type AttentionArg, type Node } from "./node.ts";
import { callSite } from "./site.ts";
import { DslError, Tensor } from "./tensor.ts";

function check(op: string, qkv: Tensor, T: number, H: number): { rows: number; C: number } {
  if (qkv.ndim !== 2 || qkv.dtype !== "f32")
    throw new DslError(op, `qkv must be f32 [B*T, 3C], got ${qkv.dtype}[${qkv.shape.join(",")}]`);
  const [rows, W] = qkv.shape;
  if (!Number.isInteger(T) || T < 1 || rows % T !== 0)
    throw new DslError(op, `T = ${T} does not divide the ${rows} rows of qkv into B sequences`);
  if (W % 3 !== 0 || !Number.isInteger(H) || H < 1 || (W / 3) % H !== 0)
    throw new DslError(op, `qkv rows of ${W} are not 3 * C with C a multiple of H = ${H}`);
  return { rows, C: W / 3 };
}

/** Causal self-attention of packed qkv [B*T, 3C] over T positions and H heads, scores scaled 1/sqrt(C/H): O [B*T, C]. */
export function attention(qkv: Tensor, T: number, H: number): Tensor {
  const { rows, C } = check("attention", qkv, T, H);
  const arg: AttentionArg = { attention: "forward", T, H };
  return new Tensor(mk("attention", "f32", [rows, C], [qkv.node], arg, callSite));
}

/** The gradient d qkv [B*T, 3C] of attention(qkv, T, H) = o, given dO [B*T, C]. */
export function attentionBackward(qkv: Tensor, o: Tensor, dO: Tensor, T: number, H: number): Tensor {
  const { rows, C } = check("attentionBackward", qkv, T, H);
  for (const [name, x] of [["o", o], ["dO", dO]] as const)
    if (x.dtype !== "f32" || x.numel !== rows * C)
      throw new DslError("attentionBackward", `${name} must be f32 [${rows}, ${C}], got ${x.dtype}[${x.shape.join(",")}]`);
  const arg: AttentionArg = { attention: "backward", T, H };
  const src: Node[] = [qkv.node, o.reshape([rows, C]).node, dO.reshape([rows, C]).node];
  return new Tensor(mk("attention", "f32", [rows, 3 * C], src, arg, callSite));
}
