#!/usr/bin/env python3
"""Llama-style decoder reference for ctgraph (issue 14): writes a seeded random-init Hugging Face
LlamaForCausalLM in the TinyLlama-1.1B shape (bf16), a prompt, Hugging Face's greedy continuation
and its teacher-forced logits as safetensors files that examples/08_llama_decode loads and compares
against; then times greedy decoding in PyTorch the way a careful PyTorch user writes it. Prints one
JSON object on stdout (progress on stderr); exits 77 where no GPU is present. Needs torch,
transformers (5.x) and safetensors; downloads nothing.

Model: LlamaConfig vocab 32000, hidden 2048, intermediate 5632 (SiLU-gated), 22 layers, 32 heads,
       4 K/V heads (head_dim 64), RMSNorm eps 1e-5, rope_theta 10000, untied lm_head, no biases.
       torch.manual_seed(seed), Hugging Face's _init_weights on the GPU in f32 (normal 0.02), then
       the RMSNorm weights ~ N(1, 0.1) (unit norms would let an implementation that forgets them
       pass), then cast to bf16. Eval mode, attention "sdpa".

Files written into --out DIR (default ./llama_out):
  llama_weights.safetensors  every parameter under its Hugging Face name, bf16, contiguous
  llama_tokens.safetensors   prompt [P] int32 (uniform in [0, vocab) from a CPU torch.Generator
                             seeded with the seed) and teacher [N] int32: Hugging Face's greedy
                             continuation of the prompt (generate, do_sample=False)
  llama_logits.safetensors   logits [N + 1, vocab] f32: the bf16 model's logits at positions
                             P - 1 .. P + N - 1 of one forward over prompt + teacher (row 0 is the
                             prefill's last row, row 1 + s decode step s's, teacher-forced), and
                             logits_f32: the same weights run in f32
  llama_reference.json       shapes, seed, versions, the bf16-vs-f32 error and the top-2 margins
Decode timing (batch 1, greedy, a P-token prompt, --new (128) new tokens, bf16; tok/s = new tokens
/ time from the prompt to the last new token):
  hf_generate_eager   Hugging Face generate, eager, dynamic cache
  torch_compile_ro    a hand-written decoder (static K/V cache [1, KV, S, D] updated with
                      index_copy_, scaled_dot_product_attention with GQA and a mask from the
                      position, as gpt-fast writes it) on the same weights; the one-token step
                      under torch.compile(mode="reduce-overhead", fullgraph=True), the prefill
                      eager (once per generation); checked against Hugging Face's teacher-forced
                      logits first
  roofline            the bytes one step must read (every weight but the embedding table, which a
                      step gathers one row of) at 4.24 TB/s (the H200's measured copy bandwidth)
--bench-only times PyTorch without writing the files (they are written with --skip-bench first).
--summary PATH merges llama_decode.<variant>.tok_s (and .error for a failed variant),
llama_decode.roofline.tok_s and llama_decode.torch.weight_bytes into that flat JSON file.

The weights file is 2.2 GB: write it and run the C++ comparison in the same command on the GPU
machine.  Run: python3 tests/bench/llama_reference.py --out /tmp/llama [--summary ...] [--skip-bench]
"""
import argparse
import copy
import datetime
import json
import os
import sys
import time
import traceback

try:
    import torch
    import torch.nn.functional as F
    import safetensors
    from safetensors.torch import save_file
    import transformers
    from transformers import LlamaConfig, LlamaForCausalLM
except ImportError as e:  # pragma: no cover
    print(f"llama_reference: a package is missing ({e}); needs torch, transformers, safetensors", file=sys.stderr)
    sys.exit(1)

from torch_bench import finite_or_none, merge_summary

TINYLLAMA = dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                 num_attention_heads=32, num_key_value_heads=4)
SMOKE = dict(vocab_size=512, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
             num_attention_heads=4, num_key_value_heads=2)  # --smoke: a quick check of this script
PROMPT, STEPS, NEW, CACHE = 32, 32, 128, 256
COPY_BANDWIDTH = 4.24e12  # bytes/s, a device-to-device copy on the H200


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def rope_theta(config):
    """rope_theta: in rope_parameters since transformers 5, an attribute before."""
    params = getattr(config, "rope_parameters", None) or {}
    return float(params.get("rope_theta", getattr(config, "rope_theta", 10000.0)))


def build_model(dims, seed, device):
    config = LlamaConfig(**dims, max_position_embeddings=2048, rms_norm_eps=1e-5, rope_theta=10000.0,
                         hidden_act="silu", tie_word_embeddings=False, attention_bias=False, mlp_bias=False,
                         attn_implementation="sdpa", bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.normal_(1.0, 0.1)
    return model.to(torch.bfloat16).eval()


def margins(logits):
    top = logits.float().topk(2, dim=-1).values
    return top[:, 0] - top[:, 1]


def write_reference(model, args, device):
    """The prompt, Hugging Face's greedy continuation and its teacher-forced logits; written into
    args.out with the weights unless args.bench_only."""
    vocab = model.config.vocab_size
    gen = torch.Generator(device="cpu").manual_seed(args.seed)
    prompt = torch.randint(0, vocab, (args.prompt,), generator=gen, dtype=torch.int64)
    with torch.inference_mode():
        out = model.generate(prompt[None].to(device), max_new_tokens=args.steps, min_new_tokens=args.steps,
                             do_sample=False, eos_token_id=None, pad_token_id=0)
        teacher = out[0, args.prompt:].to("cpu")
        ids = torch.cat([prompt, teacher])[None].to(device)
        rows = slice(args.prompt - 1, args.prompt + args.steps)
        logits = model(input_ids=ids).logits[0, rows].float()
        if args.bench_only:
            logits_f32 = logits
        else:
            f32 = copy.deepcopy(model).float()
            logits_f32 = f32(input_ids=ids).logits[0, rows].float()
            del f32
    weights = {name: p.detach().to("cpu").contiguous() for name, p in model.named_parameters()}
    weight_bytes = sum(t.numel() * t.element_size() for t in weights.values())
    if args.bench_only:
        return {"device": torch.cuda.get_device_name(), "weight_bytes": weight_bytes}, prompt, teacher, logits, weights
    os.makedirs(args.out, exist_ok=True)
    meta = {"seed": str(args.seed), "format": "pt"}
    save_file(weights, os.path.join(args.out, "llama_weights.safetensors"), metadata=meta)
    save_file({"prompt": prompt.to(torch.int32), "teacher": teacher.to(torch.int32)},
              os.path.join(args.out, "llama_tokens.safetensors"), metadata=meta)
    save_file({"logits": logits.to("cpu").contiguous(), "logits_f32": logits_f32.to("cpu").contiguous()},
              os.path.join(args.out, "llama_logits.safetensors"), metadata=meta)
    m = margins(logits)
    err = (logits - logits_f32).abs().max().item()
    reference = {
        "model": "LlamaForCausalLM (Hugging Face), seeded random init, bf16, eval, sdpa",
        "config": {**{k: getattr(model.config, k) for k in ("vocab_size", "hidden_size", "intermediate_size",
                                                            "num_hidden_layers", "num_attention_heads",
                                                            "num_key_value_heads", "rms_norm_eps")},
                   "rope_theta": rope_theta(model.config)},
        "seed": args.seed, "prompt_tokens": args.prompt, "teacher_steps": args.steps,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "safetensors": safetensors.__version__, "cuda": torch.version.cuda},
        "weight_bytes": weight_bytes,
        "bf16_vs_f32_logits_max_abs": finite_or_none(err),
        "logit_rms": finite_or_none(logits.pow(2).mean().sqrt().item()),
        "top2_margin_min": finite_or_none(m.min().item()), "top2_margin_median": finite_or_none(m.median().item()),
        # generate's greedy tokens against the argmax of the one forward over them (bf16 paths differ)
        "greedy_agrees_with_full_forward": int((logits[:-1].argmax(-1).to("cpu") == teacher).sum()),
    }
    with open(os.path.join(args.out, "llama_reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    log(f"llama_reference: wrote {len(weights)} tensors ({weight_bytes} bytes) into {args.out}")
    return reference, prompt, teacher, logits, weights


# --- a hand-written decoder, as a careful PyTorch user writes one (gpt-fast's shape) ----------
class Decoder(torch.nn.Module):
    def __init__(self, w, config, cache_len, device):
        super().__init__()
        self.w = w  # name -> bf16 tensor on the device
        self.c = config
        self.layers = config.num_hidden_layers
        self.heads, self.kv = config.num_attention_heads, config.num_key_value_heads
        self.d = config.hidden_size // self.heads
        shape = (1, self.kv, cache_len, self.d)
        for i in range(self.layers):  # buffers, as gpt-fast's KVCache: mutated in place, static addresses
            self.register_buffer(f"k{i}", torch.zeros(shape, dtype=torch.bfloat16, device=device), persistent=False)
            self.register_buffer(f"v{i}", torch.zeros(shape, dtype=torch.bfloat16, device=device), persistent=False)
        inv = 1.0 / (rope_theta(config) ** (torch.arange(0, self.d, 2, dtype=torch.int64).float().to(device) / self.d))
        freqs = torch.outer(torch.arange(cache_len, device=device).float(), inv)
        emb = torch.cat([freqs, freqs], dim=-1)
        self.cos, self.sin = emb.cos().to(torch.bfloat16), emb.sin().to(torch.bfloat16)
        self.mask = torch.ones(cache_len, cache_len, dtype=torch.bool, device=device).tril()

    def norm(self, x, name):
        v = x.float()
        v = v * torch.rsqrt(v.pow(2).mean(-1, keepdim=True) + self.c.rms_norm_eps)
        return self.w[name] * v.to(torch.bfloat16)

    @staticmethod
    def rotate(x, cos, sin):
        half = x.shape[-1] // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], dim=-1) * sin

    def forward(self, ids, pos):  # ids [1, T], pos [T] (absolute positions)
        w, t = self.w, ids.shape[1]
        x = F.embedding(ids, w["model.embed_tokens.weight"])
        cos, sin = self.cos[pos][None, None], self.sin[pos][None, None]
        mask = self.mask[pos][None, None]  # [1, 1, T, S]
        for i in range(self.layers):
            p = f"model.layers.{i}."
            h = self.norm(x, p + "input_layernorm.weight")
            q = F.linear(h, w[p + "self_attn.q_proj.weight"]).view(1, t, self.heads, self.d).transpose(1, 2)
            k = F.linear(h, w[p + "self_attn.k_proj.weight"]).view(1, t, self.kv, self.d).transpose(1, 2)
            v = F.linear(h, w[p + "self_attn.v_proj.weight"]).view(1, t, self.kv, self.d).transpose(1, 2)
            q, k = self.rotate(q, cos, sin), self.rotate(k, cos, sin)
            kc, vc = getattr(self, f"k{i}"), getattr(self, f"v{i}")
            kc.index_copy_(2, pos, k)
            vc.index_copy_(2, pos, v)
            a = F.scaled_dot_product_attention(q, kc, vc, attn_mask=mask, enable_gqa=True)
            x = x + F.linear(a.transpose(1, 2).reshape(1, t, -1), w[p + "self_attn.o_proj.weight"])
            h = self.norm(x, p + "post_attention_layernorm.weight")
            g = F.silu(F.linear(h, w[p + "mlp.gate_proj.weight"])) * F.linear(h, w[p + "mlp.up_proj.weight"])
            x = x + F.linear(g, w[p + "mlp.down_proj.weight"])
        return F.linear(self.norm(x, "model.norm.weight"), w["lm_head.weight"])  # [1, T, vocab]


def time_generate(run, new, trials):
    """Median seconds of run() (which produces `new` tokens), after two warm-up runs."""
    for _ in range(2):
        run()
    torch.cuda.synchronize()
    times = []
    for _ in range(trials):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def bench(model, weights, prompt, teacher, logits, args, device):
    result = {}
    prompt_d = prompt[None].to(device)
    with torch.inference_mode():
        log("[llama_decode] hf_generate_eager")
        try:
            def hf():
                return model.generate(prompt_d, max_new_tokens=args.new, min_new_tokens=args.new, do_sample=False,
                                      eos_token_id=None, pad_token_id=0)
            s = time_generate(hf, args.new, args.trials)
            result["hf_generate_eager"] = {"tok_s": round(args.new / s, 2), "seconds": round(s, 5)}
        except Exception as e:
            log(traceback.format_exc())
            result["hf_generate_eager"] = {"error": f"{type(e).__name__}: {e}"[:2000]}

        log("[llama_decode] torch_compile_ro: hand-written static-cache decoder")
        try:
            w = {n: t.to(device) for n, t in weights.items()}
            dec = Decoder(w, model.config, CACHE, device)
            # Teacher-forced check against Hugging Face, eager: the same model.
            ids = torch.cat([prompt, teacher]).to(device)
            out = dec(ids[None, :args.prompt], torch.arange(args.prompt, device=device))[0, -1:]
            rows = [out]
            for s in range(args.steps):
                p = args.prompt + s
                rows.append(dec(ids[None, p:p + 1], torch.tensor([p], device=device))[0])
            check = (torch.cat(rows).float() - logits).abs().max().item()
            prefill = dec  # eager: one call per generation (compiling it too costs a second compile)
            step = torch.compile(dec, mode="reduce-overhead", fullgraph=True, dynamic=False)
            prompt_pos = torch.arange(args.prompt, device=device)
            pos = torch.zeros(1, dtype=torch.int64, device=device)
            tok = torch.zeros(1, 1, dtype=torch.int64, device=device)

            def generate():
                torch.compiler.cudagraph_mark_step_begin()
                nxt = prefill(prompt_d, prompt_pos)[:, -1].argmax(-1)
                tokens = [nxt]
                for i in range(args.new - 1):
                    tok.copy_(nxt[:, None])
                    pos.fill_(args.prompt + i)
                    torch.compiler.cudagraph_mark_step_begin()
                    nxt = step(tok, pos)[:, -1].argmax(-1)
                    tokens.append(nxt)
                return torch.stack(tokens)
            t0 = time.perf_counter()
            generate()
            torch.cuda.synchronize()
            first = time.perf_counter() - t0
            s = time_generate(generate, args.new, args.trials)
            result["torch_compile_ro"] = {"tok_s": round(args.new / s, 2), "seconds": round(s, 5),
                                          "first_call_s": round(first, 2), "teacher_forced_max_abs_vs_hf": finite_or_none(check)}
        except Exception as e:
            log(traceback.format_exc())
            result["torch_compile_ro"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="llama_out")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--prompt", type=int, default=PROMPT)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--new", type=int, default=NEW)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--summary")
    parser.add_argument("--skip-bench", action="store_true")
    parser.add_argument("--bench-only", action="store_true", help="time PyTorch only; write no files")
    parser.add_argument("--smoke", action="store_true", help="a tiny model (checks this script, also on the CPU)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.smoke:
        log("llama_reference: no GPU: skipped")
        return 77
    torch.backends.cuda.matmul.allow_tf32 = False
    model = build_model(SMOKE if args.smoke else TINYLLAMA, args.seed, device)
    reference, prompt, teacher, logits, weights = write_reference(model, args, device)
    out = {"gpu": reference["device"], "date": datetime.date.today().isoformat(), "reference": reference}
    read = sum(t.numel() * t.element_size() for n, t in weights.items() if n != "model.embed_tokens.weight")
    out["roofline"] = {"bytes_per_token": read, "tok_s": round(COPY_BANDWIDTH / read, 1)}
    if not args.skip_bench and device == "cuda":
        out.update(bench(model, weights, prompt, teacher, logits, args, device))
    print(json.dumps(out, indent=1))
    if args.summary:
        entries = {"gpu": out["gpu"], "date": out["date"], "llama_decode.roofline.tok_s": out["roofline"]["tok_s"],
                   "llama_decode.torch.weight_bytes": reference["weight_bytes"]}
        for variant in ("hf_generate_eager", "torch_compile_ro"):
            r = out.get(variant)
            if isinstance(r, dict):
                entries[f"llama_decode.{variant}.tok_s"] = r.get("tok_s")
                if "error" in r:
                    entries[f"llama_decode.{variant}.error"] = r["error"][:200]
        merge_summary(args.summary, entries)
    return 0


if __name__ == "__main__":
    sys.exit(main())
