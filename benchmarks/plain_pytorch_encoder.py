#!/usr/bin/python3
"""Plain-PyTorch baseline for `vista bench encoder`: the same network (BERT-base fused with an
EVA02-CLIP-B/16 vision tower, Visualized-BGE base, docs in ../shared/docs/visualized-bge.md),
written with stock torch.nn ops and run eagerly, with random weights of the base model's shapes
(the arithmetic per item does not depend on the values). It times the same three cases as
`vista bench encoder` ("image", "image+text" with a 16-token prompt, "short text" of 10 tokens) and prints one
JSON object. Used by benchmarks/encoder_vs_pytorch.sh; needs Debian's python3-torch, not CI.
"""
import argparse
import json
import math
import time

import torch
import torch.nn.functional as F

D, LAYERS, HEADS, FFN = 768, 12, 12, 3072  # BERT-base
V_WIDTH, V_LAYERS, V_HEAD, V_MLP = 768, 12, 64, 2048  # EVA02-CLIP-B/16
PATCHES, VOCAB, MAX_POS = 196, 30522, 512


def lin(i, o, bias=True):
    return torch.nn.Linear(i, o, bias=bias)


class Bert(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.word = torch.nn.Embedding(VOCAB, D)
        self.pos = torch.nn.Embedding(MAX_POS, D)
        self.token_type = torch.nn.Embedding(2, D)
        self.emb_ln = torch.nn.LayerNorm(D, eps=1e-12)
        self.layers = torch.nn.ModuleList()
        for _ in range(LAYERS):
            self.layers.append(torch.nn.ModuleDict({
                "q": lin(D, D), "k": lin(D, D), "v": lin(D, D), "o": lin(D, D),
                "ln1": torch.nn.LayerNorm(D, eps=1e-12), "up": lin(D, FFN), "down": lin(FFN, D),
                "ln2": torch.nn.LayerNorm(D, eps=1e-12)}))

    def embed_text(self, ids, positions):
        return self.emb_ln(self.word(ids) + self.pos(positions) + self.token_type(torch.zeros_like(ids)))

    def encode(self, x, mask):
        b, t, _ = x.shape
        add = ((1.0 - mask) * -65504.0).to(x.dtype)[:, None, None, :]
        for l in self.layers:
            def heads(y):
                return y.view(b, t, HEADS, D // HEADS).transpose(1, 2)
            q, k, v = heads(l["q"](x)), heads(l["k"](x)), heads(l["v"](x))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(D // HEADS) + add, dim=-1) @ v
            x = l["ln1"](x + l["o"](a.transpose(1, 2).reshape(b, t, D)))
            x = l["ln2"](x + l["down"](F.gelu(l["up"](x))))
        return F.normalize(x[:, 0], dim=-1)


class EvaVision(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.patch = torch.nn.Conv2d(3, V_WIDTH, 16, 16)
        self.cls = torch.nn.Parameter(torch.randn(1, 1, V_WIDTH) * 0.02)
        self.pos = torch.nn.Parameter(torch.randn(1, PATCHES + 1, V_WIDTH) * 0.02)
        angles = torch.randn(PATCHES, V_HEAD)
        self.register_buffer("cos", angles.cos())
        self.register_buffer("sin", angles.sin())
        self.blocks = torch.nn.ModuleList()
        for _ in range(V_LAYERS):
            self.blocks.append(torch.nn.ModuleDict({
                "norm1": torch.nn.LayerNorm(V_WIDTH, eps=1e-6), "q": lin(V_WIDTH, V_WIDTH),
                "k": lin(V_WIDTH, V_WIDTH, bias=False), "v": lin(V_WIDTH, V_WIDTH),
                "inner_ln": torch.nn.LayerNorm(V_WIDTH, eps=1e-6), "proj": lin(V_WIDTH, V_WIDTH),
                "norm2": torch.nn.LayerNorm(V_WIDTH, eps=1e-6), "w1": lin(V_WIDTH, V_MLP),
                "w2": lin(V_WIDTH, V_MLP), "ffn_ln": torch.nn.LayerNorm(V_MLP, eps=1e-6),
                "w3": lin(V_MLP, V_WIDTH)}))

    def rope(self, t):  # tokens 1..196; rotate_half on interleaved pairs
        body = t[:, :, 1:]
        pairs = body.unflatten(-1, (-1, 2))
        rotated = torch.stack((-pairs[..., 1], pairs[..., 0]), dim=-1).flatten(-2)
        return torch.cat((t[:, :, :1], body * self.cos + rotated * self.sin), dim=2)

    def forward(self, pixels):
        b = pixels.shape[0]
        x = self.patch(pixels).flatten(2).transpose(1, 2)
        x = torch.cat((self.cls.expand(b, -1, -1), x), dim=1) + self.pos
        t, h = x.shape[1], V_WIDTH // V_HEAD
        for blk in self.blocks:
            y = blk["norm1"](x)
            def heads(z):
                return z.view(b, t, h, V_HEAD).transpose(1, 2)
            q, k, v = self.rope(heads(blk["q"](y))), self.rope(heads(blk["k"](y))), heads(blk["v"](y))
            a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(V_HEAD), dim=-1) @ v
            x = x + blk["proj"](blk["inner_ln"](a.transpose(1, 2).reshape(b, t, V_WIDTH)))
            y = blk["norm2"](x)
            x = x + blk["w3"](blk["ffn_ln"](F.silu(blk["w1"](y)) * blk["w2"](y)))
        return x[:, 1:]  # last block output, CLS dropped


class VisualizedBge(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.bert, self.visual = Bert(), EvaVision()
        self.visual_proj = lin(V_WIDTH, D)

    def encode_text(self, ids):
        positions = torch.arange(ids.shape[1])[None].expand_as(ids)
        return self.bert.encode(self.bert.embed_text(ids, positions), torch.ones(ids.shape))

    def encode_mm(self, pixels, ids):
        b, n = pixels.shape[0], PATCHES
        img = self.visual_proj(self.visual(pixels))
        img = self.bert.emb_ln(img + self.bert.pos(torch.arange(1, n + 1))[None])
        positions = torch.cat((torch.zeros(1, dtype=torch.long),
                               torch.arange(n + 1, n + ids.shape[1])))[None].expand(b, -1)
        text = self.bert.embed_text(ids, positions)
        x = torch.cat((text[:, :1], img, text[:, 1:]), dim=1)
        return self.bert.encode(x, torch.ones(x.shape[:2]))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-seconds", type=float, default=3.0)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = VisualizedBge().eval()
    pixels = torch.randn(1, 3, 224, 224)
    if a.dtype == "bf16":
        # What a PyTorch user does for bf16 inference on CPU: the whole model in bf16 (CPU
        # autocast in 1.13 leaves LayerNorm's fp32 weights facing bf16 inputs and fails).
        model = model.to(torch.bfloat16)
        pixels = pixels.to(torch.bfloat16)
    prompt = torch.randint(1000, VOCAB, (1, 16))  # [CLS] + 14 pieces + [SEP] with the image
    text = torch.randint(1000, VOCAB, (1, 10))    # [CLS] + 8 pieces + [SEP], as vista bench
    cases = [("image", lambda: model.encode_mm(pixels, prompt[:, :2])),
             ("image+text", lambda: model.encode_mm(pixels, prompt)),
             ("short text", lambda: model.encode_text(text))]
    out = {"implementation": "plain PyTorch " + torch.__version__ + " (eager, torch.nn ops)",
           "dtype": a.dtype, "threads": torch.get_num_threads(), "cases": []}
    with torch.inference_mode():
        for name, run in cases:
            run()  # warm-up
            calls, start = 0, time.perf_counter()
            while True:
                run()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= a.min_seconds:
                    break
            out["cases"].append({"case": name, "ms_per_item": 1000 * elapsed / calls,
                                 "calls": calls})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
