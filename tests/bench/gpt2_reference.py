#!/usr/bin/env python3
"""GPT-2 small reference for ctgraph (issue 12): writes a seeded random-init GPT-2 (Hugging Face
GPT2LMHeadModel, bf16), its input tokens and its logits as safetensors files that a C++ test can
load and compare against, then times GPT-2 prefill in PyTorch the way tests/bench/torch_bench.py
times its workloads. Prints one JSON object on stdout (progress on stderr); exits 77 where no GPU
is present. Needs torch, transformers (5.x) and safetensors; downloads nothing.

Model: GPT2Config n_layer 12, n_embd 768, n_head 12, n_inner 3072, vocab 50257, n_positions 1024,
       gelu_new (tanh approximation), layer_norm_epsilon 1e-5, tied embedding (lm_head.weight IS
       transformer.wte.weight), dropout 0, eval mode, attention "sdpa" (or --attn eager).
       torch.manual_seed(seed), initialised on the GPU in f32 by Hugging Face's _init_weights
       (normal 0.02; c_proj 0.02/sqrt(24)), then biases ~ N(0, 0.02), LayerNorm weights
       ~ N(1, 0.1) and LayerNorm biases ~ N(0, 0.02) (Hugging Face's zero biases and unit
       LayerNorms would let an implementation that forgets them pass; --plain-init keeps them),
       then cast to bf16.

Files written into --out DIR (default ./gpt2_out):
  gpt2_weights.safetensors  every parameter under its Hugging Face name, bf16, contiguous; the tied
                            lm_head.weight is not written (it is transformer.wte.weight)
  gpt2_tokens.safetensors   input_ids [1, T] int32 and input_ids_int64 [1, T] int64, uniform in
                            [0, vocab) from a CPU torch.Generator seeded with the seed
  gpt2_logits.safetensors   float32 copies of what the bf16 model computed for those tokens:
                            logits [1, T, vocab], last_hidden_state [1, T, 768] (after ln_f, the
                            LM head's input), embeddings [1, T, 768] (wte + wpe), block.<i>
                            [1, T, 768] (the residual stream after block i); and logits_f32
                            [1, T, vocab]: the same bf16 weights run in float32, the value a more
                            accurate implementation approaches
  gpt2_config.json          the GPT2Config (Hugging Face's to_json_file)
  gpt2_reference.json       shapes, dtypes, seed, versions, the layout notes a C++ implementer
                            needs, and the bf16-vs-f32 error that sets a fair tolerance
Self-checks (exit 1 when one fails): gpt2_weights.safetensors reloaded into a fresh model gives
the same logits (the file holds everything the model needs), and a plain f32 forward written from
the layout notes alone, on the file's tensors, matches logits_f32 (the notes describe the file).

Prefill timing (batch 1, T tokens, bf16, logits out, use_cache=False, torch.inference_mode, one
static input tensor reused by every run):
  hf_eager                Hugging Face eager
  torch_compile_default   torch.compile(dynamic=False)
  torch_compile_ro        torch.compile(mode="reduce-overhead", dynamic=False) with
                          torch.compiler.cudagraph_mark_step_begin() before each call
Each compiled variant starts from torch._dynamo.reset(); its first call (the compile) and 3 more
are run before measuring; a failure is recorded as an error string, not fatal. Timing is
torch_bench.measure: 20 warm-up runs, 5 trials of K (--runs, default 50) runs, medians per run of
  gpu_us   CUDA events around the K runs of a trial
  host_us  wall time of the K calls with no synchronisation inside
  wall_us  wall time per run when synchronising after every run
Memory: activation_bytes = torch.cuda.max_memory_allocated() during one eager forward (after one
warm-up forward) minus torch.cuda.memory_allocated() before it, weights and input resident; it
includes the [1, T, vocab] bf16 logits. weight_bytes counts the tied matrix once.

--summary PATH merges into that flat JSON file (see tests/bench/harness.hpp; other keys kept, gpu
and date set): gpt2_prefill.<variant>.{gpu_us,host_us,wall_us} (null, plus .error, for a variant
that failed), gpt2_prefill.torch.activation_bytes and gpt2_prefill.torch.weight_bytes.

The weights (~250 MB) and logits (~200 MB) files are larger than what a device run brings back:
write them and run the C++ comparison in the same command on the GPU machine.

Run: python3 tests/bench/gpt2_reference.py --out /tmp/gpt2 [--summary tests/bench/results/summary.json]
     python3 tests/bench/gpt2_reference.py --out /tmp/gpt2 --skip-bench   # reference files only
"""
import argparse
import copy
import datetime
import json
import math
import os
import sys
import traceback

try:
    import torch
    from torch import nn
    import safetensors
    from safetensors.torch import load_file, save_file
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel
except ImportError as e:  # pragma: no cover
    print(f"gpt2_reference: a package is missing ({e}); needs torch, transformers, safetensors", file=sys.stderr)
    sys.exit(1)

# The same timing, summary merge and helpers as the other PyTorch benchmark (same folder).
from torch_bench import TRIALS, WARMUP, finite_or_none, measure, merge_summary, ratio, time_compiled

GPT2_SMALL = dict(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
TINY = dict(n_layer=2, n_embd=64, n_head=4, vocab_size=1000, n_positions=64)  # --cpu-smoke
RUNS = 50
VARIANTS = ("hf_eager", "torch_compile_default", "torch_compile_ro")
METRICS = ("gpu_us", "host_us", "wall_us")

LAYOUT_NOTES = [
    "All tensors row-major and contiguous; weights bf16.",
    "Conv1D (attn.c_attn, attn.c_proj, mlp.c_fc, mlp.c_proj): weight stored [in, out], "
    "y = x @ W + b (torch.addmm(b, x, W)); NOT the nn.Linear [out, in] layout.",
    "attn.c_attn: W [n_embd, 3*n_embd], b [3*n_embd]; output columns [0, n_embd) are q, "
    "[n_embd, 2*n_embd) k, [2*n_embd, 3*n_embd) v; within each, head h owns columns "
    "[h*head_dim, (h+1)*head_dim), head_dim = n_embd / n_head = 64.",
    "Attention: causal, scores = q k^T * head_dim**-0.5 (no layer-index scaling), softmax over "
    "keys, heads concatenated in head order to [T, n_embd], then attn.c_proj.",
    "Embeddings: h = wte[input_ids] + wpe[0..T-1]; wte [vocab, n_embd], wpe [n_positions, n_embd].",
    "Block i: h = h + attn(ln_1(h)); h = h + mlp(ln_2(h)); mlp(x) = c_proj(gelu_new(c_fc(x))), "
    "c_fc W [n_embd, 4*n_embd], mlp.c_proj W [4*n_embd, n_embd].",
    "gelu_new (tanh approximation): 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))); Hugging Face "
    "evaluates it op by op in bf16 (rounding after each op).",
    "LayerNorm over the last dim, biased variance, epsilon 1e-5, then * weight + bias.",
    "Head: x = ln_f(h); logits = x @ wte^T (lm_head.weight is transformer.wte.weight, an "
    "nn.Linear [out, in] with no bias; not stored separately).",
    "Reference numerics: every op of the bf16 model returns bf16 (matmuls accumulate in f32 in "
    "cuBLAS); logits, last_hidden_state, embeddings and block.<i> are those bf16 values widened to "
    "f32; logits_f32 is the same weights run in f32 (no TF32).",
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def error_text(e):
    return f"{type(e).__name__}: {e}"[:2000]


# --- the model and its reference files --------------------------------------------------------
def build_model(dims, attn, seed, device, plain_init):
    """GPT2LMHeadModel from GPT2Config `dims`, initialised on `device` from torch.manual_seed(seed),
    in eval mode and bf16. Biases and LayerNorms are drawn too unless `plain_init`."""
    config = GPT2Config(**dims, activation_function="gelu_new", layer_norm_epsilon=1e-5,
                        resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, tie_word_embeddings=True,
                        use_cache=False, attn_implementation=attn,
                        bos_token_id=dims["vocab_size"] - 1, eos_token_id=dims["vocab_size"] - 1)
    torch.manual_seed(seed)
    with torch.device(device):
        model = GPT2LMHeadModel(config)
    with torch.no_grad():
        if not plain_init:
            for name, p in model.named_parameters():
                if name.endswith(".bias"):
                    p.normal_(0.0, 0.02)
                elif ".ln_" in name:  # ln_1, ln_2, ln_f weights
                    p.normal_(1.0, 0.1)
        model = model.to(torch.bfloat16).eval()
    if model.lm_head.weight is not model.transformer.wte.weight:
        raise RuntimeError("gpt2_reference: lm_head.weight is not tied to transformer.wte.weight")
    return model


def weights(model):
    """Name -> parameter, each parameter once: named_parameters() drops the tied lm_head.weight."""
    named = dict(model.named_parameters())
    if "lm_head.weight" in named:
        raise RuntimeError("gpt2_reference: lm_head.weight listed apart from transformer.wte.weight")
    return named


def make_tokens(seed, count, vocab):
    """[1, count] int64 token ids, uniform in [0, vocab), from a CPU generator (same on every machine)."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    return torch.randint(0, vocab, (1, count), generator=gen, dtype=torch.int64)


def forward_with_taps(model, ids):
    """Logits plus the residual stream at every block boundary, each widened to f32."""
    taps = {}

    def keep(name, t):
        taps[name] = t.detach().float().clone()

    def block_output(i):
        return lambda module, args, output: keep(f"block.{i}", output[0] if isinstance(output, tuple) else output)

    blocks = model.transformer.h
    handles = [blocks[0].register_forward_pre_hook(
        lambda module, args, kwargs: keep("embeddings", args[0] if args else kwargs["hidden_states"]),
        with_kwargs=True)]
    handles += [block.register_forward_hook(block_output(i)) for i, block in enumerate(blocks)]
    handles.append(model.transformer.ln_f.register_forward_hook(
        lambda module, args, output: keep("last_hidden_state", output)))
    try:
        logits = model(input_ids=ids, use_cache=False).logits
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in ["embeddings", "last_hidden_state"] + [f"block.{i}" for i in range(len(blocks))]
               if n not in taps]
    if missing:
        raise RuntimeError(f"gpt2_reference: the forward hooks did not see {missing}")
    return logits.float(), taps


def describe(tensors):
    return {name: {"shape": list(t.shape), "dtype": str(t.dtype).replace("torch.", "")}
            for name, t in tensors.items()}


def error_stats(approx, exact):
    """How far approx is from exact, 6 significant digits."""
    def num(v):
        return finite_or_none(float(f"{v:.6g}"))

    diff = (approx - exact).abs()
    rms = exact.pow(2).mean().sqrt().item()
    return {"max_abs_diff": num(diff.max().item()),
            "mean_abs_diff": num(diff.mean().item()),
            "reference_rms": num(rms),
            "reference_max_abs": num(exact.abs().max().item()),
            "relative_rms_diff": num(diff.pow(2).mean().sqrt().item() / rms) if rms > 0 else None,
            "argmax_agreement": num((approx.argmax(-1) == exact.argmax(-1)).float().mean().item())}


def write_reference(model, ids, args, device, out_dir):
    """Writes the five files and returns (what gpt2_reference.json holds, weight bytes)."""
    os.makedirs(out_dir, exist_ok=True)
    named = weights(model)
    weight_file = {name: p.detach().to("cpu").contiguous() for name, p in named.items()}
    weight_bytes = sum(t.numel() * t.element_size() for t in weight_file.values())
    token_file = {"input_ids": ids.to(torch.int32).contiguous(), "input_ids_int64": ids.contiguous()}

    with torch.inference_mode():
        logits, taps = forward_with_taps(model, ids.to(device))
        f32_model = copy.deepcopy(model).float()
        logits_f32 = f32_model(input_ids=ids.to(device), use_cache=False).logits.float()
        del f32_model
        bf16_vs_f32 = error_stats(logits, logits_f32)
    logit_file = {"logits": logits, "logits_f32": logits_f32, **taps}
    logit_file = {name: t.to("cpu").contiguous() for name, t in logit_file.items()}

    seed_meta = {"seed": str(args.seed), "format": "pt"}
    paths = {key: os.path.join(out_dir, f"gpt2_{key}.safetensors") for key in ("weights", "tokens", "logits")}
    save_file(weight_file, paths["weights"], metadata={**seed_meta, "tied": "lm_head.weight = transformer.wte.weight"})
    save_file(token_file, paths["tokens"], metadata=seed_meta)
    save_file(logit_file, paths["logits"], metadata=seed_meta)
    model.config.to_json_file(os.path.join(out_dir, "gpt2_config.json"))
    log(f"gpt2_reference: wrote {len(weight_file)} weight tensors ({weight_bytes} bytes) into {out_dir}")

    reload = check_reload(paths["weights"], model.config, device, ids, logits)
    layout = check_layout(weight_file, ids, model.config, device, logits_f32)
    config = model.config
    reference = {
        "model": "GPT2LMHeadModel (Hugging Face), seeded random init, bf16, eval mode",
        "config": {"n_layer": config.n_layer, "n_embd": config.n_embd, "n_head": config.n_head,
                   "n_inner": config.n_inner or 4 * config.n_embd, "head_dim": config.n_embd // config.n_head,
                   "vocab_size": config.vocab_size, "n_positions": config.n_positions,
                   "layer_norm_epsilon": config.layer_norm_epsilon,
                   "activation_function": config.activation_function,
                   "tie_word_embeddings": bool(config.tie_word_embeddings),
                   "attn_implementation": config._attn_implementation},
        "seed": args.seed,
        "init": ("Hugging Face _init_weights only (zero biases, unit LayerNorm)" if args.plain_init else
                 "Hugging Face _init_weights in f32 on the device, then biases ~ N(0, 0.02), LayerNorm "
                 "weights ~ N(1, 0.1), LayerNorm biases ~ N(0, 0.02); then cast to bf16"),
        "tokens": {"count": ids.shape[1], "generator": f"torch.Generator('cpu').manual_seed({args.seed}); "
                   f"torch.randint(0, {config.vocab_size}, (1, {ids.shape[1]}), dtype=int64)"},
        "device": device if device == "cpu" else torch.cuda.get_device_name(),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                     "safetensors": safetensors.__version__, "cuda": torch.version.cuda,
                     "python": sys.version.split()[0]},
        "parameter_count": sum(t.numel() for t in weight_file.values()),
        "weight_bytes": weight_bytes,
        "files": {os.path.basename(paths["weights"]): describe(weight_file),
                  os.path.basename(paths["tokens"]): describe(token_file),
                  os.path.basename(paths["logits"]): describe(logit_file),
                  "gpt2_config.json": "GPT2Config.to_json_file"},
        "not_stored": {"lm_head.weight": "tied: equal to transformer.wte.weight"},
        "layout": LAYOUT_NOTES,
        "bf16_vs_f32_logits": bf16_vs_f32,
        "reload_check": reload,
        "layout_check": {"what": "a plain f32 forward written from 'layout' alone vs logits_f32", **layout},
    }
    with open(os.path.join(out_dir, "gpt2_reference.json"), "w") as f:
        json.dump(reference, f, indent=1)
        f.write("\n")
    return reference, weight_bytes


def layout_forward(w, ids, config):
    """GPT-2 written from LAYOUT_NOTES alone, in f32, from the weights file's tensors: what a C++
    implementation computes. Agreeing with logits_f32 shows that the notes describe the file."""
    f = {name: t.float() for name, t in w.items()}
    d, heads = config.n_embd, config.n_head
    t = ids.shape[1]
    eps = config.layer_norm_epsilon

    def layer_norm(x, prefix):
        mean = x.mean(-1, keepdim=True)
        var = (x - mean).pow(2).mean(-1, keepdim=True)
        return (x - mean) / torch.sqrt(var + eps) * f[prefix + ".weight"] + f[prefix + ".bias"]

    def conv1d(x, prefix):  # weight [in, out]
        return x @ f[prefix + ".weight"] + f[prefix + ".bias"]

    def gelu_new(x):
        return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x.pow(3))))

    causal = torch.ones(t, t, dtype=torch.bool, device=ids.device).tril()
    h = f["transformer.wte.weight"][ids[0]] + f["transformer.wpe.weight"][:t]  # [T, d]
    for i in range(config.n_layer):
        p = f"transformer.h.{i}."
        qkv = conv1d(layer_norm(h, p + "ln_1"), p + "attn.c_attn")  # [T, 3d]
        q, k, v = (qkv[:, j * d:(j + 1) * d].reshape(t, heads, d // heads).transpose(0, 1) for j in range(3))
        scores = (q @ k.transpose(1, 2)) * (d // heads) ** -0.5
        attn = torch.softmax(scores.masked_fill(~causal, float("-inf")), dim=-1) @ v  # [heads, T, hd]
        h = h + conv1d(attn.transpose(0, 1).reshape(t, d), p + "attn.c_proj")
        h = h + conv1d(gelu_new(conv1d(layer_norm(h, p + "ln_2"), p + "mlp.c_fc")), p + "mlp.c_proj")
    return (layer_norm(h, "transformer.ln_f") @ f["transformer.wte.weight"].T).unsqueeze(0)


def check_layout(weight_file, ids, config, device, logits_f32):
    """Compares layout_forward with the model's f32 logits; they differ by summation order only."""
    w = {name: t.to(device) for name, t in weight_file.items()}
    with torch.inference_mode():
        ours = layout_forward(w, ids.to(device), config)
    stats = error_stats(ours, logits_f32)
    if stats["relative_rms_diff"] is None or not stats["relative_rms_diff"] < 1e-3:
        raise RuntimeError(f"gpt2_reference: the layout notes do not reproduce the model: {stats}")
    return stats


def check_reload(path, config, device, ids, logits):
    """Loads the weights file into a freshly initialised model and compares its logits."""
    with torch.device(device):
        fresh = GPT2LMHeadModel(copy.deepcopy(config))
    fresh = fresh.to(torch.bfloat16).eval()
    result = fresh.load_state_dict(load_file(path, device=str(device)), strict=False)
    missing = sorted(result.missing_keys)
    if missing not in ([], ["lm_head.weight"]) or result.unexpected_keys:
        raise RuntimeError(f"gpt2_reference: reloading {path}: missing {missing}, unexpected {result.unexpected_keys}")
    if fresh.lm_head.weight is not fresh.transformer.wte.weight:
        raise RuntimeError("gpt2_reference: reloaded model lost the lm_head / wte tie")
    with torch.inference_mode():
        again = fresh(input_ids=ids.to(device), use_cache=False).logits.float()
    diff = (again - logits).abs().max().item()
    scale = logits.abs().max().item()
    if not diff <= 1e-2 * max(scale, 1e-6):
        raise RuntimeError(f"gpt2_reference: reloaded weights give other logits (max abs diff {diff})")
    return {"missing_keys": missing, "max_abs_diff": diff}


# --- prefill timing ---------------------------------------------------------------------------
class Prefill(nn.Module):
    """One prefill: token ids -> logits, no KV cache returned."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids):
        return self.model(input_ids=ids, use_cache=False).logits


def activation_memory(fn):
    """Peak bytes allocated during fn() above what was allocated before it, after one warm-up call
    (cuBLAS workspaces and the like are then already resident)."""
    fn()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    out = fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    return {"activation_bytes": peak - before, "output_bytes": out.numel() * out.element_size(),
            "allocated_before_bytes": before}


def bench_compiled(prefill, ids, mode, k, eager_logits):
    """torch.compile(prefill, mode=mode): first call (the compile) and 3 more, then measured."""
    torch._dynamo.reset()
    compiled = torch.compile(prefill, mode=mode, dynamic=False)
    if mode == "reduce-overhead":
        def once():
            torch.compiler.cudagraph_mark_step_begin()
            return compiled(ids)
    else:
        def once():
            return compiled(ids)
    return time_compiled(once, k, eager_logits)


def bench(model, ids, k):
    """The three prefill variants and the eager activation memory; failures become error strings."""
    prefill = Prefill(model).eval()
    torch._dynamo.mark_static_address(ids)  # one input buffer for every run, as cudagraphs want
    result = {"batch": ids.shape[0], "tokens": ids.shape[1], "dtype": "bfloat16",
              "attn_implementation": model.config._attn_implementation, "runs_per_trial": k}
    with torch.inference_mode():
        log("[gpt2_prefill] eager memory")
        result["memory"] = activation_memory(lambda: prefill(ids))
        log("[gpt2_prefill] hf_eager")
        eager_logits = prefill(ids).float()
        torch.cuda.synchronize()
        result["hf_eager"] = measure(lambda: prefill(ids), k)
        for variant, mode in (("torch_compile_default", None), ("torch_compile_ro", "reduce-overhead")):
            log(f"[gpt2_prefill] {variant}: torch.compile(mode={mode!r})")
            try:
                result[variant] = bench_compiled(prefill, ids, mode, k, eager_logits)
                result[variant]["over_eager"] = {key: ratio(result[variant][key], result["hf_eager"][key])
                                                 for key in METRICS}
            except Exception as e:  # report, do not lose the other variants
                log(traceback.format_exc())
                result[variant] = {"error": error_text(e)}
            finally:
                torch.cuda.synchronize()
    for variant in VARIANTS:
        log(f"[gpt2_prefill] {variant}: {result[variant].get('gpu_us')} us (gpu, per run)")
    return result


def summary_entries(out):
    """gpt2_prefill.<variant>.<metric> -> number or null, plus gpu and date."""
    entries = {"gpu": out["gpu"], "date": out["date"]}
    prefill = out.get("gpt2_prefill", {})
    for variant in VARIANTS:
        timing = prefill.get(variant, {"error": prefill.get("error", "not run")})
        for metric in METRICS:
            entries[f"gpt2_prefill.{variant}.{metric}"] = timing.get(metric)
        entries[f"gpt2_prefill.{variant}.error"] = timing.get("error")  # null clears an old error
    memory = prefill.get("memory", {})
    entries["gpt2_prefill.torch.activation_bytes"] = memory.get("activation_bytes")
    entries["gpt2_prefill.torch.weight_bytes"] = out.get("weight_bytes")
    return entries


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="gpt2_out", help="folder for the reference files (default ./gpt2_out)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the tokens (default 0)")
    parser.add_argument("--tokens", type=int, default=512, help="prompt length T (default 512)")
    parser.add_argument("--attn", choices=("sdpa", "eager"), default="sdpa", help="Hugging Face attention")
    parser.add_argument("--runs", type=int, default=RUNS, help=f"runs per timed trial (default {RUNS})")
    parser.add_argument("--plain-init", action="store_true",
                        help="keep Hugging Face's zero biases and unit LayerNorms")
    parser.add_argument("--summary", help="merge this run's numbers into this flat JSON file")
    parser.add_argument("--skip-bench", action="store_true", help="only write the reference files")
    parser.add_argument("--cpu-smoke", action="store_true", help=argparse.SUPPRESS)  # tiny model, CPU, no timing
    args = parser.parse_args()

    if args.cpu_smoke:
        device, dims, args.skip_bench = "cpu", TINY, True
        args.tokens = min(args.tokens, 16)
    elif not torch.cuda.is_available():
        print("gpt2_reference: no GPU: skipped", file=sys.stderr)
        return 77
    else:
        device, dims = "cuda", GPT2_SMALL
    if not 0 < args.tokens <= dims["n_positions"]:
        parser.error(f"--tokens must be in 1..{dims['n_positions']} (the position table's length)")
    torch.set_float32_matmul_precision("highest")  # the f32 reference: plain f32 matmuls, no TF32

    out = {
        "gpu": device if device == "cpu" else torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "cuda": torch.version.cuda,
        "date": datetime.date.today().isoformat(),
        "warmup_runs": WARMUP,
        "trials": TRIALS,
        "statistic": "median over trials, per run",
        "out": os.path.abspath(args.out),
    }
    log(f"gpt2_reference: building GPT-2 ({dims}) on {device}, seed {args.seed}, attn {args.attn}")
    with torch.no_grad():  # the data: ordinary tensors, made outside inference mode
        model = build_model(dims, args.attn, args.seed, device, args.plain_init)
        ids = make_tokens(args.seed, args.tokens, dims["vocab_size"])
    reference, out["weight_bytes"] = write_reference(model, ids, args, device, args.out)
    out["reference"] = {key: reference[key] for key in ("config", "seed", "parameter_count", "weight_bytes",
                                                        "bf16_vs_f32_logits", "reload_check",
                                                        "layout_check")}
    if not args.skip_bench:
        try:
            out["gpt2_prefill"] = bench(model, ids.to(device).clone(), args.runs)
        except Exception as e:
            log(traceback.format_exc())
            out["gpt2_prefill"] = {"error": error_text(e)}
    print(json.dumps(out, indent=1))
    if args.summary and not args.skip_bench:
        merge_summary(args.summary, summary_entries(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
