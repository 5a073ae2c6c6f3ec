#!/usr/bin/env python3
"""PyTorch counterpart of tests/bench/runtime.cu and runtime_baseline.cu: the same four workloads
(same names) in PyTorch eager and torch.compile(mode="reduce-overhead"), timed the same way.
Prints one JSON object on stdout (progress on stderr); exits 77 where no GPU is present.
`--summary PATH` also merges "<workload>.torch_<variant>.<metric>" into PATH
(tests/bench/results/summary.json, one flat object; see tests/bench/harness.hpp).

Workloads:  mlp16 / mlp4096  8 x relu(x @ w), bf16, x [T,4096], w [4096,4096], T = 16 / 4096
            ew64             64 f32 elementwise ops on 1M floats: by i % 4 relu, * 0.5,
                             + previous-but-one tensor, gelu (tanh approximation)
            roundtrip        f32 [16,1024] @ [1024,1024] -> host -> numpy square -> device -> @ w,
                             twice in eager: naive (.cpu(), .cuda(): pageable memory, new tensors
                             every run; the "eager" row) and careful ("pinned": preallocated
                             pinned host buffers, non_blocking copies, matmuls into preallocated
                             outputs, one stream synchronisation before the host op)
Timing: 20 warm-up runs (after the first, compiling call); 5 trials of K runs; medians, per run:
  gpu_us            CUDA events around the K runs of a trial
  host_us           wall time of the K calls with no synchronisation inside
  wall_us           wall time per run when synchronising after every run
  host_overhead_us  wall_us - gpu_us

Run: python3 tests/bench/torch_bench.py [--summary tests/bench/results/summary.json]
"""
import argparse
import datetime
import json
import statistics
import sys
import time
import traceback

import numpy as np

import summary_file  # tests/bench/summary_file.py

try:
    import torch
    from torch import nn
except ImportError as e:  # pragma: no cover
    print(f"torch_bench: PyTorch is not installed ({e})", file=sys.stderr)
    sys.exit(1)

WARMUP = 20
TRIALS = 5
HIDDEN = 4096
LAYERS = 8
EW_ELEMENTS = 1 << 20
EW_STEPS = 64
RT_M, RT_K = 16, 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def uniform(shape, gen, scale=1.0):
    """Uniform in [-scale, scale], f32, on the GPU."""
    return (torch.rand(shape, device="cuda", generator=gen, dtype=torch.float32) * 2 - 1) * scale


def static_buffers(module):
    """Marks the module's buffers as having fixed addresses, so that cudagraphs does not copy
    them into static inputs on every replay (the data is the module's, like ctgraph's bound
    tensors)."""
    for t in module.buffers():
        try:
            torch._dynamo.mark_static_address(t)
        except Exception:  # an API that moved: buffers are then handled as compile decides
            pass


def finite_or_none(v):
    return v if v == v and v not in (float("inf"), float("-inf")) else None


class MLP(nn.Module):
    def __init__(self, tokens, gen):
        super().__init__()
        self.register_buffer("x", uniform((tokens, HIDDEN), gen).to(torch.bfloat16))
        for i in range(LAYERS):
            self.register_buffer(f"w{i}", uniform((HIDDEN, HIDDEN), gen, 0.03).to(torch.bfloat16))
        static_buffers(self)

    def forward(self):
        y = self.x
        for i in range(LAYERS):
            y = torch.relu(y @ getattr(self, f"w{i}"))
        return y


class EW(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.register_buffer("x", uniform((EW_ELEMENTS,), gen))
        static_buffers(self)

    def forward(self):
        t = [self.x]  # t[-1] is the previous tensor, t[-2] the previous-but-one
        for i in range(EW_STEPS):
            x = t[-1]
            r = i % 4
            if r == 0:
                y = torch.relu(x)
            elif r == 1:
                y = x * 0.5
            elif r == 2:
                y = x + t[-2]
            else:
                y = torch.nn.functional.gelu(x, approximate="tanh")
            t.append(y)
        return t[-1]


class RoundTrip(nn.Module):
    def __init__(self, gen):
        super().__init__()
        self.register_buffer("x", uniform((RT_M, RT_K), gen))
        self.register_buffer("w", uniform((RT_K, RT_K), gen, 0.05))
        static_buffers(self)

    def forward(self):
        h = self.x @ self.w
        on_host = h.cpu()
        squared = torch.from_numpy(np.square(on_host.numpy()))
        return squared.cuda() @ self.w


class RoundTripPinned(nn.Module):
    """The round trip as a careful PyTorch programmer writes it: every buffer allocated once (host
    buffers pinned), copies with non_blocking=True, one synchronisation before the host op. The
    next run's device-to-host copy is ordered after this run's host-to-device copy on the stream,
    and the host waits for it before overwriting the pinned buffer."""

    def __init__(self, source):
        super().__init__()
        self.x, self.w = source.x, source.w
        self.h = torch.empty_like(self.x)
        self.back = torch.empty_like(self.x)
        self.y = torch.empty_like(self.x)
        self.on_host = torch.empty(self.x.shape, dtype=self.x.dtype, pin_memory=True)
        self.squared = torch.empty(self.x.shape, dtype=self.x.dtype, pin_memory=True)
        self.on_host_np, self.squared_np = self.on_host.numpy(), self.squared.numpy()

    def forward(self):
        torch.matmul(self.x, self.w, out=self.h)
        self.on_host.copy_(self.h, non_blocking=True)
        torch.cuda.current_stream().synchronize()
        np.square(self.on_host_np, out=self.squared_np)
        self.back.copy_(self.squared, non_blocking=True)
        return torch.matmul(self.back, self.w, out=self.y)


def measure(fn, k):
    for _ in range(WARMUP):
        fn()
    torch.cuda.synchronize()
    start = torch.cuda.Event(enable_timing=True)
    stop = torch.cuda.Event(enable_timing=True)
    gpu, host, wall = [], [], []
    for _ in range(TRIALS):
        start.record()
        for _ in range(k):
            fn()
        stop.record()
        stop.synchronize()
        gpu.append(start.elapsed_time(stop) * 1000.0 / k)
    for _ in range(TRIALS):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
        t1 = time.perf_counter()
        torch.cuda.synchronize()
        host.append((t1 - t0) * 1e6 / k)
    for _ in range(TRIALS):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(k):
            fn()
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        wall.append((t1 - t0) * 1e6 / k)
    r = {"gpu_us": statistics.median(gpu), "host_us": statistics.median(host), "wall_us": statistics.median(wall)}
    r["host_overhead_us"] = r["wall_us"] - r["gpu_us"]
    return {key: round(v, 3) for key, v in r.items()}


def cudagraph_skips():
    try:
        from torch._dynamo.utils import counters
        return int(counters["inductor"]["cudagraph_skips"])
    except Exception:
        return None


def ratio(a, b):
    return round(a / b, 4) if b > 0 else None


def time_compiled(once, k, reference):
    """Times a compiled callable: its first (compiling) call alone, 3 more calls (cudagraph trees
    warm up, then record), then measure(); its output's largest difference from `reference`."""
    skips_before = cudagraph_skips()
    t0 = time.perf_counter()
    once()
    torch.cuda.synchronize()
    compile_s = time.perf_counter() - t0
    for _ in range(3):
        once()
    out = once().float().clone()
    torch.cuda.synchronize()
    timing = measure(once, k)
    timing["first_call_s"] = round(compile_s, 3)
    skips_after = cudagraph_skips()
    if skips_before is not None and skips_after is not None:
        timing["cudagraph_skips"] = skips_after - skips_before
    timing["max_abs_diff_vs_eager"] = finite_or_none((out - reference.float()).abs().max().item())
    return timing


def bench(name, module, k, careful=None):
    log(f"[{name}] eager")
    module.eval()
    eager_out = module().clone()
    torch.cuda.synchronize()
    result = {"runs_per_trial": k, "eager": measure(module, k)}
    result["output_finite"] = bool(torch.isfinite(eager_out).all().item())
    result["output_mean_abs"] = finite_or_none(round(eager_out.float().abs().mean().item(), 6))
    if careful is not None:
        log(f"[{name}] pinned (careful eager)")
        out = careful().clone()
        torch.cuda.synchronize()
        result["pinned"] = measure(careful, k)
        result["pinned"]["max_abs_diff_vs_eager"] = finite_or_none((out.float() - eager_out.float()).abs().max().item())

    log(f"[{name}] torch.compile(mode='reduce-overhead')")
    try:
        compiled = torch.compile(module, mode="reduce-overhead", dynamic=False)

        def once():
            torch.compiler.cudagraph_mark_step_begin()
            return compiled()

        timing = time_compiled(once, k, eager_out)
        result["compile"] = timing
        result["compile_over_eager"] = {key: ratio(timing[key], result["eager"][key])
                                        for key in ("gpu_us", "host_us", "wall_us")}
    except Exception as e:  # report, do not crash
        log(traceback.format_exc())
        result["compile"] = {"error": f"{type(e).__name__}: {e}"[:2000]}
    finally:
        torch.cuda.synchronize()
    log(f"[{name}] eager {result['eager']['gpu_us']} us, compile {result['compile'].get('gpu_us')} us (gpu, per run)")
    return result


def summary_entries(out):
    """workload.torch_<variant>.<metric> -> number, plus gpu and date."""
    entries = {"gpu": out["gpu"], "date": out["date"]}
    names = {"us": "gpu_us", "host_us": "host_us", "wall_us": "wall_us", "overhead_us": "host_overhead_us"}
    for workload, result in out["workloads"].items():
        for variant in ("eager", "compile", "pinned"):
            timing = result.get(variant)
            if not isinstance(timing, dict) or "gpu_us" not in timing:
                continue
            for metric, key in names.items():
                entries[f"{workload}.torch_{variant}.{metric}"] = timing[key]
            if variant == "compile":  # the name the issues use: torch.compile(mode="reduce-overhead"), GPU time
                entries[f"{workload}.torch_compile_ro.gpu_us"] = timing["gpu_us"]
    return entries


def merge_summary(path, entries):
    summary_file.merge(path, entries)
    log(f"torch_bench: updated {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary", help="merge this run's numbers into this flat JSON file")
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("torch_bench: no GPU: skipped", file=sys.stderr)
        return 77
    torch.set_float32_matmul_precision("highest")  # plain f32 matmul, no TF32 (as ctgraph)
    gen = torch.Generator(device="cuda")
    gen.manual_seed(0)
    out = {
        "gpu": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "date": datetime.date.today().isoformat(),
        "warmup_runs": WARMUP,
        "trials": TRIALS,
        "statistic": "median over trials, per run",
        "workloads": {},
    }
    workloads = [
        ("mlp16", lambda: MLP(16, gen), 200),
        ("mlp4096", lambda: MLP(4096, gen), 20),
        ("ew64", lambda: EW(gen), 200),
        ("roundtrip", lambda: RoundTrip(gen), 200),
    ]
    for name, make, k in workloads:
        module = careful = None
        try:
            with torch.no_grad():  # the data: ordinary tensors, made outside inference mode
                module = make()
                careful = RoundTripPinned(module) if name == "roundtrip" else None
            with torch.inference_mode():
                out["workloads"][name] = bench(name, module, k, careful)
        except Exception as e:
            log(traceback.format_exc())
            out["workloads"][name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        finally:
            module = careful = None
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    print(json.dumps(out, indent=1))
    if args.summary:
        merge_summary(args.summary, summary_entries(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
