// Parameter: a trainable tensor and its gradient slot, as in PyTorch. Identity matters: the override
// manager and optimizers key their per-parameter config and state on the Parameter object itself.
import { shapeStr } from "../dsl/node.ts";
import { Tensor } from "../dsl/tensor.ts";

let nextParamId = 0;

/**
 * The optimizer holding a parameter's values in its arena (from its first step on). One parameter has one
 * owner: a second optimizer would keep its own copy, and one of the two would silently lose its updates.
 */
export interface ParameterOwner {
  /** How errors name it, e.g. "AdamW8bit #2". */
  readonly ownerName: string;
  /** `p.data = t` after adoption: the owner takes t's values into its arena at its next step. */
  dataReplaced(p: Parameter): void;
}

export class Parameter {
  /** Stable identity for state dicts and debugging (creation order in this process). */
  readonly id = nextParamId++;
  private _grad: Tensor | null = null;
  private _data!: Tensor;
  private _owner: ParameterOwner | null = null;
  /** Optional name (set by Module.namedParameters users or by hand). */
  name = "";

  constructor(data: Tensor) {
    this.data = data;
  }

  get data(): Tensor {
    return this._data;
  }
  /**
   * New values. Before any optimizer has stepped the parameter, any float tensor; afterwards the optimizer's
   * arena is laid out for this shape and dtype, so only a tensor of the same shape and dtype is accepted, and
   * the optimizer copies it into its arena at its next step (until then, reads see `t` itself).
   */
  set data(t: Tensor) {
    if (!(t instanceof Tensor)) throw new TypeError("octet.nn.Parameter: data must be a Tensor (await octet.tensor(values, shape), or octet.tensorNow(values, shape) in synchronous code such as a Module constructor)");
    if (t.dtype !== "f32" && t.dtype !== "f16") throw new TypeError(`octet.nn.Parameter: parameters must be float, got ${t.dtype}`);
    if (this._owner) {
      const old = this._data;
      if (t.dtype !== old.dtype || t.shape.length !== old.shape.length || t.shape.some((d, i) => d !== old.shape[i]))
        throw new Error(
          `Parameter.data: parameter ${this.label()} is stepped by ${this._owner.ownerName}, whose state is laid out for ${old.dtype}${shapeStr(old.shape)}; ` +
            `a ${t.dtype}${shapeStr(t.shape)} tensor cannot replace it (create a new optimizer for a new shape)`,
        );
      this._data = t;
      this._owner.dataReplaced(this);
      return;
    }
    this._data = t;
  }

  /** The optimizer that holds this parameter's values, if one has stepped it. */
  get owner(): ParameterOwner | null {
    return this._owner;
  }
  /** Called by an optimizer when it adopts the parameter (its first step); refuses a second owner, naming both. */
  claim(owner: ParameterOwner): void {
    if (this._owner && this._owner !== owner)
      throw new Error(
        `${owner.ownerName}: parameter ${this.label()} is already stepped by ${this._owner.ownerName}, which holds its values in its own arena; ` +
          `one Parameter can belong to one optimizer (call release() on ${this._owner.ownerName} first, or give each optimizer its own parameters)`,
      );
    this._owner = owner;
  }
  /** Called by an optimizer that gives the parameter up (its values stay where they are). */
  release(owner: ParameterOwner): void {
    if (this._owner === owner) this._owner = null;
  }

  private label(): string {
    return `${this.name ? `'${this.name}'` : `#${this.id}`} (${this.dtype}${shapeStr(this.shape)})`;
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
