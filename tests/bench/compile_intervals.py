#!/usr/bin/env python3
"""Compile-time cost of planning interval sets: for each MiniMalloc CSV (id,lower,upper,size),
writes a C++ file that plans it in a constexpr variable (assign_offsets with the compile-time
search budget) and times `-c` with nvcc and g++. Prints JSON: seconds, peak RSS and the
arena / lower bound ratio reached at compile time (read back by running the g++ build).

  compile_intervals.py [--include DIR] file.csv ...
"""
import argparse, json, os, re, subprocess, sys, tempfile, time

FLAGS = {
    "nvcc": ["nvcc", "-std=c++20", "-x", "cu", "-Xcudafe", "--max_cost_constexpr_call=2000000000",
             "-Xcompiler", "-fconstexpr-ops-limit=2000000000"],
    "g++": ["g++", "-std=c++20", "-fconstexpr-ops-limit=2000000000", "-fconstexpr-loop-limit=100000000"],
}

def source(csv):
    rows = [l.strip().split(",") for l in open(csv).read().splitlines()[1:] if l.strip()]
    body = ",\n".join(f"    {{{r[1]}, {int(r[2]) - 1}, {r[3]}, 0}}" for r in rows)
    return len(rows), f"""#include <ctgraph/passes/offsets.hpp>
#include <cstdio>
constexpr auto ratio = [] {{
  ctg::interval xs[] = {{
{body}}};
  std::size_t arena = ctg::assign_offsets(xs);
  return double(arena) / double(ctg::lower_bound(xs));
}}();
static_assert(ratio >= 1.0);
int main() {{ std::printf("%.4f\\n", ratio); }}
"""

def timed(cmd):
    """Wall seconds and the peak RSS (MB) of the largest process of the compiler's tree."""
    t0 = time.monotonic()
    p = subprocess.run(["/usr/bin/time", "-f", "__rss_kb__ %M"] + cmd, capture_output=True, text=True)
    dt = time.monotonic() - t0
    m = re.search(r"__rss_kb__ (\d+)", p.stderr)
    return p.returncode == 0, dt, int(m.group(1)) / 1024.0 if m else None, p.stderr[-2000:]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--include", default=os.path.join(os.path.dirname(__file__), "..", "..", "include"))
    ap.add_argument("csv", nargs="+")
    a = ap.parse_args()
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for csv in a.csv:
            n, src = source(csv)
            path = os.path.join(tmp, "plan.cpp")
            open(path, "w").write(src)
            for name, flags in FLAGS.items():
                ok, dt, rss, err = timed(flags + ["-I", a.include, "-c", path, "-o", os.path.join(tmp, "plan.o")])
                out.append({"file": os.path.basename(csv), "intervals": n, "compiler": name, "ok": ok,
                            "seconds": round(dt, 2), "peak_rss_mb": rss and round(rss), "error": None if ok else err})
            exe = os.path.join(tmp, "plan")
            subprocess.run(FLAGS["g++"] + ["-I", a.include, path, "-o", exe], check=True)
            ratio = float(subprocess.run([exe], capture_output=True, text=True, check=True).stdout)
            for r in out[-2:]:
                r["compile_time_ratio"] = ratio
    json.dump(out, sys.stdout, indent=2)
    print()

if __name__ == "__main__":
    main()
