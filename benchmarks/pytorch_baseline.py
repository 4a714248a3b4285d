#!/usr/bin/env python3
"""Plain-PyTorch Visualized-BGE forward pass: the baseline Vista's encoder is measured against.

The same network as encoder/model (EVA02 vision tower with 2-D RoPE and SwiGLU, visual_proj,
BERT over [CLS] + image tokens + text), written the way a PyTorch user writes it: nn.Linear,
nn.LayerNorm, F.scaled_dot_product_attention, model.to(dtype). Nothing here is shared with Vista's
C++ code. It reads a model directory (config.json, model.safetensors, optional
eva_vision_config.json) or builds the base-size network with random weights (--random base), as
`vista bench encoder --random base` does.

  python3 benchmarks/pytorch_baseline.py --random base --device cuda --dtypes fp32,bf16 \
      --batches 1,64,256 --json
  python3 benchmarks/pytorch_baseline.py --model DIR --golden GOLDEN_DIR --device cuda

With --golden it first checks its own vectors against golden.json's text cases (the vectors of the
official implementation), so a baseline that computes something else cannot pass unnoticed.
Prints one JSON object (--json) or a table. fp32 runs with TF32 off, as Vista does.
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------------------------
# Configuration


def base_config():
    return {
        "text": {"hidden_size": 768, "num_attention_heads": 12, "num_hidden_layers": 12,
                 "intermediate_size": 3072, "vocab_size": 30522, "max_position_embeddings": 512,
                 "type_vocab_size": 2, "layer_norm_eps": 1e-12},
        "vision": {"image_size": 224, "patch_size": 16, "width": 768, "layers": 12,
                   "head_width": 64, "mlp_ratio": 2.6667, "pt_hw_seq_len": 16, "intp_freq": True,
                   "embed_dim": 512, "layer_norm_eps": 1e-6},
    }


def read_config(model_dir):
    config = base_config()
    with open(os.path.join(model_dir, "config.json")) as f:
        text = json.load(f)
    for key in config["text"]:
        if key in text:
            config["text"][key] = text[key]
    eva = os.path.join(model_dir, "eva_vision_config.json")
    if os.path.exists(eva):
        with open(eva) as f:
            doc = json.load(f)
        for key, value in doc.get("vision_cfg", {}).items():
            if key in config["vision"]:
                config["vision"][key] = value
        if "embed_dim" in doc:
            config["vision"]["embed_dim"] = doc["embed_dim"]
    return config


# ---------------------------------------------------------------------------------------------
# The network


def rope_tables(v):
    dim = v["head_width"] // 2
    pt = v["pt_hw_seq_len"]
    grid = v["image_size"] // v["patch_size"]
    ft = grid if v["intp_freq"] else pt
    freqs = 1.0 / (10000 ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))
    t = torch.arange(ft).float() / ft * pt
    f = torch.outer(t, freqs).repeat_interleave(2, -1)
    rows = f[:, None, :].expand(ft, ft, dim)
    cols = f[None, :, :].expand(ft, ft, dim)
    table = torch.cat([rows, cols], -1).reshape(ft * ft, 2 * dim)
    return table.cos(), table.sin()


def rotate_half(x):
    x = x.unflatten(-1, (-1, 2))
    x1, x2 = x.unbind(-1)
    return torch.stack((-x2, x1), -1).flatten(-2)


class Rope(nn.Module):
    def __init__(self, v):
        super().__init__()
        cos, sin = rope_tables(v)
        self.register_buffer("freqs_cos", cos)
        self.register_buffer("freqs_sin", sin)


class EvaAttention(nn.Module):
    def __init__(self, v):
        super().__init__()
        w = v["width"]
        self.heads = w // v["head_width"]
        self.q_proj = nn.Linear(w, w, bias=False)
        self.k_proj = nn.Linear(w, w, bias=False)
        self.v_proj = nn.Linear(w, w, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(w))
        self.v_bias = nn.Parameter(torch.zeros(w))
        self.inner_attn_ln = nn.LayerNorm(w, eps=v["layer_norm_eps"])
        self.proj = nn.Linear(w, w)
        self.rope = Rope(v)

    def forward(self, x):
        b, n, w = x.shape
        split = lambda t: t.reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)
        q = split(F.linear(x, self.q_proj.weight, self.q_bias))
        k = split(F.linear(x, self.k_proj.weight))
        v = split(F.linear(x, self.v_proj.weight, self.v_bias))

        def rope(t):
            p = t[:, :, 1:]
            p = p * self.rope.freqs_cos + rotate_half(p) * self.rope.freqs_sin
            return torch.cat([t[:, :, :1], p], 2)

        out = F.scaled_dot_product_attention(rope(q), rope(k), v)
        out = out.transpose(1, 2).reshape(b, n, w)
        return self.proj(self.inner_attn_ln(out))


class SwiGlu(nn.Module):
    def __init__(self, v):
        super().__init__()
        w = v["width"]
        hidden = int(w * v["mlp_ratio"])
        self.w1 = nn.Linear(w, hidden)
        self.w2 = nn.Linear(w, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=v["layer_norm_eps"])
        self.w3 = nn.Linear(hidden, w)

    def forward(self, x):
        return self.w3(self.ffn_ln(F.silu(self.w1(x)) * self.w2(x)))


class EvaBlock(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.norm1 = nn.LayerNorm(v["width"], eps=v["layer_norm_eps"])
        self.attn = EvaAttention(v)
        self.norm2 = nn.LayerNorm(v["width"], eps=v["layer_norm_eps"])
        self.mlp = SwiGlu(v)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.proj = nn.Conv2d(3, v["width"], v["patch_size"], v["patch_size"])


class EvaVisual(nn.Module):
    def __init__(self, v):
        super().__init__()
        w = v["width"]
        n = (v["image_size"] // v["patch_size"]) ** 2
        self.cls_token = nn.Parameter(torch.zeros(1, 1, w))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + n, w))
        self.patch_embed = PatchEmbed(v)
        self.rope = Rope(v)
        self.blocks = nn.ModuleList(EvaBlock(v) for _ in range(v["layers"]))
        self.norm = nn.LayerNorm(w, eps=v["layer_norm_eps"])
        self.head = nn.Linear(w, v["embed_dim"])

    def forward(self, pixels):
        x = self.patch_embed.proj(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], 1) + self.pos_embed
        for block in self.blocks:
            x = block(x)
        return x


class EvaClip(nn.Module):
    def __init__(self, v):
        super().__init__()
        self.visual = EvaVisual(v)
        self.logit_scale = nn.Parameter(torch.zeros([]))


class BertEmbeddings(nn.Module):
    def __init__(self, t):
        super().__init__()
        d = t["hidden_size"]
        self.word_embeddings = nn.Embedding(t["vocab_size"], d)
        self.position_embeddings = nn.Embedding(t["max_position_embeddings"], d)
        self.token_type_embeddings = nn.Embedding(t["type_vocab_size"], d)
        self.LayerNorm = nn.LayerNorm(d, eps=t["layer_norm_eps"])

    def forward(self, ids, positions):
        x = self.word_embeddings(ids) + self.token_type_embeddings.weight[0]
        return self.LayerNorm(x + self.position_embeddings(positions))


class Named(nn.Module):
    pass


class BertLayer(nn.Module):
    def __init__(self, t):
        super().__init__()
        d, eps = t["hidden_size"], t["layer_norm_eps"]
        self.heads = t["num_attention_heads"]
        self.attention = Named()
        self.attention.self = Named()
        self.attention.self.query = nn.Linear(d, d)
        self.attention.self.key = nn.Linear(d, d)
        self.attention.self.value = nn.Linear(d, d)
        self.attention.output = Named()
        self.attention.output.dense = nn.Linear(d, d)
        self.attention.output.LayerNorm = nn.LayerNorm(d, eps=eps)
        self.intermediate = Named()
        self.intermediate.dense = nn.Linear(d, t["intermediate_size"])
        self.output = Named()
        self.output.dense = nn.Linear(t["intermediate_size"], d)
        self.output.LayerNorm = nn.LayerNorm(d, eps=eps)

    def forward(self, x, mask):
        b, n, d = x.shape
        s = self.attention.self
        split = lambda t: t.reshape(b, n, self.heads, -1).permute(0, 2, 1, 3)
        ctx = F.scaled_dot_product_attention(split(s.query(x)), split(s.key(x)), split(s.value(x)),
                                             attn_mask=mask)
        ctx = ctx.transpose(1, 2).reshape(b, n, d)
        a = self.attention.output
        x = a.LayerNorm(a.dense(ctx) + x)
        h = F.gelu(self.intermediate.dense(x))
        return self.output.LayerNorm(self.output.dense(h) + x)


class BertEncoder(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.layer = nn.ModuleList(BertLayer(t) for _ in range(t["num_hidden_layers"]))

    def forward(self, x, mask):
        for layer in self.layer:
            x = layer(x, mask)
        return x


class Pooler(nn.Module):
    def __init__(self, t):
        super().__init__()
        self.dense = nn.Linear(t["hidden_size"], t["hidden_size"])


class VisualizedBge(nn.Module):
    def __init__(self, config):
        super().__init__()
        t, v = config["text"], config["vision"]
        self.model_visual = EvaClip(v)
        self.bge_embeddings = BertEmbeddings(t)
        self.bge_encoder = BertEncoder(t)
        self.visual_proj = nn.Linear(v["width"], t["hidden_size"])
        self.bge_pooler = Pooler(t)

    @staticmethod
    def bias(mask, dtype):
        if bool(mask.all()):
            return None
        return ((1.0 - mask.to(dtype)) * -65504.0)[:, None, None, :]

    def encode_text(self, ids, mask):
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.bge_encoder(self.bge_embeddings(ids, positions), self.bias(mask, self.dtype()))
        return F.normalize(x[:, 0].float(), dim=-1)

    def encode_mm(self, pixels, ids, mask):
        tokens = self.model_visual.visual(pixels)[:, 1:]
        image = self.visual_proj(tokens)
        n = image.shape[1]
        e = self.bge_embeddings
        image = e.LayerNorm(image + e.position_embeddings(torch.arange(1, 1 + n, device=ids.device)))
        positions = torch.arange(n, n + ids.shape[1], device=ids.device)
        positions[0] = 0
        text = e(ids, positions)
        x = torch.cat([text[:, :1], image, text[:, 1:]], 1)
        full = torch.cat([torch.ones(ids.shape[0], n + 1, dtype=mask.dtype, device=mask.device),
                          mask[:, 1:]], 1)
        x = self.bge_encoder(x, self.bias(full, self.dtype()))
        return F.normalize(x[:, 0].float(), dim=-1)

    def dtype(self):
        return self.visual_proj.weight.dtype


def load_model(args, config):
    model = VisualizedBge(config)
    if args.model:
        from safetensors.torch import load_file
        state = load_file(os.path.join(args.model, "model.safetensors"))
        state.pop("bge_embeddings.position_ids", None)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            sys.exit(f"weights do not match the network: missing {missing[:3]}, unexpected {unexpected[:3]}")
    else:
        torch.manual_seed(7)
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, nn.LayerNorm):
                    module.weight.fill_(1.0)
                    module.bias.zero_()
                elif isinstance(module, (nn.Linear, nn.Embedding, nn.Conv2d)):
                    for p in module.parameters(recurse=False):
                        p.normal_(0.0, 0.02)
            for name in ("cls_token", "pos_embed"):
                getattr(model.model_visual.visual, name).normal_(0.0, 0.02)
            for module in model.modules():
                if isinstance(module, EvaAttention):
                    module.q_bias.normal_(0.0, 0.02)
                    module.v_bias.normal_(0.0, 0.02)
    return model.eval()


# ---------------------------------------------------------------------------------------------
# Checks and timings


def golden_check(model, golden_dir, device):
    """Worst cosine of the text cases in golden.json (ids from tokens.json)."""
    with open(os.path.join(golden_dir, "golden.json")) as f:
        golden = json.load(f)
    with open(os.path.join(golden_dir, "tokens.json")) as f:
        tokens = {c["text"]: c["model"] for c in json.load(f)["cases"]}
    worst = 1.0
    for entry in golden["texts"]:
        if "truncated_to" in entry or entry["text"] not in tokens:
            continue
        ids = torch.tensor([tokens[entry["text"]]], device=device)
        got = model.encode_text(ids, torch.ones_like(ids))[0].double().cpu()
        want = torch.tensor(entry["embedding"], dtype=torch.float64)
        worst = min(worst, float(F.cosine_similarity(got, want, dim=0)))
    return worst


def timed(fn, min_seconds, device):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    fn()
    sync()
    calls = 0
    start = time.perf_counter()
    while True:
        fn()
        calls += 1
        if calls % 4 == 0 or device.type != "cuda":
            sync()
            if time.perf_counter() - start >= min_seconds:
                break
    return calls, time.perf_counter() - start


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="model directory (config.json, model.safetensors)")
    ap.add_argument("--random", choices=["base"], help="the base-size network, random weights")
    ap.add_argument("--golden", help="golden directory: check the text vectors first")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtypes", default="fp32,bf16")
    ap.add_argument("--batches", default="1,64,256")
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if bool(args.model) == bool(args.random):
        sys.exit("give exactly one of --model DIR or --random base")

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    device = torch.device(args.device)
    config = read_config(args.model) if args.model else base_config()
    report = {"torch": torch.__version__, "device": str(device),
              "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "model": args.model or "base size, random weights", "cases": []}
    base = load_model(args, config)
    size = config["vision"]["image_size"]
    short_ids = [101] + [1037 + i for i in range(8)] + [102]  # [CLS] 8 words [SEP], as Vista's bench
    for dtype_name in args.dtypes.split(","):
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[dtype_name]
        model = VisualizedBge(config)
        model.load_state_dict(base.state_dict())
        model = model.eval().to(device=device, dtype=dtype)
        with torch.inference_mode():
            if args.golden and args.model:
                report.setdefault("golden_worst_cosine", {})[dtype_name] = golden_check(model, args.golden, device)
            for batch in [int(b) for b in args.batches.split(",")]:
                g = torch.Generator().manual_seed(batch)
                pixels = torch.randn(batch, 3, size, size, generator=g).to(device, dtype)
                ids = torch.tensor([[101, 102]] * batch, device=device)  # an image alone: [CLS][SEP]
                mask = torch.ones_like(ids)
                calls, seconds = timed(lambda: model.encode_mm(pixels, ids, mask), args.min_seconds, device)
                report["cases"].append({"case": "image", "dtype": dtype_name, "batch": batch,
                                        "items_per_second": calls * batch / seconds,
                                        "ms_per_call": 1e3 * seconds / calls})
            ids = torch.tensor([short_ids], device=device)
            calls, seconds = timed(lambda: model.encode_text(ids, torch.ones_like(ids)), args.min_seconds, device)
            report["cases"].append({"case": "short text", "dtype": dtype_name, "batch": 1,
                                    "items_per_second": calls / seconds,
                                    "ms_per_call": 1e3 * seconds / calls})
        del model
    if args.json:
        print(json.dumps(report))
    else:
        print(f"torch {report['torch']} on {report['device_name']}")
        for c in report["cases"]:
            print(f"{c['case']:<11} {c['dtype']:<5} batch {c['batch']:>4}: "
                  f"{c['items_per_second']:10.1f} items/s, {c['ms_per_call']:8.2f} ms/call")
        if "golden_worst_cosine" in report:
            print("golden text vectors, worst cosine:", report["golden_worst_cosine"])


if __name__ == "__main__":
    main()
