#!/usr/bin/python3
"""Write reference logits, loss and gradients for the trainer's tests.

A tiny random Llama-family model is run in float64 by PyTorch, written out
the way Hugging Face transformers computes LlamaForCausalLM and
Qwen2ForCausalLM (RMSNorm, rotate_half rotary embeddings, grouped-query
attention, SwiGLU, optional q/k/v bias and tied embeddings), with packed
documents: a row may hold several documents, each with positions from 0,
and a token attends only to earlier tokens of its own document.

For each case it writes tests/ref/CASE/ holding config.json and
model.safetensors (float32 weights), batch.json (tokens, targets with -1 for
no loss, positions) and expected.safetensors (float32 "logits" (B,T,V),
"loss" (1) = mean cross-entropy over targets that are not -1, and
"grad.NAME" for every parameter). Run with Debian's /usr/bin/python3
(python3-torch); the C test reads the committed files. Arguments name
the cases to write (default: all).
"""
import json
import os
import struct
import sys

import torch

# Each case: its config.json and the seed of its weights and batch.
CASES = {
    # Qwen2 style: q/k/v bias, separate lm_head, 4 query heads on 2 kv heads.
    "qwen2": (1235, dict(architectures=["Qwen2ForCausalLM"], vocab_size=61, hidden_size=32,
                  intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                  rope_theta=500.0, rms_norm_eps=1e-5, tie_word_embeddings=False)),
    # Llama style: no bias, tied embeddings, head_dim from hidden_size / heads.
    "llama": (1234, dict(architectures=["LlamaForCausalLM"], vocab_size=53, hidden_size=24,
                  intermediate_size=36, num_hidden_layers=2, num_attention_heads=2,
                  num_key_value_heads=2, max_position_embeddings=64, rope_theta=10000.0,
                  rms_norm_eps=1e-6, attention_bias=False, tie_word_embeddings=True)),
    # Llama 3.1 rotary scaling, with an original context short enough that
    # every band (kept, blended, divided) occurs among the 8 frequencies.
    "llama3rope": (1236, dict(architectures=["LlamaForCausalLM"], vocab_size=47, hidden_size=32,
                   intermediate_size=48, num_hidden_layers=1, num_attention_heads=2,
                   num_key_value_heads=1, max_position_embeddings=64, rope_theta=10000.0,
                   rms_norm_eps=1e-5, tie_word_embeddings=False,
                   rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                     high_freq_factor=4.0, original_max_position_embeddings=32))),
}

# Two rows of 12: row 0 packs documents of 7 and 5 tokens, and row 1 has
# one document of 9 tokens and 3 padding positions (a document of their own).
POS = [[0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4],
       [0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 2]]


def param_names(cfg):
    names = [("model.embed_tokens.weight", (cfg["vocab_size"], cfg["hidden_size"]))]
    C, F = cfg["hidden_size"], cfg["intermediate_size"]
    D = cfg.get("head_dim") or C // cfg["num_attention_heads"]
    Q, K = cfg["num_attention_heads"] * D, cfg["num_key_value_heads"] * D
    bias = cfg["architectures"][0] == "Qwen2ForCausalLM" or cfg.get("attention_bias")
    for l in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % l
        names.append((p + "input_layernorm.weight", (C,)))
        names.append((p + "self_attn.q_proj.weight", (Q, C)))
        if bias:
            names.append((p + "self_attn.q_proj.bias", (Q,)))
        names.append((p + "self_attn.k_proj.weight", (K, C)))
        if bias:
            names.append((p + "self_attn.k_proj.bias", (K,)))
        names.append((p + "self_attn.v_proj.weight", (K, C)))
        if bias:
            names.append((p + "self_attn.v_proj.bias", (K,)))
        names.append((p + "self_attn.o_proj.weight", (C, Q)))
        names.append((p + "post_attention_layernorm.weight", (C,)))
        names.append((p + "mlp.gate_proj.weight", (F, C)))
        names.append((p + "mlp.up_proj.weight", (F, C)))
        names.append((p + "mlp.down_proj.weight", (C, F)))
    names.append(("model.norm.weight", (C,)))
    if not cfg["tie_word_embeddings"]:
        names.append(("lm_head.weight", (cfg["vocab_size"], C)))
    return names


def write_safetensors(path, tensors):
    """Write float32 tensors in the safetensors layout, header padded to 8."""
    header, blobs, off = {}, [], 0
    for name, t in tensors:
        data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, p, tokens, pos):
    B, T = tokens.shape
    C = cfg["hidden_size"]
    H, KV = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    D = cfg.get("head_dim") or C // H
    eps = cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    scaling = cfg.get("rope_scaling")
    if scaling and scaling["rope_type"] == "llama3":
        # as transformers' _compute_llama3_parameters
        old = scaling["original_max_position_embeddings"]
        low, high, factor = scaling["low_freq_factor"], scaling["high_freq_factor"], scaling["factor"]
        wavelen = 2 * torch.pi / inv_freq
        scaled = torch.where(wavelen > old / low, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old / high) & (wavelen <= old / low)
        inv_freq = torch.where(medium, smoothed, scaled)
    ang = pos.to(torch.float64)[..., None] * inv_freq          # (B,T,D/2)
    emb = torch.cat((ang, ang), dim=-1)                         # (B,T,D)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]           # (B,1,T,D)
    t_idx = torch.arange(T)
    start = t_idx[None, :] - pos                                # (B,T) first key of the document
    allowed = (t_idx[None, None, :] <= t_idx[None, :, None]) & \
              (t_idx[None, None, :] >= start[:, :, None])       # (B,T,T)
    mask = torch.where(allowed, 0.0, float("-inf")).to(torch.float64)[:, None]

    x = p["model.embed_tokens.weight"][tokens]                  # (B,T,C)
    for l in range(cfg["num_hidden_layers"]):
        pre = "model.layers.%d." % l
        h = rms_norm(x, p[pre + "input_layernorm.weight"], eps)

        def proj(name):
            y = h @ p[pre + name + ".weight"].T
            if pre + name + ".bias" in p:
                y = y + p[pre + name + ".bias"]
            return y
        q = proj("self_attn.q_proj").view(B, T, H, D).transpose(1, 2)   # (B,H,T,D)
        k = proj("self_attn.k_proj").view(B, T, KV, D).transpose(1, 2)  # (B,KV,T,D)
        v = proj("self_attn.v_proj").view(B, T, KV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, dim=1)                          # (B,H,T,D)
        v = v.repeat_interleave(H // KV, dim=1)
        att = (q @ k.transpose(-1, -2)) / D ** 0.5 + mask
        att = torch.softmax(att, dim=-1)
        y = (att @ v).transpose(1, 2).reshape(B, T, H * D)
        x = x + y @ p[pre + "self_attn.o_proj.weight"].T
        h = rms_norm(x, p[pre + "post_attention_layernorm.weight"], eps)
        g = h @ p[pre + "mlp.gate_proj.weight"].T
        u = h @ p[pre + "mlp.up_proj.weight"].T
        x = x + (torch.nn.functional.silu(g) * u) @ p[pre + "mlp.down_proj.weight"].T
    x = rms_norm(x, p["model.norm.weight"], eps)
    head = p["model.embed_tokens.weight"] if cfg["tie_word_embeddings"] else p["lm_head.weight"]
    return x @ head.T                                           # (B,T,V)


def make_case(name, cfg, outdir, seed):
    gen = torch.Generator().manual_seed(seed)
    os.makedirs(outdir, exist_ok=True)
    names = param_names(cfg)
    # float32 weights, computed in float64
    params32 = {}
    for n, shape in names:
        if n.endswith("norm.weight"):
            t = 1.0 + 0.2 * torch.randn(shape, generator=gen)
        elif n.endswith(".bias"):
            t = 0.2 * torch.randn(shape, generator=gen)
        else:
            t = 0.3 * torch.randn(shape, generator=gen)
        params32[n] = t.to(torch.float32)
    p = {n: t.to(torch.float64).requires_grad_(True) for n, t in params32.items()}

    V = cfg["vocab_size"]
    pos = torch.tensor(POS)
    B, T = pos.shape
    tokens = torch.randint(0, V, (B, T), generator=gen)
    targets = torch.randint(0, V, (B, T), generator=gen)
    # no loss on prompt-like positions, document ends and padding
    for b, t in [(0, 0), (0, 1), (0, 6), (0, 7), (1, 0), (1, 8), (1, 9), (1, 10), (1, 11)]:
        targets[b, t] = -1

    logits = forward(cfg, p, tokens, pos)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1),
                                             ignore_index=-1, reduction="mean")
    loss.backward()

    with open(os.path.join(outdir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(outdir, "model.safetensors"),
                      [(n, params32[n]) for n, _ in names])
    with open(os.path.join(outdir, "batch.json"), "w") as f:
        json.dump({"tokens": tokens.tolist(), "targets": targets.tolist(), "pos": pos.tolist()}, f)
        f.write("\n")
    out = [("logits", logits), ("loss", loss.reshape(1))]
    out += [("grad." + n, p[n].grad) for n, _ in names]
    write_safetensors(os.path.join(outdir, "expected.safetensors"), out)
    print("%s: loss %.6f" % (name, loss.item()))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    only = sys.argv[1:]
    for name, (seed, cfg) in sorted(CASES.items()):
        if not only or name in only:
            make_case(name, cfg, os.path.join(here, name), seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
