"""PyTorch peer of `bun run bench train`: the same GPT as octet's (src/nn/gpt.ts), trained on the CPU the way a
user without a GPU would, and sgemm timings at the model's matmul shapes. bench/train.ts starts it once per model
and drives it over stdin/stdout (one JSON object per line each way), so octet's and torch's rounds interleave
and a change in the machine's load hits both alike.

Commands (one JSON object a line): {"cmd": "info"}, {"cmd": "train", "steps": n} -> per-step ms,
{"cmd": "gemm", "M", "N", "K", "ta", "tb", "reps"} -> median ms, {"cmd": "quit"}.
"""
import argparse
import json
import math
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:  # the bench reports this and runs octet alone
    print(json.dumps({"error": f"torch is not importable by {sys.executable}: {e}"}), flush=True)
    sys.exit(3)


class Block(nn.Module):
    """Pre-norm block as octet's: LN, fused qkv, causal attention, proj; LN, fc, tanh-GELU, fcProj."""

    def __init__(self, C, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(C)
        self.qkv = nn.Linear(C, 3 * C)
        self.proj = nn.Linear(C, C)
        self.ln2 = nn.LayerNorm(C)
        self.fc = nn.Linear(C, 4 * C)
        self.fc_proj = nn.Linear(4 * C, C)

    def forward(self, x, mask):
        B, T, C = x.shape
        H = self.heads
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
        # torch 1.13 has no scaled_dot_product_attention: the explicit softmax(q k^T / sqrt(d)) v
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(C // H))
        att = F.softmax(att.masked_fill(mask[:T, :T], float("-inf")), dim=-1)
        y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
        x = x + self.proj(y)
        return x + self.fc_proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT(nn.Module):
    """Token table + LayerNorm (bnb's StableEmbedding, octet's default), learned positions, blocks, LN, head."""

    def __init__(self, V, T, C, layers, heads):
        super().__init__()
        self.tokens = nn.Embedding(V, C)
        self.tokens_ln = nn.LayerNorm(C)
        self.positions = nn.Parameter(torch.randn(T, C) * 0.01)
        self.blocks = nn.ModuleList(Block(C, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(C)
        self.head = nn.Linear(C, V, bias=False)
        self.register_buffer("mask", torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1))

    def forward(self, idx):
        B, T = idx.shape
        x = self.tokens_ln(self.tokens(idx)) + self.positions[:T]
        for b in self.blocks:
            x = b(x, self.mask)
        return self.head(self.ln_f(x))


def loaded_blas():
    """The BLAS shared objects this process mapped (torch calls the active libblas.so.3)."""
    with open("/proc/self/maps") as f:
        libs = {line.split()[-1] for line in f if "blas" in line.lower() and "/" in line}
    return sorted(libs)


def main():
    ap = argparse.ArgumentParser()
    for name in ("vocab", "seq", "width", "layers", "heads", "batch", "threads"):
        ap.add_argument(f"--{name}", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    model = GPT(a.vocab, a.seq, a.width, a.layers, a.heads)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(a.seed)
    batches = [torch.randint(0, a.vocab, (a.batch, a.seq + 1), generator=g) for _ in range(8)]

    def step(i):
        b = batches[i % len(batches)]
        logits = model(b[:, :-1])
        loss = F.cross_entropy(logits.view(-1, a.vocab), b[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # the loss read back, as octet's trainer step does

    def gemm(M, N, K, ta, tb, reps):
        A = torch.randn(K, M) if ta else torch.randn(M, K)
        Bm = torch.randn(N, K) if tb else torch.randn(K, N)
        opA = A.t() if ta else A  # a transposed view: BLAS reads it with its transpose flag, no copy
        opB = Bm.t() if tb else Bm
        out = torch.empty(M, N)
        torch.matmul(opA, opB, out=out)
        ms = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.matmul(opA, opB, out=out)
            ms.append((time.perf_counter() - t0) * 1000)
        ms.sort()
        return ms[len(ms) // 2]

    n = 0
    for line in sys.stdin:
        msg = json.loads(line)
        cmd = msg["cmd"]
        if cmd == "info":
            reply = {"torch": torch.__version__, "threads": torch.get_num_threads(), "blas": loaded_blas(), "params": sum(p.numel() for p in model.parameters())}
        elif cmd == "train":
            ms = []
            for _ in range(msg["steps"]):
                t0 = time.perf_counter()
                step(n)
                n += 1
                ms.append((time.perf_counter() - t0) * 1000)
            reply = {"ms": ms}
        elif cmd == "gemm":
            reply = {"ms": gemm(msg["M"], msg["N"], msg["K"], msg["ta"], msg["tb"], msg["reps"])}
        elif cmd == "quit":
            return
        else:
            reply = {"error": f"unknown command {cmd!r}"}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
