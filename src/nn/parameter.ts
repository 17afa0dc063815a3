// Parameter: a trainable tensor and its gradient slot, as in PyTorch. Identity matters: the override
// manager and optimizers key their per-parameter config and state on the Parameter object itself.
import { shapeStr } from "../dsl/node.ts";
import { Tensor } from "../dsl/tensor.ts";

let nextParamId = 0;

export class Parameter {
  /** Stable identity for state dicts and debugging (creation order in this process). */
  readonly id = nextParamId++;
  private _grad: Tensor | null = null;
  /** Optional name (set by Module.namedParameters users or by hand). */
  name = "";

  constructor(public data: Tensor) {
    if (!(data instanceof Tensor)) throw new TypeError("octet.nn.Parameter: data must be a Tensor (use await octet.tensor(...))");
    if (data.dtype !== "f32" && data.dtype !== "f16") throw new TypeError(`octet.nn.Parameter: parameters must be float, got ${data.dtype}`);
  }

  get shape() {
    return this.data.shape;
  }
  get numel() {
    return this.data.numel;
  }
  get dtype() {
    return this.data.dtype;
  }

  get grad(): Tensor | null {
    return this._grad;
  }
  set grad(g: Tensor | null) {
    if (g !== null) {
      if (!(g instanceof Tensor)) throw new TypeError("Parameter.grad: expected a Tensor or null");
      if (g.numel !== this.numel || g.shape.length !== this.shape.length || g.shape.some((d, i) => d !== this.shape[i]))
        throw new Error(`Parameter.grad: gradient shape ${shapeStr(g.shape)} does not match parameter shape ${shapeStr(this.shape)}`);
      if (g.dtype !== this.dtype) throw new Error(`Parameter.grad: gradient dtype ${g.dtype} does not match parameter dtype ${this.dtype}`);
    }
    this._grad = g;
  }
}
