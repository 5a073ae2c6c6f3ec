#!/usr/bin/env python3
"""Compile-time benchmark: generates graphs of several sizes (gen_graph.py; sizes count compute
nodes) and compiles each, compile only, with g++ and nvcc. Prints JSON: a list of
{nodes, tensors, compiler, seconds, peak_rss_mb, ok, flags, refs, attempts, error}.

A compile that fails on a constant-evaluation budget is retried with the compiler's escape hatch
(nvcc: -Xcudafe --max_cost_constexpr_call=N for its EDG front ends, and -Xcompiler
-fconstexpr-ops-limit=N,-fconstexpr-loop-limit=N for its host g++; g++: -fconstexpr-ops-limit=N
-fconstexpr-loop-limit=N), raised a step at a time; `flags` says what the last attempt used.
A graph that nvcc rejects because of ref<> (see gen_graph.py --no-refs) is retried without refs
(`refs: false`). nodes == 0 is the baseline: a file that only includes <ctgraph/planning.hpp>
(what a planning translation unit includes).
--proof adds, for every size, a row whose file also proves its plan (static_assert(!check_plan(p)));
rows carry `proof`. --value adds rows (`value: true`) for the same graphs written as a
ctg::graph_value (gen_graph.py --value). --repeat R keeps the fastest of R compiles (this box is
shared and noisy).

peak_rss_mb is ru_maxrss from wait4 on the compiler driver: the largest single process of its
tree (cc1plus, cudafe++, cicc, ...), not their sum.
"""
import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import gen_graph  # noqa: E402

NVCC_BUDGET = re.compile(r"excessive constexpr function call complexity")
GXX_OPS = re.compile(r"evaluation operation count exceeds limit")  # g++ quotes ‘constexpr’
GXX_LOOP = re.compile(r"loop iteration count exceeds limit")
CTG_BUDGET = re.compile(r"more tensors than plan within the compilers' default constexpr budgets")
REF_BUG = re.compile(r"an input of this node is not a tensor of the graph")

# Escape-hatch ladders (defaults: nvcc's EDG budget is internal; g++ 2^25 ops, 2^18 iterations).
NVCC_COSTS = [10**7, 10**8, 10**9]
GXX_OPS_LIMITS = [2**28, 2**31, 2**34]
GXX_LOOP_LIMITS = [2**22, 2**26, 2**30]


def find_nvcc():
    return shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"


INCLUDE = os.path.join(ROOT, "include")


def command(compiler, src, flags):
    inc = INCLUDE
    if compiler == "g++":
        return ["g++", "-std=c++20", "-I", inc, *flags, "-c", src, "-o", os.devnull]
    if compiler == "nvcc":
        return [find_nvcc(), "-std=c++20", "-x", "cu", "-I", inc, *flags, "-c", src, "-o", os.devnull]
    raise SystemExit(f"unknown compiler {compiler}")


def compile_once(cmd, timeout):
    """Runs one compile, reaping the child with wait4 for its own rusage; (ok, seconds, peak_rss_mb, log)."""
    t0 = time.monotonic()
    with tempfile.TemporaryFile("w+") as errf:
        pid = os.posix_spawnp(cmd[0], cmd, os.environ, file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_DUP2, errf.fileno(), 2),
        ])
        deadline = t0 + timeout
        while True:
            wpid, status, ru = os.wait4(pid, os.WNOHANG)
            if wpid == pid:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                _, status, ru = os.wait4(pid, 0)
                break
            time.sleep(0.01)
        seconds = time.monotonic() - t0
        errf.seek(0)
        err = errf.read()
    rc = os.waitstatus_to_exitcode(status)
    if seconds > timeout:
        err += f"\n[run.py] timed out after {timeout} s"
    return rc == 0, seconds, ru.ru_maxrss / 1024.0, err


def first_error(log):
    """The first error line and the notes right after it (nvcc puts the cause in a note)."""
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "error" in line:
            notes = [l.strip() for l in lines[i + 1:i + 8] if "note" in l][:2]
            return " | ".join([line.strip()[:300]] + [n[:200] for n in notes])
    return lines[-1].strip()[:300] if lines else ""


def measure(compiler, nodes, workdir, timeout, refs=True, proof=False, repeat=1, value=False):
    if nodes == 0:
        src = os.path.join(workdir, "baseline.cpp")
        with open(src, "w") as f:
            f.write("#include <ctgraph/planning.hpp>\nint main() {}\n")
        tensors = 0
    else:
        src = os.path.join(workdir, f"graph_{nodes}{'' if refs else '_norefs'}{'_proof' if proof else ''}{'_value' if value else ''}.cpp")
        text, params = gen_graph.generate(nodes, refs=refs, proof=proof, value=value)
        with open(src, "w") as f:
            f.write(text)
        tensors = nodes + params + 1
    # Escape-hatch levels: EDG (cudafe++/cicc, nvcc only) and g++ (g++ itself, or nvcc's host compiler).
    edg, gxx, attempts = 0, 0, []
    while True:
        flags = ["-DCTG_RAISED_CONSTEXPR_LIMITS"] if edg or gxx else []
        if edg:
            flags += ["-Xcudafe", f"--max_cost_constexpr_call={NVCC_COSTS[edg - 1]}"]
        if gxx:
            limits = [f"-fconstexpr-ops-limit={GXX_OPS_LIMITS[gxx - 1]}", f"-fconstexpr-loop-limit={GXX_LOOP_LIMITS[gxx - 1]}"]
            flags += limits if compiler == "g++" else ["-Xcompiler", ",".join(limits)]
        ok, secs, rss, log = compile_once(command(compiler, src, flags), timeout)
        for _ in range(repeat - 1 if ok else 0):
            _, again, rss2, _ = compile_once(command(compiler, src, flags), timeout)
            secs, rss = min(secs, again), max(rss, rss2)
        att = {"flags": flags, "refs": refs, "seconds": round(secs, 3), "peak_rss_mb": round(rss, 1), "ok": ok}
        if not ok:
            att["error"] = first_error(log)
        attempts.append(att)
        print(f"[run.py] {compiler:4} {nodes:5} nodes refs={refs!s:5} {' '.join(flags) or '-':60} "
              f"{secs:7.2f} s {rss:7.1f} MB {'ok' if ok else 'FAIL: ' + att['error'][:120]}", file=sys.stderr)
        if ok:
            break
        if compiler == "nvcc" and refs and not value and REF_BUG.search(log):
            return measure_retry_norefs(compiler, nodes, workdir, timeout, attempts, proof, repeat)
        if CTG_BUDGET.search(log) and not edg and not gxx:  # ctgraph's own guard: raise both
            edg, gxx = (1 if compiler == "nvcc" else 0), 1
        elif compiler == "nvcc" and NVCC_BUDGET.search(log) and edg < len(NVCC_COSTS):
            edg += 1
        elif (GXX_OPS.search(log) or GXX_LOOP.search(log)) and gxx < len(GXX_OPS_LIMITS):
            gxx += 1
        else:
            break
    last = attempts[-1]
    return {"nodes": nodes, "tensors": tensors, "compiler": compiler, "seconds": last["seconds"],
            "peak_rss_mb": last["peak_rss_mb"], "ok": last["ok"], "flags": last["flags"], "refs": refs,
            "error": last.get("error"), "attempts": attempts, "proof": proof, "value": value}


def measure_retry_norefs(compiler, nodes, workdir, timeout, attempts, proof, repeat):
    r = measure(compiler, nodes, workdir, timeout, refs=False, proof=proof, repeat=repeat)
    r["attempts"] = attempts + r["attempts"]
    return r


def markdown(results):
    rows = ["| nodes | tensors | what | compiler | seconds | peak RSS (MB) | ok | flags / notes |",
            "|---:|---:|---|---|---:|---:|---|---|"]
    for r in results:
        what = "headers" if not r["nodes"] else ("plan + proof" if r.get("proof") else "plan")
        what += " (graph_value)" if r.get("value") else ""
        notes = " ".join(r["flags"]) or "-"
        if not r["refs"]:
            notes += " (graph without ref<>)"
        if not r["ok"]:
            notes += f"; error: {r['error']}"
        rows.append(f"| {r['nodes'] or 'baseline'} | {r['tensors']} | {what} | {r['compiler']} | {r['seconds']:.2f} | "
                    f"{r['peak_rss_mb']:.0f} | {'yes' if r['ok'] else '**no**'} | {notes.replace('|', '/')} |")
    return "\n".join(rows) + "\n"


def main(argv=None):
    global INCLUDE
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="16,64,256,1024,4096", help="compute-node counts, comma separated")
    ap.add_argument("--compilers", default="g++,nvcc")
    ap.add_argument("--no-baseline", action="store_true", help="skip the include-only baseline")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per compile")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--keep", help="write the generated sources into this directory and keep them")
    ap.add_argument("--markdown", help="also write a markdown table here")
    ap.add_argument("--proof", action="store_true", help="also measure each size with its proof (check_plan)")
    ap.add_argument("--repeat", type=int, default=1, help="keep the fastest of this many compiles")
    ap.add_argument("--value", action="store_true", help="also measure each size written as a ctg::graph_value")
    ap.add_argument("--include", default=None,
                    help="ctgraph's include directory (default: this checkout's; e.g. a `git archive` snapshot)")
    a = ap.parse_args(argv)
    if a.include:
        INCLUDE = os.path.abspath(a.include)
    sizes = [int(s) for s in a.sizes.split(",") if s]
    if not a.no_baseline:
        sizes = [0] + sizes
    compilers = [c for c in a.compilers.split(",") if c]
    results = []
    with tempfile.TemporaryDirectory(prefix="ctg_compile_time_") as tmp:
        workdir = a.keep or tmp
        os.makedirs(workdir, exist_ok=True)
        for n in sizes:
            for c in compilers:
                results.append(measure(c, n, workdir, a.timeout, repeat=a.repeat))
                if a.proof and n > 0:
                    results.append(measure(c, n, workdir, a.timeout, proof=True, repeat=a.repeat))
                if a.value and n > 0:
                    results.append(measure(c, n, workdir, a.timeout, repeat=a.repeat, value=True))
                    if a.proof:
                        results.append(measure(c, n, workdir, a.timeout, proof=True, repeat=a.repeat, value=True))
    text = json.dumps(results, indent=1)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(results))
    print(text)
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
