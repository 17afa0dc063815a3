// Plain-TS float64 GPT-2 forward over Hugging Face's tensor names, written from transformers' modeling_gpt2.py
// (GPT2LMHeadModel in eval mode), not from octet's code:
//
//   h = wte[ids] + wpe[positions]
//   per block:  a = c_proj(attn(c_attn(ln_1(h))));  h = h + a;  h = h + mlp.c_proj(gelu_new(mlp.c_fc(ln_2(h))))
//   logits = ln_f(h) @ wte^T                   (lm_head tied to wte; an untied lm_head.weight is [V, C])
//
// Conv1D(nf, nx): y = x @ weight + bias, weight [nx, nf]. Attention (GPT2Attention._attn / eager_attention_forward):
// query, key, value = c_attn(x).split(n_embd, dim=2); each viewed [B, T, n_head, head_dim] and permuted to
// [B, n_head, T, head_dim]; w = q k^T / sqrt(head_dim); future positions set to finfo.min; softmax over the last
// axis; w v; heads merged back to [B, T, n_embd]. gelu_new(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
// nn.LayerNorm: (x - mean) / sqrt(biased var + eps) * weight + bias.

type Arr = ArrayLike<number>;

export interface Gpt2RefConfig {
  vocab_size: number;
  n_positions: number;
  n_embd: number;
  n_layer: number;
  n_head: number;
  layer_norm_epsilon: number;
  tie_word_embeddings?: boolean;
}

/** Logits [B*T, V] for ids [B*T]; `w` maps HF names (no `transformer.` prefix) to row-major values. */
export function gpt2Forward(w: Map<string, Arr>, cfg: Gpt2RefConfig, ids: Arr, B: number, T: number): Float64Array {
  const C = cfg.n_embd, H = cfg.n_head, hd = C / H, V = cfg.vocab_size, N = B * T;
  const get = (k: string): Arr => {
    const v = w.get(k);
    if (!v) throw new Error(`gpt2Forward: no tensor ${k}`);
    return v;
  };
  const conv1d = (x: Arr, name: string, nx: number, nf: number): Float64Array => {
    const W = get(`${name}.weight`), b = get(`${name}.bias`);
    const y = new Float64Array(N * nf);
    for (let n = 0; n < N; n++)
      for (let f = 0; f < nf; f++) {
        let s = b[f];
        for (let i = 0; i < nx; i++) s += x[n * nx + i] * W[i * nf + f];
        y[n * nf + f] = s;
      }
    return y;
  };
  const layerNorm = (x: Arr, name: string): Float64Array => {
    const g = get(`${name}.weight`), b = get(`${name}.bias`);
    const y = new Float64Array(N * C);
    for (let n = 0; n < N; n++) {
      let mean = 0;
      for (let j = 0; j < C; j++) mean += x[n * C + j];
      mean /= C;
      let v = 0;
      for (let j = 0; j < C; j++) v += (x[n * C + j] - mean) ** 2;
      const inv = 1 / Math.sqrt(v / C + cfg.layer_norm_epsilon);
      for (let j = 0; j < C; j++) y[n * C + j] = (x[n * C + j] - mean) * inv * g[j] + b[j];
    }
    return y;
  };
  const geluNew = (x: Float64Array) => x.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))));
  const attn = (qkv: Float64Array): Float64Array => {
    const out = new Float64Array(N * C);
    // split(n_embd, dim=2): query = columns [0, C), key = [C, 2C), value = [2C, 3C); head h = columns h*hd..
    const at = (b: number, t: number, part: number, h: number, e: number) => qkv[(b * T + t) * 3 * C + part * C + h * hd + e];
    const minF32 = -3.4028234663852886e38; // torch.finfo(float32).min, the mask value
    for (let b = 0; b < B; b++)
      for (let h = 0; h < H; h++)
        for (let i = 0; i < T; i++) {
          const s = new Float64Array(T);
          for (let j = 0; j < T; j++) {
            if (j > i) {
              s[j] = minF32;
              continue;
            }
            let d = 0;
            for (let e = 0; e < hd; e++) d += at(b, i, 0, h, e) * at(b, j, 1, h, e);
            s[j] = d / Math.sqrt(hd);
          }
          const m = Math.max(...s);
          const p = s.map((x) => Math.exp(x - m));
          const z = p.reduce((a, x) => a + x, 0);
          for (let e = 0; e < hd; e++) {
            let o = 0;
            for (let j = 0; j < T; j++) o += (p[j] / z) * at(b, j, 2, h, e);
            out[(b * T + i) * C + h * hd + e] = o; // merge heads: [B, T, H, hd] -> [B, T, C]
          }
        }
    return out;
  };

  const wte = get("wte.weight"), wpe = get("wpe.weight");
  let h = new Float64Array(N * C);
  for (let n = 0; n < N; n++) for (let j = 0; j < C; j++) h[n * C + j] = wte[ids[n] * C + j] + wpe[(n % T) * C + j];
  for (let l = 0; l < cfg.n_layer; l++) {
    const p = `h.${l}`;
    const a = conv1d(attn(conv1d(layerNorm(h, `${p}.ln_1`), `${p}.attn.c_attn`, C, 3 * C)), `${p}.attn.c_proj`, C, C);
    h = h.map((v, i) => v + a[i]);
    const m = conv1d(geluNew(conv1d(layerNorm(h, `${p}.ln_2`), `${p}.mlp.c_fc`, C, 4 * C)), `${p}.mlp.c_proj`, 4 * C, C);
    h = h.map((v, i) => v + m[i]);
  }
  const x = layerNorm(h, "ln_f");
  // lm_head: nn.Linear(n_embd, vocab_size, bias=False), weight [V, C]: logits = x W^T, W = wte when tied.
  const head = cfg.tie_word_embeddings === false ? get("lm_head.weight") : wte;
  const logits = new Float64Array(N * V);
  for (let n = 0; n < N; n++)
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let j = 0; j < C; j++) s += x[n * C + j] * head[v * C + j];
      logits[n * V + v] = s;
    }
  return logits;
}
