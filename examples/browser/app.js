// The browser example: a small character-level GPT trained in the tab with AdamW8bit and a StableEmbedding,
// on the browser's own WebGPU. Imports the browser build (`npm run build` writes dist/browser/octet.js).
// `?steps=N` trains N steps at load; the page exposes its state as `window.demo` and the library as
// `window.octet` (test/integration/browser.test.ts reads both).
import * as octet from "../../dist/browser/octet.js";

const TEXT = `It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in want of a wife.
However little known the feelings or views of such a man may be on his first entering a neighbourhood, this truth is so well
fixed in the minds of the surrounding families, that he is considered the rightful property of some one or other of their daughters.
"My dear Mr. Bennet," said his lady to him one day, "have you heard that Netherfield Park is let at last?"
Mr. Bennet replied that he had not. "But it is," returned she; "for Mrs. Long has just been here, and she told me all about it."
Mr. Bennet made no answer. "Do you not want to know who has taken it?" cried his wife impatiently.
"You want to tell me, and I have no objection to hearing it." This was invitation enough.
`;

// A tiny model: a couple of seconds a step on a software GPU, well under that on a real one.
const MODEL = { layers: 1, heads: 4, width: 64, contextLength: 16, embedding: "stable", seed: 1 };
const B = 4, T = MODEL.contextLength;

const alphabet = [...new Set(TEXT)].sort();
const idOf = new Map(alphabet.map((c, i) => [c, i]));
const tokens = Uint32Array.from(TEXT, (c) => idOf.get(c));
const decode = (ids) => Array.from(ids, (i) => alphabet[i]).join("");

/** A seeded batch of B windows of T + 1 tokens (mulberry32, so the same seed trains the same run). */
function batch(step) {
  let s = (0x9e3779b9 ^ step) >>> 0;
  const rand = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const inputs = new Uint32Array(B * T), targets = new Uint32Array(B * T);
  for (let r = 0; r < B; r++) {
    const start = Math.floor(rand() * (tokens.length - T - 1));
    inputs.set(tokens.subarray(start, start + T), r * T);
    targets.set(tokens.subarray(start + 1, start + T + 1), r * T);
  }
  return { inputs, targets };
}

const $ = (id) => document.getElementById(id);
const demo = { losses: [], done: false, error: null, running: false };
window.demo = demo;
window.octet = octet;

function fmtBytes(n) {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
}

function drawCurve() {
  const ls = demo.losses;
  if (!ls.length) return;
  const hi = Math.max(...ls), lo = Math.min(...ls), span = hi - lo || 1;
  const n = Math.max(ls.length - 1, 1);
  $("line").setAttribute("points", ls.map((l, i) => `${(i / n) * 636 + 2},${218 - ((l - lo) / span) * 200 - 2}`).join(" "));
  $("ymax").textContent = hi.toFixed(3);
  $("ymin").textContent = lo.toFixed(3);
  $("loss").textContent = `${ls[0].toFixed(4)} → ${ls.at(-1).toFixed(4)} (${ls.length} steps)`;
}

function listKernels() {
  const ks = octet.compiledKernels();
  const sel = $("kernels");
  const was = sel.value;
  sel.replaceChildren(...ks.map((k, i) => new Option(`${k.name} (${k.key})`, String(i))));
  if (was && Number(was) < ks.length) sel.value = was;
  showKernel();
}

function showKernel() {
  const k = octet.compiledKernels()[Number($("kernels").value)];
  if (!k) return;
  $("kinfo").textContent = `${k.bindings.length} bindings, ${k.bytesPerElement} bytes moved per element`;
  $("wgsl").textContent = k.wgsl;
}

async function train(steps) {
  if (demo.running) return;
  demo.running = true;
  demo.done = false;
  demo.losses = [];
  try {
    $("status").textContent = "acquiring the device…";
    await octet.device();
    const info = octet.deviceInfo();
    $("device").textContent = `${info.adapter} (${info.implementation} WebGPU; f16 ${info.hasF16 ? "yes" : "no"}, subgroups ${info.hasSubgroups ? "yes" : "no"})`;
    const model = new octet.nn.GPT({ vocabSize: alphabet.length, ...MODEL });
    const params = model.parameters();
    const numel = params.reduce((a, p) => a + p.numel, 0);
    demo.paramSizes = params.map((p) => p.numel);
    $("params").textContent = numel.toLocaleString();
    const opt = new octet.optim.AdamW8bit(params, { lr: 3e-3 });
    for (let step = 1; step <= steps; step++) {
      const b = batch(step);
      const idx = await octet.tensor(b.inputs, [B, T], { dtype: "u32" });
      const tgt = await octet.tensor(b.targets, [B * T], { dtype: "u32" });
      const loss = model.loss(idx, tgt, B, T);
      octet.nn.backward(loss);
      await opt.step({ with: [loss.value] }); // the loss comes out of the same program as the gradients
      opt.zeroGrad();
      demo.losses.push((await loss.value.toArray())[0]);
      octet.dispose([idx, tgt]);
      if (step === 1) {
        const mem8 = opt.stateBytes(), mem32 = 2 * 4 * numel;
        demo.stateBytes = mem8;
        demo.stateBytes32 = mem32;
        $("mem8").textContent = fmtBytes(mem8);
        $("mem32").textContent = fmtBytes(mem32);
        // As in bitsandbytes, tensors under min8bitSize (4096) elements keep 32-bit state.
        const small = params.filter((p) => p.numel < 4096).reduce((a, p) => a + p.numel, 0);
        $("ratio").textContent = `${(mem8 / mem32).toFixed(3)}× the 32-bit state (the ${small.toLocaleString()} parameters of tensors under 4096 elements stay 32-bit, as in bitsandbytes)`;
        listKernels();
      }
      drawCurve();
      $("status").textContent = `step ${step}/${steps}, loss ${demo.losses.at(-1).toFixed(4)}`;
    }
    const prompt = tokens.subarray(0, 4);
    const out = await model.generate(prompt, { maxNewTokens: T - prompt.length, temperature: 0.8, topK: 8, seed: 1 });
    $("sample").firstElementChild.textContent = decode(prompt) + decode(out);
    listKernels();
    demo.done = true;
    $("status").textContent = `done: ${steps} steps, loss ${demo.losses[0].toFixed(4)} → ${demo.losses.at(-1).toFixed(4)}`;
  } catch (e) {
    demo.error = String(e?.stack ?? e);
    $("status").className = "error";
    $("status").textContent = demo.error;
  } finally {
    demo.running = false;
  }
}

$("kernels").addEventListener("change", showKernel);
$("train").addEventListener("click", () => train(Number($("steps").value)));
const asked = new URLSearchParams(location.search).get("steps");
if (asked) {
  $("steps").value = asked;
  train(Number(asked));
} else $("status").textContent = navigator.gpu ? "ready: press train" : "this browser has no WebGPU (navigator.gpu)";
