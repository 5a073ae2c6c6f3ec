// buckets_bench: one plan family over 35 batch sizes from 1 to 512 against one executor per size
// (issue 15). Prints one JSON object on stdout (progress on stderr); exits 77 where no GPU is
// present. `--summary PATH` also merges "buckets.<metric>" into PATH (tests/bench/results/summary.json).
//
// Model:   bf16 y [B, 1024] = relu(x [B, 1024] x w1 [1024, 4096]) x w2 [4096, 1024] (the relu in
//          the first matmul's cuBLASLt epilogue: two kernels a step); buckets_model.hpp.
// Sizes:   vLLM-like capture sizes: 1, 2, 4, 8 ... 128 by 8, 144 ... 256 by 16, 288 ... 512 by 32.
// Kernels: both the family's members and the single-size executors run every matmul with
//          cuBLASLt's heuristic's first algorithm (CTGRAPH_MATMUL_KERNEL=cublaslt,
//          CTGRAPH_MATMUL_TUNE=off), so each size runs the same kernels in both and the step
//          ratio measures the family, not a timed kernel choice; their outputs are compared bit
//          for bit (`identical`).
// Measured, after a warm-up that instantiates and runs every size once (lazily loaded kernels
// and cuBLASLt's first-use costs are paid before anything is measured):
//   instantiate_ms  wall time (synchronised) of instantiate_family (35 members, each captured)
//                   and of 35 instantiate<> calls; median of 3 repetitions, alternating; and of
//                   instantiate_family with partition_capture::on_first_use (nothing captured),
//                   then the wall time of the 35 first runs that capture one member each
//   memory          cudaMemGetInfo deltas, after every member or executor ran once: the family
//                   alone, the largest single-size executor alone, all 35 single-size executors;
//                   with the plans' arena bytes
//   step            per size, family_bench.hpp's compare_steps: `rounds` rounds of `replays`
//                   back-to-back replays of each, alternating; medians over rounds;
//                   step_over_single the family's over the single's; A/A noise beside it.
#include <ctgraph/runtime.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../runtime/gpu_util.hpp"
#include "buckets_model.hpp"
#include "family_bench.hpp"
#include "harness.hpp"

namespace bench {
using namespace ctg;
using namespace bench_harness;

using namespace buckets_model;
static_assert(family::ok());
static_assert(family::arena_bytes(memory_class::device) == family::plan<512>.arena_bytes(memory_class::device));

using single_executor = decltype(instantiate<mlp_at<1>>(nullptr, std::vector<binding>{}));

entries summary;

std::string run_bench(cudaStream_t st) {
  // The same kernels in the family and in each single executor (see the top of the file).
  setenv("CTGRAPH_MATMUL_KERNEL", "cublaslt", 1);
  setenv("CTGRAPH_MATMUL_TUNE", "off", 1);
  const std::int64_t rows = family::largest;
  const std::size_t nx = std::size_t(rows * model_width), nw = std::size_t(model_width * hidden_width);
  test::device_buffer x(nx * 2), w1(nw * 2), w2(nw * 2);
  upload_random_bf16(x.p, nx, 21, 1.f);
  upload_random_bf16(w1.p, nw, 22, 0.03f);
  upload_random_bf16(w2.p, nw, 23, 0.03f);
  const std::vector<binding> bound{bind("x", x.at<__nv_bfloat16>(0), nx), bind("w1", w1.at<__nv_bfloat16>(0), nw),
                                   bind("w2", w2.at<__nv_bfloat16>(0), nw)};

  const instantiate_and_memory im = measure_instantiate<family>(st, bound, "buckets");

  // Step time, size by size, family against the single executor of that size.
  constexpr int rounds = 41, replays = 50;
  auto ex = instantiate_family<family>(st, bound);
  std::vector<single_executor> singles = singles_of<family>(st, bound);
  std::ostringstream steps;
  step_series series;
  int identical = 0;
  for (int m = 0; m < family::size_count; ++m) {
    const std::int64_t size = family::sizes[m];
    single_executor& one = singles[std::size_t(m)];
    const step_times t = compare_steps(st, rounds, replays, [&] { ex.run(size); }, [&] { one.run(); });
    const double f = t.family_us, s = t.single_us, ratio = t.ratio, aa = t.aa;
    // The outputs: the family's member and the single executor compute the same bits.
    const std::size_t out_bytes = std::size_t(size * model_width * 2);
    ex.run(size);
    const std::vector<unsigned char> got = download(ex.data("y"), out_bytes);
    one.run();
    const std::vector<unsigned char> want = download(one.data("y"), out_bytes);
    const bool same = got == want;
    identical += same;
    series.add(size, t);
    std::fprintf(stderr, "[buckets] size %3lld: family %.2f us, single %.2f us, ratio %.4f (A/A %.4f)%s\n", static_cast<long long>(size), f, s,
                 ratio, aa, same ? "" : " OUTPUTS DIFFER");
    steps << (m ? ",\n   " : "") << "{\"size\": " << size << ", \"family_gpu_us\": " << number(f) << ", \"single_gpu_us\": " << number(s)
          << ", \"step_over_single\": " << number(ratio) << ", \"single_even_over_odd\": " << number(aa)
          << ", \"identical\": " << (same ? "true" : "false") << "}";
  }

  const double workspace = double(matmul_workspace_bytes) * family::branch_count();
  const double arena_family = double(family::arena_bytes(memory_class::device)), arena_largest = double(family::plan<512>.arena_bytes(memory_class::device)),
               arena_separate = double(family::arena_bytes_separately(memory_class::device));
  summary["buckets.sizes"] = number(family::size_count);
  summarise_instantiate(summary, "buckets", im);
  summary["buckets.family.arena_bytes"] = number(arena_family);
  summary["buckets.largest.arena_bytes"] = number(arena_largest);
  summary["buckets.separate.arena_bytes"] = number(arena_separate);
  series.summarise(summary, "buckets");
  summary["buckets.outputs_identical"] = number(identical);
  std::ostringstream o;
  o << " \"model\": \"bf16 relu(x [B,1024] x [1024,4096]) x [4096,1024]\", \"kernels\": \"cuBLASLt heuristic, first algorithm\",\n"
    << " \"sizes\": " << family::size_count << ", \"rounds\": " << rounds << ", \"replays_per_round\": " << replays << ",\n"
    << instantiate_json(im)
    << " \"plan_bytes\": {\"family_arena\": " << number(arena_family) << ", \"largest_arena\": " << number(arena_largest)
    << ", \"separate_arenas\": " << number(arena_separate) << ", \"workspace_each\": " << number(workspace) << "},\n"
    << series.json(", \"outputs_identical\": " + std::to_string(identical))
    << " \"steps\": [\n   " << steps.str() << "]";
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) { return bench_harness::bench_main("buckets_bench", argc, argv, bench::summary, bench::run_bench); }
