// Tracing: hash-consing (equal expressions are one node), the let-list printer, and errors that name the
// op and the user's line. No GPU work except where an error only shows up when a graph is scheduled.
import { describe, expect, test } from "bun:test";
import { mk, substitute, toposort } from "../../src/dsl/node.ts";
import { printGraph } from "../../src/dsl/print.ts";
import { DslError, Tensor } from "../../src/dsl/tensor.ts";
import { tensor } from "../../src/runtime/realize.ts";

/** "file:line" of the caller, to check that errors point at this file's lines. */
function here(): string {
  const frame = new Error().stack!.split("\n")[2];
  return frame.match(/([^/\\\s(]+\.ts:\d+):\d+/)![1];
}
/** The error f throws. (Callers pass `() => void expr`: a call in tail position would leave no frame.) */
function thrown(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error("expected a throw");
}

describe("hash-consing", () => {
  test("equal expressions are the same node object", () => {
    const x = Tensor.input(0, "x", [7]);
    const a = x.mul(2).add(1).exp();
    const b = x.mul(2).add(1).exp();
    expect(a).not.toBe(b); // two Tensor handles ...
    expect(a.node).toBe(b.node); // ... of one node
    expect(Tensor.const(2).node).toBe(Tensor.const(2).node);
    expect(Tensor.uniform("lr").node).toBe(Tensor.uniform("lr").node);
    expect(Tensor.const(NaN).node).toBe(Tensor.const(NaN).node);
  });

  test("nodes that differ in op, dtype, shape, literal or operand order are different", () => {
    const x = Tensor.input(0, "x", [7]);
    const y = Tensor.input(1, "y", [7]);
    expect(x.add(y).node).not.toBe(y.add(x).node);
    expect(x.add(y).node).not.toBe(x.sub(y).node);
    expect(Tensor.const(0).node).not.toBe(Tensor.const(-0).node);
    expect(Tensor.const(2).node).not.toBe(Tensor.const(2, "i32").node);
    expect(x.reshape(7, 1).node).not.toBe(x.reshape(1, 7).node);
    expect(Tensor.input(0, "x", [7]).node).toBe(x.node);
    expect(Tensor.input(0, "x", [7], "i32").node).not.toBe(x.node);
    // An input's name is its own (it names the WGSL binding), whatever else used the slot before.
    expect(Tensor.input(0, "w", [7]).node).not.toBe(x.node);
    expect(printGraph([Tensor.input(0, "w", [7]).node])).toContain("%0_w:f32[7] = input #0");
  });

  test("a shared subexpression appears once in the graph", () => {
    const x = Tensor.input(0, "x", [5]);
    const s = x.mul(3).add(1);
    const out = s.mul(s).add(s.exp());
    const order = toposort([out.node]);
    expect(order.filter((n) => n.op === "add" && n.src[0].op === "mul" && n.src[0].src[0] === x.node)).toHaveLength(1);
    expect(new Set(order.map((n) => n.id)).size).toBe(order.length);
  });

  test("naming a value does not split it, and the first name wins", () => {
    const x = Tensor.input(0, "x", [9]);
    const a = x.mul(5).named("scaled");
    const b = x.mul(5).named("other");
    expect(a.node).toBe(b.node);
    expect(printGraph([b.node])).toContain("%1_scaled:f32[9] = mul %0_x 5");
  });

  test("substitute rebuilds only what changed", () => {
    const x = Tensor.input(0, "x", [3]);
    const y = x.add(1).mul(2);
    expect(substitute([y.node], () => undefined)[0]).toBe(y.node);
    const z = Tensor.input(1, "z", [3]);
    const [w] = substitute([y.node], (n) => (n === x.node ? z.node : undefined));
    expect(w).toBe(z.add(1).mul(2).node);
  });

  test("mk returns a live node for an equal key even when built by hand", () => {
    const c = Tensor.const(41, "i32");
    expect(mk("const", "i32", [], [], 41)).toBe(c.node);
  });
});

describe("printGraph", () => {
  test("a small program is a readable, typed let-list", () => {
    const x = Tensor.input(0, "x", [2, 6]);
    const g = Tensor.input(1, "g", [6]);
    const lr = Tensor.uniform("lr");
    const centered = x.sub(x.mean()).named("centered");
    const y = centered.mul(g).mul(lr).add(1e-5);
    expect(printGraph([y.node, x.sum(false).node], ["y", "total"])).toMatchInlineSnapshot(`
"{
  %0_x:f32[2,6] = input #0
  %1:f32[2,1] = reduce sum %0_x
  %2:f32[2,1] = div %1 6
  %3:f32[2,6] = expand %2
  %4_centered:f32[2,6] = sub %0_x %3
  %5_g:f32[6] = input #1
  %6:f32[1,6] = reshape %5_g
  %7:f32[2,6] = expand %6
  %8:f32[2,6] = mul %4_centered %7
  %9_lr:f32[] = uniform lr
  %10:f32[2,6] = mul %8 $lr
  %11:f32[2,6] = add %10 0.00001
  %12:f32[2] = reshape %1
  return y=%11, total=%12
}"
`);
  });

  test("literals print in their dtype's notation", () => {
    const i = Tensor.input(0, "i", [3], "i32");
    const u = Tensor.input(1, "u", [3], "u32");
    const text = printGraph([i.add(-4).node, u.shl(3).node, i.gt(0).and(true).node]);
    expect(text).toContain("add %0_i -4i");
    expect(text).toContain("shl %2_u 3u");
    expect(text).toContain("and %4 true");
  });
});

describe("errors name the op and the user's line", () => {
  test("a dtype mismatch", async () => {
    const a = await tensor([1, 2, 3]);
    const b = await tensor(Int32Array.from([1, 2, 3]));
    const [where, err] = [here(), thrown(() => void a.add(b))];
    expect(err).toBeInstanceOf(DslError);
    expect(err.message).toStartWith("Tensor.add: f32[3] add i32[3]: operands have different dtypes (f32, i32); cast one side first");
    expect(err.message).toContain(`(at `);
    expect(err.message).toContain(where); // graph.test.ts:<this line>
  });

  test("a bad reshape", () => {
    const x = Tensor.input(0, "x", [3, 4]);
    const [where, err] = [here(), thrown(() => void x.reshape(5, 2))];
    expect(err).toBeInstanceOf(DslError);
    expect(err.message).toStartWith("Tensor.reshape: cannot reshape [3,4] (12 elements) to [5,2]");
    expect(err.message).toContain(where);
    expect(() => x.reshape(-1, 5)).toThrow("Tensor.reshape: cannot reshape [3,4] (12 elements) to [-1,5]");
    expect(x.reshape(-1, 6).shape).toEqual([2, 6]);
  });

  test("shapes that do not broadcast", () => {
    const x = Tensor.input(0, "x", [3]);
    const y = Tensor.input(1, "y", [4]);
    expect(() => x.mul(y)).toThrow("Tensor.mul: shapes [3] and [4] do not broadcast (axis 0: 3 vs 4)");
  });

  test("a broadcast the kernels cannot fuse fails when scheduled, pointing at the op that made it", async () => {
    const a = await tensor([1, 2, 3, 4, 5, 6], [2, 1, 3]);
    const b = await tensor([10, 20], [1, 2, 1]);
    const [where, sum] = [here(), a.add(b)]; // [2,1,3] + [1,2,1] -> [2,2,3]: a middle-axis broadcast
    const err = await sum.toArray().then(() => undefined, (e: Error) => e);
    expect(err).toBeInstanceOf(DslError);
    expect(err!.message).toContain("Tensor.expand: broadcast of [2,1,3] to [2,2,3] is not supported");
    expect(err!.message).toContain(where);
  });

  test("type rules refuse what WGSL would refuse", () => {
    const b = Tensor.input(0, "b", [4], "bool");
    const c = Tensor.input(1, "c", [4], "u8");
    const f = Tensor.input(2, "f", [4]);
    expect(() => b.lt(b)).toThrow("Tensor.lt: bool[4] lt bool[4]: needs numeric operands, got bool"); // no bool < bool in WGSL
    expect(b.eq(b).dtype).toBe("bool");
    expect(() => c.add(c)).toThrow("u8 is a packed storage type; cast it to u32, i32 or f32");
    expect(() => f.and(f)).toThrow("needs bool or integer operands, got f32");
    expect(() => f.where(1, 2)).toThrow("condition must be bool, got f32");
    expect(() => b.sum()).toThrow("Tensor.sum: cannot reduce bool; cast first");
    expect(() => f.gather(f)).toThrow("Tensor.gather: index must be i32 or u32, got f32");
    expect(() => Tensor.iota([2, 3, 4], 0)).toThrow("Tensor.iota: only the last two axes are supported");
    expect(() => Tensor.uniform("learning rate")).toThrow('Tensor.uniform: name "learning rate" is not an identifier');
    expect(() => Tensor.const(1).sum()).toThrow("Tensor.sum: cannot reduce a scalar");
  });

  test("a node remembers the line that first made it", () => {
    const x = Tensor.input(0, "site_probe", [11]);
    const [where, y] = [here(), x.mul(17)];
    expect(y.node.site).toContain(where);
    expect(x.mul(17).node.site).toContain(where); // the first creator wins
  });
});
