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
//                   and of 35 instantiate<> calls; median of 3 repetitions, alternating
//   memory          cudaMemGetInfo deltas, after every member or executor ran once: the family
//                   alone, the largest single-size executor alone, all 35 single-size executors;
//                   with the plans' arena bytes
//   step            per size, `rounds` rounds; each round times `replays` back-to-back replays of
//                   the family's run(size) and as many of the single executor's run() (CUDA
//                   events, per replay), the order alternating from round to round; gpu_us is the
//                   median over rounds, step_over_single the family's over the single's. An A/A
//                   figure shows the noise: the single executor's even rounds over its odd rounds.
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
#include "harness.hpp"

namespace bench {
using namespace ctg;
using namespace bench_harness;

using namespace buckets_model;
static_assert(family::ok());
static_assert(family::arena_bytes(memory_class::device) == family::plan<512>.arena_bytes(memory_class::device));

using single_executor = decltype(instantiate<mlp_at<1>>(nullptr, std::vector<binding>{}));

//! The executor of each size, in the family's order (every member's plan has one capacity).
template <std::int64_t... S>
std::vector<single_executor> singles_of(std::integer_sequence<std::int64_t, S...>, cudaStream_t st, const std::vector<binding>& bound) {
  static_assert((std::is_same_v<decltype(instantiate<mlp_at<S>>(st, bound)), single_executor> && ...));
  std::vector<single_executor> r;
  r.reserve(sizeof...(S));
  (r.push_back(instantiate<mlp_at<S>>(st, bound)), ...);
  return r;
}
//! The single-size executor of size `size` alone.
template <std::int64_t... S>
single_executor single_of(std::integer_sequence<std::int64_t, S...>, std::int64_t size, cudaStream_t st, const std::vector<binding>& bound) {
  std::vector<single_executor> r;
  ((S == size ? r.push_back(instantiate<mlp_at<S>>(st, bound)) : void()), ...);
  if (r.empty()) throw runtime_error("buckets", "single_of", "no size " + std::to_string(size));
  return std::move(r.front());
}

//! Device memory in use (cudaMemGetInfo), after the device is idle.
double device_used() {
  CTG_CHECK("bench", cudaDeviceSynchronize());
  std::size_t free = 0, total = 0;
  CTG_CHECK("bench", cudaMemGetInfo(&free, &total));
  return double(total - free);
}
double ms_of(clock_type::time_point t0) { return us_since(t0, clock_type::now()) / 1000.0; }
double mib(double bytes) { return bytes / double(1 << 20); }

//! GPU µs per replay of `replays` back-to-back calls of `once` on `st` (CUDA events).
template <class F>
double replay_us(cudaStream_t st, cudaEvent_t e0, cudaEvent_t e1, int replays, F&& once) {
  CTG_CHECK("bench", cudaEventRecord(e0, st));
  for (int i = 0; i < replays; ++i) once();
  CTG_CHECK("bench", cudaEventRecord(e1, st));
  CTG_CHECK("bench", cudaEventSynchronize(e1));
  float ms = 0;
  CTG_CHECK("bench", cudaEventElapsedTime(&ms, e0, e1));
  return double(ms) * 1000.0 / replays;
}

std::vector<unsigned char> download(const void* p, std::size_t bytes) {
  std::vector<unsigned char> h(bytes);
  CTG_CHECK("bench", cudaMemcpy(h.data(), p, bytes, cudaMemcpyDeviceToHost));
  return h;
}

entries summary;

struct instantiate_and_memory {
  double family_ms, separate_ms, family_bytes, largest_bytes, separate_bytes;
};

//! Instantiate times and device memory: the family, the largest single executor, all 35.
instantiate_and_memory measure_instantiate(cudaStream_t st, const std::vector<binding>& bound) {
  std::vector<double> fam_ms, sep_ms, fam_b, big_b, sep_b;
  for (int rep = 0; rep < 3; ++rep) {
    {
      const double before = device_used();
      const auto t0 = clock_type::now();
      auto ex = instantiate_family<family>(st, bound);
      CTG_CHECK("bench", cudaStreamSynchronize(st));
      fam_ms.push_back(ms_of(t0));
      for (int m = 0; m < family::size_count; ++m) ex.run(family::sizes[m]);  // what a first launch allocates counts too
      fam_b.push_back(device_used() - before);
    }
    {
      const double before = device_used();
      auto largest = single_of(size_list{}, family::largest, st, bound);
      largest.run();
      big_b.push_back(device_used() - before);
    }
    {
      const double before = device_used();
      const auto t0 = clock_type::now();
      auto all = singles_of(size_list{}, st, bound);
      CTG_CHECK("bench", cudaStreamSynchronize(st));
      sep_ms.push_back(ms_of(t0));
      for (single_executor& e : all) e.run();
      sep_b.push_back(device_used() - before);
    }
    std::fprintf(stderr, "[buckets] instantiate: family %.1f ms, %.1f MiB; 35 executors %.1f ms, %.1f MiB; largest alone %.1f MiB\n",
                 fam_ms.back(), mib(fam_b.back()), sep_ms.back(), mib(sep_b.back()), mib(big_b.back()));
  }
  return {median(fam_ms), median(sep_ms), median(fam_b), median(big_b), median(sep_b)};
}

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

  {  // Warm-up: every size instantiated and run once.
    std::vector<single_executor> all = singles_of(size_list{}, st, bound);
    for (single_executor& e : all) e.run();
    CTG_CHECK("bench", cudaStreamSynchronize(st));
  }

  const instantiate_and_memory im = measure_instantiate(st, bound);

  // Step time, size by size, family against the single executor of that size.
  constexpr int rounds = 41, replays = 50;
  auto ex = instantiate_family<family>(st, bound);
  std::vector<single_executor> singles = singles_of(size_list{}, st, bound);
  cudaEvent_t e0, e1;
  CTG_CHECK("bench", cudaEventCreate(&e0));
  CTG_CHECK("bench", cudaEventCreate(&e1));
  std::ostringstream steps;
  double worst = 0, worst_aa = 1;
  std::int64_t worst_size = 0;
  int identical = 0;
  std::vector<double> ratios;
  for (int m = 0; m < family::size_count; ++m) {
    const std::int64_t size = family::sizes[m];
    single_executor& one = singles[std::size_t(m)];
    auto run_family = [&] { ex.run(size); };
    auto run_single = [&] { one.run(); };
    for (int i = 0; i < warmup_runs; ++i) run_family(), run_single();
    std::vector<double> fam, sin, sin_even, sin_odd;
    for (int r = 0; r < rounds; ++r) {
      double f = 0, s = 0;
      if (r % 2 == 0) {
        f = replay_us(st, e0, e1, replays, run_family);
        s = replay_us(st, e0, e1, replays, run_single);
      } else {
        s = replay_us(st, e0, e1, replays, run_single);
        f = replay_us(st, e0, e1, replays, run_family);
      }
      fam.push_back(f);
      sin.push_back(s);
      (r % 2 == 0 ? sin_even : sin_odd).push_back(s);
    }
    const double f = median(fam), s = median(sin), ratio = f / s, aa = median(sin_even) / median(sin_odd);
    // The outputs: the family's member and the single executor compute the same bits.
    const std::size_t out_bytes = std::size_t(size * model_width * 2);
    ex.run(size);
    const std::vector<unsigned char> got = download(ex.data("y"), out_bytes);
    one.run();
    const std::vector<unsigned char> want = download(one.data("y"), out_bytes);
    const bool same = got == want;
    identical += same;
    ratios.push_back(ratio);
    if (ratio > worst) worst = ratio, worst_size = size;
    worst_aa = std::max({worst_aa, aa, 1 / aa});
    std::fprintf(stderr, "[buckets] size %3lld: family %.2f us, single %.2f us, ratio %.4f (A/A %.4f)%s\n", static_cast<long long>(size), f, s,
                 ratio, aa, same ? "" : " OUTPUTS DIFFER");
    steps << (m ? ",\n   " : "") << "{\"size\": " << size << ", \"family_gpu_us\": " << number(f) << ", \"single_gpu_us\": " << number(s)
          << ", \"step_over_single\": " << number(ratio) << ", \"single_even_over_odd\": " << number(aa)
          << ", \"identical\": " << (same ? "true" : "false") << "}";
  }
  cudaEventDestroy(e0), cudaEventDestroy(e1);

  const double workspace = double(matmul_workspace_bytes) * family::branch_count();
  const double arena_family = double(family::arena_bytes(memory_class::device)), arena_largest = double(family::plan<512>.arena_bytes(memory_class::device)),
               arena_separate = double(family::arena_bytes_separately(memory_class::device));
  summary["buckets.sizes"] = number(family::size_count);
  summary["buckets.instantiate_ms"] = number(im.family_ms);
  summary["buckets.separate.instantiate_ms"] = number(im.separate_ms);
  summary["buckets.memory_over_largest"] = number(im.family_bytes / im.largest_bytes);
  summary["buckets.separate.memory_over_largest"] = number(im.separate_bytes / im.largest_bytes);
  summary["buckets.family.memory_mib"] = number(mib(im.family_bytes));
  summary["buckets.largest.memory_mib"] = number(mib(im.largest_bytes));
  summary["buckets.separate.memory_mib"] = number(mib(im.separate_bytes));
  summary["buckets.family.arena_bytes"] = number(arena_family);
  summary["buckets.largest.arena_bytes"] = number(arena_largest);
  summary["buckets.separate.arena_bytes"] = number(arena_separate);
  summary["buckets.step_over_single.max"] = number(worst);
  summary["buckets.step_over_single.max_size"] = number(double(worst_size));
  summary["buckets.step_over_single.median"] = number(median(ratios));
  summary["buckets.single_over_single.max"] = number(worst_aa);
  summary["buckets.outputs_identical"] = number(identical);
  std::ostringstream o;
  o << " \"model\": \"bf16 relu(x [B,1024] x [1024,4096]) x [4096,1024]\", \"kernels\": \"cuBLASLt heuristic, first algorithm\",\n"
    << " \"sizes\": " << family::size_count << ", \"rounds\": " << rounds << ", \"replays_per_round\": " << replays << ",\n"
    << " \"instantiate_ms\": {\"family\": " << number(im.family_ms) << ", \"separate\": " << number(im.separate_ms) << "},\n"
    << " \"memory_mib\": {\"family\": " << number(mib(im.family_bytes)) << ", \"largest\": " << number(mib(im.largest_bytes))
    << ", \"separate\": " << number(mib(im.separate_bytes)) << "},\n"
    << " \"memory_over_largest\": {\"family\": " << number(im.family_bytes / im.largest_bytes)
    << ", \"separate\": " << number(im.separate_bytes / im.largest_bytes) << "},\n"
    << " \"plan_bytes\": {\"family_arena\": " << number(arena_family) << ", \"largest_arena\": " << number(arena_largest)
    << ", \"separate_arenas\": " << number(arena_separate) << ", \"workspace_each\": " << number(workspace) << "},\n"
    << " \"step_over_single\": {\"max\": " << number(worst) << ", \"max_size\": " << worst_size << ", \"median\": " << number(median(ratios))
    << ", \"single_over_single_max\": " << number(worst_aa) << ", \"outputs_identical\": " << identical << "},\n"
    << " \"steps\": [\n   " << steps.str() << "]";
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  return gpu_main("buckets_bench", [&](const cudaDeviceProp& prop, cudaStream_t st) {
    const std::string body = run_bench(st);
    finish("buckets_bench", prop, body, summary, summary_path(argc, argv));
  });
}
