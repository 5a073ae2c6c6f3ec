#!/usr/bin/env python3
"""Compile time of a plan family (issue 15): buckets_bench's model planned at its 35 batch sizes
(tests/bench/buckets_model.hpp), compile only, on this machine. Three translation units:

  family   nvcc: instantiate_family<family> and run(n): 35 plans, 35 member executors
  single   nvcc: instantiate<mlp_at<512>> and run(): the largest member alone, for comparison
  plans    g++:  the 35 plans only (static_assert(family::ok()), the family's arena bytes)

nvcc compiles as the GPU build does (-O3 -DNDEBUG, sm_90); seconds are wall time, peak RSS is the
largest single process of the compiler's tree (ru_maxrss from wait4, as /usr/bin/time -v reports
it). --repeat R keeps the fastest of R compiles (this box is shared and noisy) and the largest RSS.
Writes the rows as JSON (--out) and merges buckets.compile_s and buckets.compile_rss_mb (the
family's), buckets.compile_single_s, buckets.compile_single_rss_mb, buckets.compile_plans_gxx_s
and buckets.compile_plans_gxx_rss_mb into --summary (json.dump(indent=1, sort_keys=True); other
keys kept).

  tests/compile_time/family.py --out tests/compile_time/results_family.json \\
      --summary tests/bench/results/summary.json
"""
import argparse
import datetime
import json
import os
import platform
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "bench"))
import run  # noqa: E402  (compile_once, find_nvcc, first_error)
import summary_file  # noqa: E402

MODEL = os.path.join(ROOT, "tests", "bench", "buckets_model.hpp")

SOURCES = {
    "family": ("nvcc", """#include <ctgraph/runtime.hpp>
#include "{model}"
void family_step(cudaStream_t st, const std::vector<ctg::binding>& b, std::int64_t n) {{
  auto ex = ctg::instantiate_family<buckets_model::family>(st, b);
  ex.run(n);
}}
"""),
    "single": ("nvcc", """#include <ctgraph/runtime.hpp>
#include "{model}"
void single_step(cudaStream_t st, const std::vector<ctg::binding>& b) {{
  auto ex = ctg::instantiate<buckets_model::mlp_at<512>>(st, b);
  ex.run();
}}
"""),
    "plans": ("g++", """#include "{model}"
static_assert(buckets_model::family::ok());
static_assert(buckets_model::family::arena_bytes(ctg::memory_class::device) > 0);
"""),
}


def command(compiler, src):
    inc = ["-I", os.path.join(ROOT, "include")]
    if compiler == "nvcc":
        return [run.find_nvcc(), "-std=c++20", "-O3", "-DNDEBUG", "-x", "cu", "--generate-code=arch=compute_90,code=sm_90",
                *inc, "-c", src, "-o", os.devnull]
    return ["g++", "-std=c++20", "-O3", "-DNDEBUG", *inc, "-c", src, "-o", os.devnull]


def measure(what, workdir, repeat, timeout):
    compiler, text = SOURCES[what]
    src = os.path.join(workdir, f"family_{what}.{'cu' if compiler == 'nvcc' else 'cpp'}")
    with open(src, "w") as f:
        f.write(text.format(model=MODEL))
    secs, rss, ok, err = None, 0.0, True, None
    for _ in range(repeat):
        good, s, r, log = run.compile_once(command(compiler, src), timeout)
        if not good:
            ok, err = False, run.first_error(log)
            break
        secs = s if secs is None else min(secs, s)
        rss = max(rss, r)
    print(f"[family.py] {what:6} {compiler:4} {secs or 0:7.2f} s {rss:7.1f} MB {'ok' if ok else 'FAIL: ' + str(err)[:160]}", file=sys.stderr)
    return {"what": what, "compiler": compiler, "seconds": round(secs or 0, 3), "peak_rss_mb": round(rss, 1), "ok": ok,
            "error": err, "repeat": repeat, "sizes": 35}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2, help="keep the fastest of this many compiles")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per compile")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--summary", help="merge buckets.compile_* into this flat JSON file")
    a = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ctg_family_") as tmp:
        rows = [measure(w, tmp, a.repeat, a.timeout) for w in ("family", "single", "plans")]
    result = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d"), "machine": platform.node(),
              "cpus": os.cpu_count(), "model": "tests/bench/buckets_model.hpp", "rows": rows}
    text = json.dumps(result, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    by = {r["what"]: r for r in rows}
    if a.summary and all(r["ok"] for r in rows):
        summary_file.merge(a.summary, {
            "buckets.compile_s": by["family"]["seconds"], "buckets.compile_rss_mb": by["family"]["peak_rss_mb"],
            "buckets.compile_single_s": by["single"]["seconds"], "buckets.compile_single_rss_mb": by["single"]["peak_rss_mb"],
            "buckets.compile_plans_gxx_s": by["plans"]["seconds"], "buckets.compile_plans_gxx_rss_mb": by["plans"]["peak_rss_mb"],
        })
        print(f"[family.py] updated {a.summary}", file=sys.stderr)
    print(text)
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
