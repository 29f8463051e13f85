#!/usr/bin/env python3
"""PyTorch twin of `med2e3-bench cpu-model`: the same Med-2E3 stages, at the same geometry, on the same synthetic
checkpoint, in plain PyTorch (1.13, no transformers), as a PyTorch user would write them: modules of F.linear /
F.layer_norm / manual softmax attention (1.13 has no scaled_dot_product_attention), a KV cache grown with torch.cat,
torch.inference_mode, `torch.set_num_threads`. fp32 widens the bf16 weights to float32 once at load; bf16 keeps them
and the activations in bfloat16 (modules cast to bf16, as `model.to(torch.bfloat16)` does).

    python3 med2e3_cpu_bench.py --ckpt DIR --precision fp32|bf16 --stages vit,siglip,bert,connectors
        [--reps 3] [--long-reps 1] [--warmup-long] [--threads 2] [--bert-tokens N] [--prompt-tokens N]
        [--decode-steps 12] [--e2e-tokens 100] [--out FILE]

DIR is a checkpoint folder the C# side wrote (it holds geometry.json). Prints one JSON line per stage and writes the
report (the C# child report's fields) to --out. Only the components a stage needs are loaded, so the LLM stages
(prefill, decode, e2e) and the vision stages are best run in separate processes (the C# driver does).
"""
import argparse
import json
import math
import os
import resource
import sys
import time

# The BLAS behind torch's f32 matmuls (Debian: whatever libblas.so.3 points to, e.g. OpenBLAS) reads its thread
# count when it is loaded, so it is set before torch is imported.
if "--threads" in sys.argv[:-1]:
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, sys.argv[sys.argv.index("--threads") + 1])

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

LONG = {"siglip", "prefill", "e2e"}


def loaded_blas():
    """The BLAS / oneDNN libraries this process has mapped (their real paths), for the report."""
    libs = set()
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.split()[-1]
                if "blas" in path.lower() or "mkl" in path.lower() or "dnnl" in path.lower():
                    libs.add(os.path.realpath(path))
    except OSError:
        pass
    return sorted(libs)


def rss_gb(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e9
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9


class Weights:
    """A component's state dict; take() pops a tensor (so its bf16 storage is freed) in the compute dtype."""

    def __init__(self, path, dtype, prefix=""):
        self.sd = torch.load(path, map_location="cpu")
        if prefix:
            self.sd = {k[len(prefix):] if k.startswith(prefix) else k: v for k, v in self.sd.items()}
        self.dtype = dtype

    def take(self, key):
        t = self.sd.pop(key)
        return t.to(self.dtype).contiguous()

    def linear(self, key, bias=True):
        return (self.take(key + ".weight"), self.take(key + ".bias") if bias else None)


def lin(x, wb):
    return F.linear(x, wb[0], wb[1])


def attention(q, k, v, causal=False, offset=0):
    """q (B, H, Tq, D), k/v (B, H, Tk, D): softmax(q·kᵀ/√D)·v, causal with queries at positions offset … offset+Tq−1."""
    s = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal and q.shape[2] > 1:
        tq, tk = q.shape[2], k.shape[2]
        mask = torch.ones(tq, tk, dtype=torch.bool).tril(diagonal=offset)
        s = s.masked_fill(~mask, float("-inf"))
    return torch.matmul(torch.softmax(s.float(), dim=-1).to(q.dtype), v)


def heads(x, n):
    b, t, c = x.shape
    return x.view(b, t, n, c // n).transpose(1, 2)


def merge(x):
    b, h, t, d = x.shape
    return x.transpose(1, 2).reshape(b, t, h * d)


class ViT3D:
    def __init__(self, w, g):
        self.g = g
        self.cls = w.take("vision_encoder.cls_token")
        self.pos = w.take("vision_encoder.patch_embedding.position_embeddings")
        self.patch = w.linear("vision_encoder.patch_embedding.patch_embeddings.1")
        self.blocks = []
        for i in range(g["V3Layers"]):
            p = f"vision_encoder.blocks.{i}."
            self.blocks.append(dict(
                n1=w.linear(p + "norm1"), qkv=w.linear(p + "attn.qkv", bias=False), out=w.linear(p + "attn.out_proj"),
                n2=w.linear(p + "norm2"), l1=w.linear(p + "mlp.linear1"), l2=w.linear(p + "mlp.linear2")))

    def __call__(self, vol):
        g = self.g
        pz, py, px = g["PatchSize"]
        d, hh, ww = g["ImgSize"]
        x = vol.reshape(1, 1, d // pz, pz, hh // py, py, ww // px, px)
        x = x.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(1, -1, pz * py * px)        # (1, N, patch), MONAI rearrange
        x = lin(x, self.patch) + self.pos
        x = torch.cat([self.cls.expand(1, -1, -1), x], dim=1)
        h = g["V3Heads"]
        c = g["V3Hidden"]
        for b in self.blocks:
            y = F.layer_norm(x, (c,), *b["n1"], eps=1e-5)
            q, k, v = lin(y, b["qkv"]).chunk(3, dim=-1)
            x = x + lin(merge(attention(heads(q, h), heads(k, h), heads(v, h))), b["out"])
            y = F.layer_norm(x, (c,), *b["n2"], eps=1e-5)
            x = x + lin(F.gelu(lin(y, b["l1"])), b["l2"])
        return x[:, 1:]


class SigLip:
    def __init__(self, w, g):
        self.g = g
        self.conv = w.linear("embeddings.patch_embedding")
        self.pos = w.take("embeddings.position_embedding.weight")
        self.layers = []
        for i in range(g["V2Layers"]):
            p = f"encoder.layers.{i}."
            self.layers.append(dict(
                n1=w.linear(p + "layer_norm1"), q=w.linear(p + "self_attn.q_proj"), k=w.linear(p + "self_attn.k_proj"),
                v=w.linear(p + "self_attn.v_proj"), o=w.linear(p + "self_attn.out_proj"), n2=w.linear(p + "layer_norm2"),
                f1=w.linear(p + "mlp.fc1"), f2=w.linear(p + "mlp.fc2")))

    def __call__(self, slices):
        g = self.g
        x = slices.expand(-1, 3, -1, -1)
        x = F.conv2d(x, self.conv[0], self.conv[1], stride=g["V2Patch"]).flatten(2).transpose(1, 2) + self.pos
        h, c = g["V2Heads"], g["V2Hidden"]
        for l in self.layers:
            y = F.layer_norm(x, (c,), *l["n1"], eps=1e-6)
            a = attention(heads(lin(y, l["q"]), h), heads(lin(y, l["k"]), h), heads(lin(y, l["v"]), h))
            x = x + lin(merge(a), l["o"])
            y = F.layer_norm(x, (c,), *l["n2"], eps=1e-6)
            x = x + lin(F.gelu(lin(y, l["f1"]), approximate="tanh"), l["f2"])
        return x


class Bert:
    def __init__(self, w, g):
        self.g = g
        p = "language_encoder."
        self.word = w.take(p + "embeddings.word_embeddings.weight")
        self.pos = w.take(p + "embeddings.position_embeddings.weight")
        self.type = w.take(p + "embeddings.token_type_embeddings.weight")
        self.ln = w.linear(p + "embeddings.LayerNorm")
        self.layers = []
        for i in range(g["BertLayers"]):
            q = p + f"encoder.layer.{i}."
            self.layers.append(dict(
                q=w.linear(q + "attention.self.query"), k=w.linear(q + "attention.self.key"),
                v=w.linear(q + "attention.self.value"), o=w.linear(q + "attention.output.dense"),
                n1=w.linear(q + "attention.output.LayerNorm"), i=w.linear(q + "intermediate.dense"),
                out=w.linear(q + "output.dense"), n2=w.linear(q + "output.LayerNorm")))
        self.pool = w.linear(p + "pooler.dense")

    def __call__(self, ids):
        g = self.g
        c, h = g["BertHidden"], g["BertHeads"]
        t = ids.shape[1]
        x = self.word[ids] + self.pos[:t] + self.type[0]
        x = F.layer_norm(x, (c,), *self.ln, eps=1e-12)
        for l in self.layers:
            a = attention(heads(lin(x, l["q"]), h), heads(lin(x, l["k"]), h), heads(lin(x, l["v"]), h))
            x = F.layer_norm(x + lin(merge(a), l["o"]), (c,), *l["n1"], eps=1e-12)
            x = F.layer_norm(x + lin(F.gelu(lin(x, l["i"])), l["out"]), (c,), *l["n2"], eps=1e-12)
        return torch.tanh(lin(x[:, 0], self.pool))


class Connectors:
    def __init__(self, w2, w3, g):
        self.g = g
        self.c2 = (w2.linear("_connector.0"), w2.linear("_connector.2"))
        self.c3 = (w3.linear("_connector.0"), w3.linear("_connector.2"))
        self.text = w3.linear("text_mlp")

    def __call__(self, f3, f2, text):
        g = self.g
        s, t2 = g["Slices"], f2.shape[1]
        z2 = lin(F.gelu(lin(f2, self.c2[0])), self.c2[1]).view(1, s, t2, -1)                  # (1, S, T2, D)
        gz, gy, gx = (g["ImgSize"][i] // g["PatchSize"][i] for i in range(3))
        cube = f3.transpose(1, 2).reshape(1, -1, gz, gy, gx)
        # avg_pool3d has no bf16 CPU kernel in 1.13: pooled in f32, as a user would
        pooled = F.avg_pool3d(cube.float(), 2).to(f3.dtype).flatten(2).transpose(1, 2)         # (1, L3, C3)
        z3 = lin(F.gelu(lin(pooled, self.c3[0])), self.c3[1])                                  # (1, L3, D)
        p = lin(text, self.text)                                                               # (1, D)
        groups = z3.view(1, gz // 2, -1, z3.shape[-1])                                         # (1, G, L3/G, D)
        per = s // (gz // 2)
        g3 = groups.repeat_interleave(per, dim=1)                                              # (1, S, L3/G, D)
        m = torch.cat([g3, z2], dim=2).mean(dim=2)                                             # (1, S, D)
        scores = torch.softmax(F.cosine_similarity(m, p[:, None], dim=-1).float() * 5.0, dim=-1).to(z2.dtype)
        z2f = (scores[:, :, None, None] * z2).sum(dim=1)                                       # (1, T2, D)
        return torch.cat([z3, z2f], dim=1)


class Phi3:
    def __init__(self, w, g):
        self.g = g
        self.embed = w.take("model.embed_tokens.weight")
        self.layers = []
        for i in range(g["LlmLayers"]):
            p = f"model.layers.{i}."
            self.layers.append(dict(
                n1=w.take(p + "input_layernorm.weight"), qkv=w.linear(p + "self_attn.qkv_proj", bias=False),
                o=w.linear(p + "self_attn.o_proj", bias=False), n2=w.take(p + "post_attention_layernorm.weight"),
                gu=w.linear(p + "mlp.gate_up_proj", bias=False), down=w.linear(p + "mlp.down_proj", bias=False)))
        self.norm = w.take("model.norm.weight")
        self.head = w.linear("lm_head", bias=False)
        self.dtype = w.dtype
        d = g["LlmHidden"] // g["LlmHeads"]
        self.inv_freq = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        orig, mx = g["OriginalMaxPositions"], g["MaxPositions"]
        self.att_factor = math.sqrt(1 + math.log(mx / orig) / math.log(orig)) if mx > orig else 1.0
        self.long = (torch.arange(d // 2, dtype=torch.float32) * 0.5 + 1.0)
        self.short = (torch.arange(d // 2, dtype=torch.float32) * 0.01 + 1.0)

    def rms(self, x, w):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-5)).to(x.dtype) * w

    def rope(self, start, t):
        factors = self.long if start + t > self.g["OriginalMaxPositions"] else self.short
        pos = torch.arange(start, start + t, dtype=torch.float32)
        ang = pos[:, None] * (self.inv_freq / factors)[None]
        emb = torch.cat([ang, ang], dim=-1)
        return (emb.cos() * self.att_factor).to(self.dtype), (emb.sin() * self.att_factor).to(self.dtype)

    @staticmethod
    def rotate(x, cos, sin):
        x1, x2 = x.chunk(2, dim=-1)
        return x * cos + torch.cat([-x2, x1], dim=-1) * sin

    def forward(self, x, cache):
        """x (1, T, C) at positions len(cache) …; cache: list of (k, v) per layer (None when empty). Last hidden (1, C)."""
        g = self.g
        h = g["LlmHeads"]
        start = 0 if cache[0] is None else cache[0][0].shape[2]
        t = x.shape[1]
        cos, sin = self.rope(start, t)
        for i, l in enumerate(self.layers):
            y = self.rms(x, l["n1"])
            q, k, v = lin(y, l["qkv"]).chunk(3, dim=-1)
            q, k, v = heads(q, h), heads(k, h), heads(v, h)
            q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
            if cache[i] is not None:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            cache[i] = (k, v)
            x = x + lin(merge(attention(q, k, v, causal=True, offset=start)), l["o"])
            y = self.rms(x, l["n2"])
            gate, up = lin(y, l["gu"]).chunk(2, dim=-1)
            x = x + lin(F.silu(gate) * up, l["down"])
        return self.rms(x[:, -1], self.norm)

    def logits(self, hidden):
        return lin(hidden, self.head)


def timed(reps, warm, fn):
    if warm:
        fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def median(xs):
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--stages", default="vit,siglip,bert,connectors")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--long-reps", type=int, default=1)
    ap.add_argument("--warmup-long", action="store_true")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--bert-tokens", type=int, default=40)
    ap.add_argument("--prompt-tokens", type=int, default=0, help="e2e prompt length (0: visual tokens + 60)")
    ap.add_argument("--decode-steps", type=int, default=12)
    ap.add_argument("--e2e-tokens", type=int, default=100)
    ap.add_argument("--question", default="")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    dtype = torch.float32 if a.precision == "fp32" else torch.bfloat16
    prec = "f32" if a.precision == "fp32" else "bf16"
    with open(os.path.join(a.ckpt, "geometry.json")) as f:
        g = json.load(f)
    stages = [s for s in a.stages.split(",") if s]
    report = dict(impl="pytorch", precision=prec, threads=a.threads, stages=[], torch=torch.__version__)

    def save():
        report["peak_rss_gb"] = rss_gb("VmHWM")
        if a.out:
            with open(a.out, "w") as f:
                json.dump(report, f, indent=2)

    def record(stage, times, unit, detail, tokens=None):
        r = dict(stage=stage, precision=prec, impl="pytorch", median=median(times), times=times, unit=unit, detail=detail,
                 hwm_gb=rss_gb("VmHWM"))
        if tokens is not None:
            r["tokens"] = tokens
        report["stages"].append(r)
        print(json.dumps(r), flush=True)
        save()

    gen = torch.Generator().manual_seed(1)
    d, hh, ww = g["ImgSize"]
    need_vision = any(s in stages for s in ("vit", "siglip", "bert", "connectors", "e2e"))
    need_llm = any(s in stages for s in ("prefill", "decode", "e2e"))
    try:
        with torch.inference_mode():
            t0 = time.perf_counter()
            vit = bert = siglip = conn = llm = None
            if need_vision:
                w3 = Weights(os.path.join(a.ckpt, "vision3d_model", "pytorch_model.bin"), dtype)
                vit, bert = ViT3D(w3, g), Bert(w3, g)
                del w3
                siglip = SigLip(Weights(os.path.join(a.ckpt, "vision2d_model", "pytorch_model.bin"), dtype, "vision_model."), g)
                conn = Connectors(Weights(os.path.join(a.ckpt, "vision2d_connector", "pytorch_model.bin"), dtype),
                                  Weights(os.path.join(a.ckpt, "vision3d_connector", "pytorch_model.bin"), dtype), g)
            if need_llm:
                llm = Phi3(Weights(os.path.join(a.ckpt, "llm", "pytorch_model.bin"), dtype), g)
            report["load_s"] = time.perf_counter() - t0
            torch.matmul(torch.ones(64, 64), torch.ones(64, 64))                               # loads the BLAS
            report["blas"] = loaded_blas()
            report["blas_info"] = [x.strip() for x in torch.__config__.show().split(",") if "BLAS_INFO" in x]
            report["rss_after_load_gb"] = rss_gb("VmRSS")
            save()
            reps = lambda s: a.long_reps if s in LONG else a.reps
            warm = lambda s: s not in LONG or a.warmup_long
            vol = (torch.rand(1, 1, d, hh, ww, generator=gen) * 0.99 + 0.01).to(dtype)
            bert_ids = torch.randint(1000, g["BertVocab"], (1, a.bert_tokens), generator=gen)
            for s in stages:
                if s == "vit":
                    record(s, timed(reps(s), warm(s), lambda: vit(vol)), "s", f"ViT3D (1, 1, {d}, {hh}, {ww})")
                elif s == "siglip":
                    slices = vol.reshape(d, 1, hh, ww)
                    record(s, timed(reps(s), warm(s), lambda: siglip(slices)), "s", f"SigLIP ({d}, 3, {hh}, {ww})")
                elif s == "bert":
                    record(s, timed(reps(s), warm(s), lambda: bert(bert_ids)), "s", f"BERT, {a.bert_tokens} tokens", a.bert_tokens)
                elif s == "connectors":
                    f3 = torch.randn(1, g["Patches3D"], g["V3Hidden"], generator=gen).to(dtype)
                    f2 = torch.randn(d, g["SigLipTokens"], g["V2Hidden"], generator=gen).to(dtype)
                    text = torch.randn(1, g["BertHidden"], generator=gen).to(dtype)
                    record(s, timed(reps(s), warm(s), lambda: conn(f3, f2, text)), "s", "2D + 3D connectors, TG-IS, fuse")
                elif s == "prefill":
                    x = (torch.randn(1, g["PrefillTokens"], g["LlmHidden"], generator=gen) * 0.02).to(dtype)
                    def prefill():
                        cache = [None] * len(llm.layers)
                        llm.logits(llm.forward(x, cache))
                    record(s, timed(reps(s), warm(s), prefill), "s", f"Phi-3 prefill of {g['PrefillTokens']} tokens")
                elif s == "decode":
                    steps = min(a.decode_steps, g["DecodeContext"] - 1)
                    start = g["DecodeContext"] - steps
                    x = (torch.randn(1, start, g["LlmHidden"], generator=gen) * 0.02).to(dtype)
                    cache = [None] * len(llm.layers)
                    llm.logits(llm.forward(x, cache))
                    times = []
                    for _ in range(steps):
                        tok = torch.randint(0, g["LlmVocab"], (1, 1), generator=gen)
                        t1 = time.perf_counter()
                        llm.logits(llm.forward(llm.embed[tok], cache))
                        times.append(time.perf_counter() - t1)
                    record(s, times, "s/token", f"Phi-3 decode × {steps} after a prefill of {start} (torch.cat KV cache)", start)
                elif s == "e2e":
                    visual = g["VisualTokens"]
                    prompt = max(a.prompt_tokens or visual + 60, visual + 5)
                    text_ids = torch.randint(0, 32000, (1, prompt - visual), generator=gen)
                    def e2e():
                        f3 = vit(vol)
                        p = bert(bert_ids)
                        f2 = siglip(vol.reshape(d, 1, hh, ww))
                        tokens = conn(f3, f2, p)
                        x = torch.cat([llm.embed[text_ids[:, :4]], tokens, llm.embed[text_ids[:, 4:]]], dim=1)
                        cache = [None] * len(llm.layers)
                        nxt = llm.logits(llm.forward(x, cache)).argmax(-1)
                        for _ in range(a.e2e_tokens - 1):
                            nxt = llm.logits(llm.forward(llm.embed[nxt][:, None], cache)).argmax(-1)
                    record(s, timed(reps(s), False, e2e), "s", f"vision + prefill of {prompt} + {a.e2e_tokens} greedy tokens", prompt)
                else:
                    raise ValueError(f"unknown stage {s}")
        save()
        return 0
    except Exception as e:  # recorded for the driver's table, then re-raised for the exit code
        report["error"] = f"{type(e).__name__}: {e}"
        save()
        raise


if __name__ == "__main__":
    sys.exit(main())
