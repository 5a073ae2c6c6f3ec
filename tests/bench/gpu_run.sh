#!/usr/bin/env bash
# One GPU machine session, in two steps (each fits one 10-minute call), from the repository root:
#   tests/bench/gpu_run.sh test    build (cuda preset, sm_90), the GPU tests (ctest -L gpu, full
#                                  output), examples 02/03/05, all_reduce_bench
#   tests/bench/gpu_run.sh bench   runtime_bench, runtime_baseline, buckets_bench (a plan family over
#                                  35 sizes against 35 executors) and torch_bench.py one after the
#                                  other, each merging its numbers into tests/bench/results/summary.json
#   tests/bench/gpu_run.sh family  plan families of real models: buckets_gpt2_bench (GPT-2 over 4
#                                  prompt lengths) and buckets_decode_bench (a Llama-style decode
#                                  step over batch 1, 4, 16), each merging into summary.json
#   tests/bench/gpu_run.sh llama   the Llama reference files (llama_reference.py; its PyTorch decode
#                                  timings unless SKIP_TORCH is set), then examples/08_llama_decode
#                                  against them; both merge into summary.json. TESTS as for gpt2.
#   tests/bench/gpu_run.sh gpt2    the GPT-2 reference files (gpt2_reference.py; its PyTorch timings
#                                  unless SKIP_TORCH is set), examples/07_gpt2 against them, then
#                                  ops_bench and torch_ops.py; all merge into summary.json. TESTS, a
#                                  doctest filter (e.g. "*attention*"), first runs those GPU tests.
# Logs and results go to $OUT (default ./gpu_out); JSON results are named <tag>_<what>_<date>.json
# (TAG, default h200; DATE, default today, UTC). BUILD is the build folder (default build/cuda; one
# outside the checkout survives a re-sent working tree). NVLink multicast stays off.
set -uo pipefail
step=${1:?usage: gpu_run.sh test|bench|family|gpt2|llama}
OUT=${OUT:-$PWD/gpu_out}
TAG=${TAG:-h200}
DATE=${DATE:-$(date -u +%F)}
RESULTS=tests/bench/results
BUILD=${BUILD:-build/cuda}
# The GPU machine's NCCL 2.28.9 is the one inside PyTorch's environment (the system one is older).
export NCCL_ROOT=${NCCL_ROOT:-/opt/torch/.venv/lib/python3.12/site-packages/nvidia/nccl}
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RESULTS"

build() {
  local cupti=() lib
  # CUPTI ships with the CUDA toolkit (and in PyTorch's environment); name it if CMake may miss it.
  lib=$(find /usr/local/cuda/ /usr/local/cuda/extras/ /opt/torch/.venv/lib/python3.12/site-packages/nvidia/ \
          -name 'libcupti.so*' 2>/dev/null | sort | head -1)
  echo "CUPTI: ${lib:-not found}"
  [ -n "$lib" ] && cupti=(-DCTGRAPH_CUPTI_LIBRARY="$lib")
  # nlohmann_json (for the safetensors tests) may be carried in .deps/usr (see the README).
  local deps=()
  [ -d .deps/usr ] && deps=(-DCMAKE_PREFIX_PATH="$PWD/.deps/usr")
  cmake --preset cuda -B "$BUILD" -DCMAKE_CUDA_ARCHITECTURES=90 "${cupti[@]}" "${deps[@]}" >"$OUT/configure.txt" 2>&1 || { tail -30 "$OUT/configure.txt"; return 1; }
  cmake --build "$BUILD" --target "$@" -- -k 0 >"$OUT/build.txt" 2>&1
  grep -E -B3 -A12 " error|FAILED" "$OUT/build.txt" | head -80
  tail -3 "$OUT/build.txt"
}

case "$step" in
  test)
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv
    build ctgraph_gpu_tests 01_single_kernel 02_mlp 03_round_trip 04_user_op 05_tp_mlp 07_gpt2 08_llama_decode all_reduce_bench \
      runtime_bench runtime_baseline buckets_bench buckets_gpt2_bench
    ctest --test-dir "$BUILD" -L gpu -V --timeout 240 >"$OUT/ctest_gpu.txt" 2>&1
    grep -E "tests passed|Test +#|test cases|assertions|allocation calls|allocated|ncclMemAlloc|Passed|Failed|Skipped" \
      "$OUT/ctest_gpu.txt" | tail -40
    for e in 02_mlp 03_round_trip 05_tp_mlp; do
      echo "== $e" && timeout 120 "$BUILD"/examples/$e --require-gpu | grep -v "^ \{2,\}[0-9]" | tail -8
    done >"$OUT/examples.txt" 2>&1
    tail -30 "$OUT/examples.txt"
    timeout 150 "$BUILD"/tests/bench/all_reduce_bench >"$RESULTS/${TAG}x1_all_reduce_$DATE.json" 2>"$OUT/all_reduce.txt"
    echo "all_reduce_bench: $?"
    ;;
  bench)
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
    build runtime_bench runtime_baseline buckets_bench >/dev/null
    S=$RESULTS/summary.json
    timeout 150 "$BUILD"/tests/bench/runtime_bench --summary "$S" >"$RESULTS/${TAG}_runtime_$DATE.json" 2>"$OUT/bench_log.txt"
    echo "runtime_bench: $?"
    timeout 150 "$BUILD"/tests/bench/runtime_baseline --summary "$S" >"$RESULTS/${TAG}_runtime_baseline_$DATE.json" 2>>"$OUT/bench_log.txt"
    echo "runtime_baseline: $?"
    timeout 150 "$BUILD"/tests/bench/buckets_bench --summary "$S" >"$RESULTS/${TAG}_buckets_$DATE.json" 2>"$OUT/buckets_log.txt"
    echo "buckets_bench: $?"
    grep -E "\[buckets\] (instantiate|size)|rror" "$OUT/buckets_log.txt" | tail -40
    [ -n "${SKIP_TORCH:-}" ] || timeout 300 python3 tests/bench/torch_bench.py --summary "$S" >"$RESULTS/${TAG}_torch_$DATE.json" 2>>"$OUT/bench_log.txt"
    echo "torch_bench: $?"
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda)"
    grep -E "gpu_us|updated|rror|WARN" "$OUT/bench_log.txt" | tail -30
    cat "$S"
    ;;
  family)
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
    build buckets_gpt2_bench buckets_decode_bench >/dev/null
    S=$RESULTS/summary.json
    timeout 200 "$BUILD"/tests/bench/buckets_gpt2_bench --summary "$S" >"$RESULTS/${TAG}_buckets_gpt2_$DATE.json" 2>"$OUT/buckets_gpt2_log.txt"
    echo "buckets_gpt2_bench: $?"
    grep -E "\[buckets_gpt2\]|rror" "$OUT/buckets_gpt2_log.txt" | tail -20
    timeout 200 "$BUILD"/tests/bench/buckets_decode_bench --summary "$S" >"$RESULTS/${TAG}_buckets_decode_$DATE.json" 2>"$OUT/buckets_decode_log.txt"
    echo "buckets_decode_bench: $?"
    grep -E "\[buckets_decode\]|rror" "$OUT/buckets_decode_log.txt" | tail -20
    ;;
  llama)
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
    build 08_llama_decode ${TESTS:+ctgraph_gpu_tests}
    S=$RESULTS/summary.json
    [ -n "${TESTS:-}" ] && "$BUILD"/tests/ctgraph_gpu_tests -tc="$TESTS" 2>&1 | tail -15
    LLAMA_DIR=${LLAMA_DIR:-/tmp/llama}
    timeout 300 python3 tests/bench/llama_reference.py --out "$LLAMA_DIR" --skip-bench --summary "$S" \
      >"$RESULTS/${TAG}_llama_reference_files_$DATE.json" 2>"$OUT/llama_reference_log.txt"
    echo "llama_reference (files): $?"; grep -v Warning "$OUT/llama_reference_log.txt" | tail -4
    timeout 200 "$BUILD"/examples/08_llama_decode --require-gpu --dir "$LLAMA_DIR" --json "$RESULTS/${TAG}_llama_ctgraph_$DATE.json" \
      | grep -v "^ \{2,\}[0-9]" | tail -24
    echo "08_llama_decode: ${PIPESTATUS[0]}"
    [ -f "$RESULTS/${TAG}_llama_ctgraph_$DATE.json" ] && python3 -c "import sys, json; sys.path.insert(0, 'tests/bench')
from torch_bench import merge_summary; merge_summary('$S', json.load(open('$RESULTS/${TAG}_llama_ctgraph_$DATE.json')))"
    if [ -z "${SKIP_TORCH:-}" ]; then
      timeout 420 python3 tests/bench/llama_reference.py --bench-only --summary "$S" \
        >"$RESULTS/${TAG}_llama_torch_$DATE.json" 2>>"$OUT/llama_reference_log.txt"
      echo "llama_reference (PyTorch timings): $?"; grep -E "tok_s|error" "$RESULTS/${TAG}_llama_torch_$DATE.json" | head
    fi
    ;;
  gpt2)
    nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,power.draw --format=csv
    build 07_gpt2 ops_bench ${TESTS:+ctgraph_gpu_tests}
    S=$RESULTS/summary.json
    [ -n "${TESTS:-}" ] && "$BUILD"/tests/ctgraph_gpu_tests -tc="$TESTS" 2>&1 | tail -15
    GPT2_DIR=${GPT2_DIR:-/tmp/gpt2}
    timeout 400 python3 tests/bench/gpt2_reference.py --out "$GPT2_DIR" ${SKIP_TORCH:+--skip-bench} --summary "$S" \
      >"$RESULTS/${TAG}_gpt2_reference_$DATE.json" 2>"$OUT/gpt2_reference_log.txt"
    echo "gpt2_reference: $?"; tail -5 "$OUT/gpt2_reference_log.txt"
    timeout 120 "$BUILD"/examples/07_gpt2 --require-gpu --dir "$GPT2_DIR" --json "$RESULTS/${TAG}_gpt2_ctgraph_$DATE.json" \
      | grep -v "^ \{2,\}[0-9]" | tail -12
    echo "07_gpt2: ${PIPESTATUS[0]}"
    [ -f "$RESULTS/${TAG}_gpt2_ctgraph_$DATE.json" ] && python3 -c "import sys, json; sys.path.insert(0, 'tests/bench')
from torch_bench import merge_summary; merge_summary('$S', json.load(open('$RESULTS/${TAG}_gpt2_ctgraph_$DATE.json')))"
    timeout 120 "$BUILD"/tests/bench/ops_bench --summary "$S" >"$RESULTS/${TAG}_ops_$DATE.json" 2>"$OUT/ops_log.txt"
    echo "ops_bench: $?"; grep "\[op" "$OUT/ops_log.txt"
    (cd tests/bench && timeout 150 python3 torch_ops.py --summary "../../$S") >"$RESULTS/${TAG}_torch_ops_$DATE.json" 2>>"$OUT/ops_log.txt"
    echo "torch_ops: $?"; grep -A4 "\[op\|Error" "$OUT/ops_log.txt" | tail -30
    # Where the prefill's time goes, per kernel, where Nsight Systems is installed.
    NSYS=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems*/bin/nsys 2>/dev/null | head -1)
    if [ -n "$NSYS" ]; then
      "$NSYS" profile -t cuda --cuda-graph-trace=node -f true -o /tmp/gpt2_prof "$BUILD"/examples/07_gpt2 --dir "$GPT2_DIR" >/dev/null 2>&1
      "$NSYS" stats -q -r cuda_gpu_kern_sum,cuda_gpu_mem_time_sum --format csv /tmp/gpt2_prof.nsys-rep >"$OUT/gpt2_kernels.csv" 2>&1
      echo "nsys: $?"; cut -c1-220 "$OUT/gpt2_kernels.csv" | head -40
    else
      echo "nsys: not installed"
    fi
    ;;
esac
cp "$RESULTS"/*"$DATE"*.json "$OUT"/ 2>/dev/null
[ -f "$RESULTS/summary.json" ] && cp "$RESULTS/summary.json" "$OUT"/
exit 0
