#!/usr/bin/env python3
"""PyTorch CPU side of `npm run bench` (tools/bench.ts): the course GPT written again in PyTorch, timed on the same
shapes and thread count as the TensorFlow.js side.

Same architecture as lib/lm/model.ts: token + learned position embeddings, pre-LayerNorm blocks (causal self-attention
with a fused qkv projection, GELU MLP 4x wide, x * sigmoid(1.702 x) like the course), final LayerNorm, LM head tied to
the token embedding. Same optimiser as lib/train/optim.ts: global-norm clip, then AdamW (betas 0.9/0.99, eps 1e-8, decay
on matrices only). Written the way a PyTorch user would (F.layer_norm, F.scaled_dot_product_attention, F.cross_entropy,
torch.optim.AdamW), so the ratio compares the course with an idiomatic PyTorch baseline, not with a transliteration.

Input: --spec FILE (JSON written by tools/bench.ts: threads, repeats, warmup, shapes). Output: one JSON line on stdout.
--count-only prints {"params": N} for --shape JSON and exits (the parameter-count check of test/bench.test.ts).
"""
import argparse
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d: int, h: int):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.o = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)

    def split_heads(self, x: torch.Tensor) -> tuple:
        b, t, d3 = x.shape
        q, k, v = x.split(d3 // 3, dim=2)
        shape = (b, t, self.h, d3 // 3 // self.h)
        return tuple(z.view(shape).transpose(1, 2) for z in (q, k, v))

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        a = self.fc(self.ln2(x))
        return self.proj(a * torch.sigmoid(1.702 * a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.split_heads(self.qkv(self.ln1(x)))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.o(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(x)

    def step(self, x: torch.Tensor, cache: list) -> torch.Tensor:
        """One new token per row ([B,1,D]) attending to the cached keys/values (cache = [k, v], grown in place)."""
        b, t, d = x.shape
        q, k, v = self.split_heads(self.qkv(self.ln1(x)))
        if cache:
            k = torch.cat([cache[0], k], 2)
            v = torch.cat([cache[1], v], 2)
        cache[:] = [k, v]
        # a single query sees every cached key (all of them are earlier positions): no mask
        y = F.scaled_dot_product_attention(q, k, v, is_causal=(t > 1))
        x = x + self.o(y.transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(x)


class GPT(nn.Module):
    def __init__(self, vocab: int, context: int, d: int, layers: int, heads: int):
        super().__init__()
        self.wte = nn.Embedding(vocab, d)
        self.wpe = nn.Embedding(context, d)
        self.blocks = nn.ModuleList([Block(d, heads) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d)
        for name, p in self.named_parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def hidden(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(t))
        for blk in self.blocks:
            x = blk(x)
        return self.ln_f(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.hidden(ids) @ self.wte.weight.t()  # tied LM head

    def decode(self, ids: torch.Tensor, pos0: int, caches: list) -> torch.Tensor:
        t = ids.shape[1]
        x = self.wte(ids) + self.wpe(torch.arange(pos0, pos0 + t))
        for blk, c in zip(self.blocks, caches):
            x = blk.step(x, c)
        return self.ln_f(x[:, -1]) @ self.wte.weight.t()


def param_count(s: dict) -> int:
    return sum(p.numel() for p in GPT(s["vocab"], s["context"], s["d_model"], s["layers"], s["heads"]).parameters())


def timed(fn, warmup: int, repeats: int, cpu: list) -> list:
    """Wall-clock ms of each repeat; appends the process CPU ms (all threads) of each repeat to cpu."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
        cpu.append((time.process_time() - c0) * 1000)
    return out


def bench_shape(s: dict, spec: dict) -> dict:
    torch.manual_seed(0)
    V, C = s["vocab"], s["context"]
    model = GPT(V, C, s["d_model"], s["layers"], s["heads"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-4, betas=(0.9, 0.99), eps=1e-8)
    warmup, repeats = spec["warmup"], spec["repeats"]
    res = {"params": sum(p.numel() for p in model.parameters()), "cpu": {"train_ms": [], "score_ms": [], "sample_ms": {}}}

    # (a) train step: forward, backward, global-norm clip, AdamW
    B, T = s["train_batch"], C
    x = torch.randint(0, V, (B, T))
    y = torch.randint(0, V, (B, T))

    def train():
        loss = F.cross_entropy(model(x).view(-1, V), y.view(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.item()

    res["train_ms"] = timed(train, warmup, repeats, res["cpu"]["train_ms"])

    # (b) teacher-forced scoring of a rollout: log p of every response token of [B, prompt + response], no grad
    Bs, P, N = s["score_batch"], s["prompt"], s["new_tokens"]
    seq = torch.randint(0, V, (Bs, P + N))

    def score():
        with torch.no_grad():
            logits = model(seq)[:, P - 1:-1]
            lp = torch.log_softmax(logits, -1).gather(-1, seq[:, P:, None]).squeeze(-1)
            return lp.sum().item()

    res["score_ms"] = timed(score, warmup, repeats, res["cpu"]["score_ms"])

    # (c) KV-cache sampling of exactly N new tokens (no EOS stop) at each sampling batch, temperature 1
    res["sample_ms"] = {}
    for Bg in s["sample_batches"]:
        prompt = torch.randint(0, V, (Bg, P))

        def sample():
            with torch.no_grad():
                caches = [[] for _ in model.blocks]
                logits = model.decode(prompt, 0, caches)
                out = []
                for t in range(N):
                    logp = torch.log_softmax(logits, -1)
                    nxt = torch.multinomial(logp.exp(), 1)
                    out.append(nxt)
                    logp.gather(-1, nxt)  # the sampled token's log-prob, recorded by a rollout
                    if t < N - 1:
                        logits = model.decode(nxt, P + t, caches)
                return torch.cat(out, 1)

        res["cpu"]["sample_ms"][str(Bg)] = []
        res["sample_ms"][str(Bg)] = timed(sample, max(1, warmup // 2), repeats, res["cpu"]["sample_ms"][str(Bg)])
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", help="JSON file from tools/bench.ts")
    ap.add_argument("--count-only", action="store_true", help="print the parameter count of --shape and exit")
    ap.add_argument("--shape", help='JSON {"vocab","context","d_model","layers","heads"} for --count-only')
    a = ap.parse_args()
    if a.count_only:
        print(json.dumps({"params": param_count(json.loads(a.shape))}))
        return
    spec = json.load(open(a.spec))
    torch.set_num_threads(spec["threads"])
    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "shapes": {}}
    for name, s in spec["shapes"].items():
        out["shapes"][name] = bench_shape(s, spec)
        print(f"[torch] {name} done", file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
