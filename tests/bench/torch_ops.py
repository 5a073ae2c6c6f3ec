#!/usr/bin/env python3
"""PyTorch counterpart of tests/bench/ops.cu: each op alone on the same GPT-2-prefill shapes (bf16;
512 tokens, hidden 768, ffn 3072, 12 heads, vocabulary 50,257), called the way a PyTorch user
calls it, into a preallocated output where PyTorch offers one, timed like torch_bench.py (CUDA
events over pipelined runs; medians): eager ("torch": small ops are bound by the launch rate
there), and the same call captured in a torch.cuda.CUDAGraph and replayed ("torch_graph": kernel
time, as ctgraph's one-node graph). Prints one JSON object; `--summary PATH` merges
"op.<name>.torch[_graph].<metric>"; exits 77 where no GPU is present.

  layer_norm   F.layer_norm(x [512,768], (768,), weight, bias, 1e-5)
  softmax      torch.softmax(scores [6144,512], dim=-1)
  linear_gelu  F.gelu(F.linear(x, w_fc^T [3072,768], b_fc), approximate="tanh")  (eager: two kernels)
  lm_head      F.linear(x, wte [50257,768])
  embedding    F.embedding(ids [512], wte)
  attention    F.scaled_dot_product_attention(q, k, v, is_causal=True), each [1,12,512,64] contiguous
               (PyTorch's best layout; its flash kernel)
  attention_packed  the same from one [512, 2304] c_attn output, as Hugging Face's GPT-2 writes it:
               views of q, k, v, SDPA, then the heads back to [512, 768] (a copy)
  lm_head_padded  F.linear(x, wte padded to 50264 rows): the vocabulary rounded up to 8, whose
               rows of logits are 16-byte aligned (what lm_head costs with an aligned output)
  c_attn       F.linear(x, w_attn [2304,768], b_attn)
  mlp_proj_residual  F.linear(h [512,3072], w_proj [768,3072], b_proj) + x (two kernels)
"""
import argparse
import datetime
import json
import sys
import traceback

from torch_bench import finite_or_none, log, measure, merge_summary

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:  # pragma: no cover
    print(f"torch_ops: PyTorch is not installed ({e})", file=sys.stderr)
    sys.exit(1)

TOKENS, HIDDEN, FFN, HEADS, VOCAB = 512, 768, 3072, 12, 50257


def graphed(fn):
    """fn captured once in a CUDA graph (after warm-up on a side stream); returns its replay."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            fn()
    torch.cuda.current_stream().wait_stream(side)
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        fn()
    return g.replay


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", help="merge op.<name>.torch.<metric> into this flat JSON file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        log("torch_ops: no GPU: skipped")
        sys.exit(77)
    torch.manual_seed(0)
    dev, bf = "cuda", torch.bfloat16
    x = torch.randn(TOKENS, HIDDEN, device=dev, dtype=bf)
    scores = torch.randn(HEADS * TOKENS, TOKENS, device=dev, dtype=bf) * 4
    gamma, beta = torch.randn(HIDDEN, device=dev, dtype=bf), torch.randn(HIDDEN, device=dev, dtype=bf)
    w_fc = torch.randn(FFN, HIDDEN, device=dev, dtype=bf) * 0.05
    b_fc = torch.randn(FFN, device=dev, dtype=bf) * 0.1
    wte = torch.randn(VOCAB, HIDDEN, device=dev, dtype=bf) * 0.05
    ids = (torch.arange(TOKENS, device=dev) * 7919 % VOCAB).to(torch.int32)
    softmax_out = torch.empty_like(scores)
    qh, kh, vh = (torch.randn(1, HEADS, TOKENS, HIDDEN // HEADS, device=dev, dtype=bf) for _ in range(3))
    qkv = torch.randn(TOKENS, 3 * HIDDEN, device=dev, dtype=bf)
    wte_padded = torch.randn(VOCAB + 7, HIDDEN, device=dev, dtype=bf) * 0.05
    w_attn, b_attn = torch.randn(3 * HIDDEN, HIDDEN, device=dev, dtype=bf) * 0.05, torch.randn(3 * HIDDEN, device=dev, dtype=bf)
    h_ffn = torch.randn(TOKENS, FFN, device=dev, dtype=bf)
    w_proj, b_proj = torch.randn(HIDDEN, FFN, device=dev, dtype=bf) * 0.05, torch.randn(HIDDEN, device=dev, dtype=bf)

    def attention_packed():
        q, k, v = qkv.view(1, TOKENS, 3, HEADS, HIDDEN // HEADS).permute(2, 0, 3, 1, 4).unbind(0)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return o.transpose(1, 2).reshape(TOKENS, HIDDEN)
    ops = {
        "layer_norm": (lambda: F.layer_norm(x, (HIDDEN,), gamma, beta, 1e-5), 200),
        "softmax": (lambda: torch.softmax(scores, dim=-1, out=softmax_out), 200),
        "linear_gelu": (lambda: F.gelu(F.linear(x, w_fc, b_fc), approximate="tanh"), 200),
        "lm_head": (lambda: F.linear(x, wte), 50),
        "embedding": (lambda: F.embedding(ids, wte), 200),
        "attention": (lambda: F.scaled_dot_product_attention(qh, kh, vh, is_causal=True), 200),
        "attention_packed": (attention_packed, 200),
        "lm_head_padded": (lambda: F.linear(x, wte_padded), 50),
        "c_attn": (lambda: F.linear(x, w_attn, b_attn), 200),
        "mlp_proj_residual": (lambda: F.linear(h_ffn, w_proj, b_proj) + x, 200),
    }
    out, summary = {}, {}
    with torch.inference_mode():
        for name, (fn, runs) in ops.items():
            try:
                out[name] = {"torch": measure(fn, runs), "torch_graph": measure(graphed(fn), runs)}
            except Exception as e:  # recorded, not fatal: the other rows still count
                log(f"[op.{name}] failed: {traceback.format_exc()}")
                out[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
                continue
            log(f"[op.{name}] torch {out[name]['torch']['gpu_us']} us, graphed {out[name]['torch_graph']['gpu_us']} us")
            for variant, t in out[name].items():
                for metric in ("gpu_us", "host_us", "wall_us"):
                    summary[f"op.{name}.{variant}.{metric.replace('gpu_us', 'us')}"] = finite_or_none(t[metric])
    result = {"gpu": torch.cuda.get_device_name(), "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"),
              "torch": torch.__version__, "shapes": "GPT-2 prefill: 512 tokens, hidden 768, ffn 3072, 12 heads, vocab 50257, bf16",
              "ops": out}
    print(json.dumps(result, indent=1))
    if args.summary:
        summary["gpu"], summary["date"] = result["gpu"], result["date"]
        merge_summary(args.summary, summary)


if __name__ == "__main__":
    main()
