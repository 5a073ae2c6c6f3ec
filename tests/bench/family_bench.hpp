#pragma once
// What the plan-family benchmarks share (buckets.cu, buckets_gpt2.cu, buckets_decode.cu): one
// single-size executor per member, device memory in use, instantiate time and memory of a family
// against its single-size executors, and the per-size step comparison of a family's member
// against the single-size executor of that size.
//
// Step comparison: `rounds` rounds; each times `replays` back-to-back replays of the family's
// run(size) and as many of the single executor's run() (CUDA events, per replay), the order
// alternating from round to round; medians over rounds. An A/A figure shows the noise: the single
// executor's even rounds over its odd rounds.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/family_executor.hpp>

#include "harness.hpp"

namespace bench {

//! The single-size executor of each member of Family, in the family's order (every member's plan
//! has one capacity, so one executor type).
template <class Family, std::size_t... I>
auto singles_of(cudaStream_t st, const std::vector<ctg::binding>& bound, std::index_sequence<I...>) {
  using single = decltype(ctg::instantiate<typename Family::template graph_at<Family::sizes[0]>>(st, bound));
  static_assert((std::is_same_v<decltype(ctg::instantiate<typename Family::template graph_at<Family::sizes[I]>>(st, bound)), single> && ...));
  std::vector<single> r;
  r.reserve(sizeof...(I));
  (r.push_back(ctg::instantiate<typename Family::template graph_at<Family::sizes[I]>>(st, bound)), ...);
  return r;
}
template <class Family>
auto singles_of(cudaStream_t st, const std::vector<ctg::binding>& bound) {
  return singles_of<Family>(st, bound, std::make_index_sequence<std::size_t(Family::size_count)>{});
}
//! The single-size executor of the largest member alone.
template <class Family>
auto largest_single(cudaStream_t st, const std::vector<ctg::binding>& bound) {
  return ctg::instantiate<typename Family::template graph_at<Family::largest>>(st, bound);
}

//! Device memory in use (cudaMemGetInfo), after the device is idle.
inline double device_used() {
  CTG_CHECK("bench", cudaDeviceSynchronize());
  std::size_t free = 0, total = 0;
  CTG_CHECK("bench", cudaMemGetInfo(&free, &total));
  return double(total - free);
}
inline double ms_of(bench_harness::clock_type::time_point t0) {
  return bench_harness::us_since(t0, bench_harness::clock_type::now()) / 1000.0;
}
inline double mib(double bytes) { return bytes / double(1 << 20); }

//! `bytes` of device memory at p, after every stream is done: the executors run on a non-blocking
//! stream, which a plain cudaMemcpy does not wait for.
inline std::vector<unsigned char> download(const void* p, std::size_t bytes) {
  std::vector<unsigned char> h(bytes);
  CTG_CHECK("bench", cudaDeviceSynchronize());
  CTG_CHECK("bench", cudaMemcpy(h.data(), p, bytes, cudaMemcpyDeviceToHost));
  return h;
}

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

//! Instantiate times (ms, wall, synchronised) and device memory (bytes, cudaMemGetInfo deltas after
//! every member or executor ran once, so what a first launch allocates counts; bound memory such
//! as weights not counted): the family captured at instantiation; the family captured on first
//! use, then its first runs of every member; the largest single-size executor alone; one
//! single-size executor per member. Medians of 3 repetitions, after a warm-up that instantiates
//! and runs every single-size executor once.
struct instantiate_and_memory {
  double family_ms = 0, first_use_ms = 0, first_runs_ms = 0, separate_ms = 0;
  double family_bytes = 0, first_use_bytes = 0, largest_bytes = 0, separate_bytes = 0;
};
template <class Family>
instantiate_and_memory measure_instantiate(cudaStream_t st, const std::vector<ctg::binding>& bound, const char* tag) {
  using bench_harness::clock_type;
  using bench_harness::median;
  auto run_members = [](auto& ex) {
    for (int m = 0; m < Family::size_count; ++m) ex.run(Family::sizes[m]);
  };
  {  // Warm-up: lazily loaded kernels and cuBLASLt's first-use costs paid before anything is measured.
    auto all = singles_of<Family>(st, bound);
    for (auto& e : all) e.run();
    CTG_CHECK("bench", cudaStreamSynchronize(st));
  }
  std::vector<double> fam_ms, lazy_ms, lazy_runs_ms, sep_ms, fam_b, lazy_b, big_b, sep_b;
  for (int rep = 0; rep < 3; ++rep) {
    {
      const double before = device_used();
      const auto t0 = clock_type::now();
      auto ex = ctg::instantiate_family<Family>(st, bound);
      CTG_CHECK("bench", cudaStreamSynchronize(st));
      fam_ms.push_back(ms_of(t0));
      run_members(ex);
      fam_b.push_back(device_used() - before);
    }
    {
      const double before = device_used();
      const auto t0 = clock_type::now();
      auto ex = ctg::instantiate_family<Family>(st, bound, {.capture = ctg::partition_capture::on_first_use});
      CTG_CHECK("bench", cudaStreamSynchronize(st));
      lazy_ms.push_back(ms_of(t0));
      const auto t1 = clock_type::now();
      run_members(ex);  // each captures its member
      CTG_CHECK("bench", cudaStreamSynchronize(st));
      lazy_runs_ms.push_back(ms_of(t1));
      if (ex.captured_member_count() != Family::size_count) throw ctg::runtime_error(tag, "first use", "a member was not captured");
      lazy_b.push_back(device_used() - before);
    }
    {
      const double before = device_used();
      auto largest = largest_single<Family>(st, bound);
      largest.run();
      big_b.push_back(device_used() - before);
    }
    {
      const double before = device_used();
      const auto t0 = clock_type::now();
      auto all = singles_of<Family>(st, bound);
      CTG_CHECK("bench", cudaStreamSynchronize(st));
      sep_ms.push_back(ms_of(t0));
      for (auto& e : all) e.run();
      sep_b.push_back(device_used() - before);
    }
    std::fprintf(stderr, "[%s] instantiate: family %.1f ms, %.1f MiB; captured on first use %.1f ms, then %d first runs %.1f ms, %.1f MiB; "
                 "%d executors %.1f ms, %.1f MiB; largest alone %.1f MiB\n",
                 tag, fam_ms.back(), mib(fam_b.back()), lazy_ms.back(), Family::size_count, lazy_runs_ms.back(), mib(lazy_b.back()),
                 Family::size_count, sep_ms.back(), mib(sep_b.back()), mib(big_b.back()));
  }
  instantiate_and_memory r;
  r.family_ms = median(fam_ms), r.first_use_ms = median(lazy_ms), r.first_runs_ms = median(lazy_runs_ms), r.separate_ms = median(sep_ms);
  r.family_bytes = median(fam_b), r.first_use_bytes = median(lazy_b), r.largest_bytes = median(big_b), r.separate_bytes = median(sep_b);
  return r;
}

//! "<prefix>.instantiate_ms", ".first_use.*", ".separate.*", ".memory_over_largest", "....memory_mib".
inline void summarise_instantiate(bench_harness::entries& s, const std::string& prefix, const instantiate_and_memory& im) {
  using bench_harness::number;
  s[prefix + ".instantiate_ms"] = number(im.family_ms);
  s[prefix + ".separate.instantiate_ms"] = number(im.separate_ms);
  s[prefix + ".first_use.instantiate_ms"] = number(im.first_use_ms);
  s[prefix + ".first_use.first_runs_ms"] = number(im.first_runs_ms);
  s[prefix + ".memory_over_largest"] = number(im.family_bytes / im.largest_bytes);
  s[prefix + ".first_use.memory_over_largest"] = number(im.first_use_bytes / im.largest_bytes);
  s[prefix + ".separate.memory_over_largest"] = number(im.separate_bytes / im.largest_bytes);
  s[prefix + ".family.memory_mib"] = number(mib(im.family_bytes));
  s[prefix + ".largest.memory_mib"] = number(mib(im.largest_bytes));
  s[prefix + ".separate.memory_mib"] = number(mib(im.separate_bytes));
}
//! The same as JSON members: "instantiate_ms": {...}, "memory_mib": {...}, "memory_over_largest": {...}.
inline std::string instantiate_json(const instantiate_and_memory& im) {
  using bench_harness::number;
  return " \"instantiate_ms\": {\"family\": " + number(im.family_ms) + ", \"separate\": " + number(im.separate_ms) +
         ", \"family_first_use\": " + number(im.first_use_ms) + ", \"first_runs_of_every_member\": " + number(im.first_runs_ms) + "},\n" +
         " \"memory_mib\": {\"family\": " + number(mib(im.family_bytes)) + ", \"family_first_use\": " + number(mib(im.first_use_bytes)) +
         ", \"largest\": " + number(mib(im.largest_bytes)) + ", \"separate\": " + number(mib(im.separate_bytes)) + "},\n" +
         " \"memory_over_largest\": {\"family\": " + number(im.family_bytes / im.largest_bytes) +
         ", \"family_first_use\": " + number(im.first_use_bytes / im.largest_bytes) +
         ", \"separate\": " + number(im.separate_bytes / im.largest_bytes) + "},\n";
}

//! One size's step times: medians over rounds (see the top of the file).
struct step_times {
  double family_us = 0, single_us = 0;
  double ratio = 0;  // family over single
  double aa = 0;     // the single executor's even rounds over its odd rounds
};
template <class F, class S>
step_times compare_steps(cudaStream_t st, int rounds, int replays, F&& run_family, S&& run_single) {
  cudaEvent_t e0, e1;
  CTG_CHECK("bench", cudaEventCreate(&e0));
  CTG_CHECK("bench", cudaEventCreate(&e1));
  for (int i = 0; i < bench_harness::warmup_runs; ++i) run_family(), run_single();
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
  cudaEventDestroy(e0), cudaEventDestroy(e1);
  using bench_harness::median;
  step_times t;
  t.family_us = median(fam), t.single_us = median(sin), t.ratio = t.family_us / t.single_us;
  t.aa = median(sin_even) / median(sin_odd);
  return t;
}

//! The step comparisons of a benchmark's sizes: the largest family-over-single ratio (and its
//! size), their median, and the largest A/A noise either way.
struct step_series {
  double worst = 0, worst_aa = 1;
  std::int64_t worst_size = 0;
  std::vector<double> ratios;
  void add(std::int64_t size, const step_times& t) {
    ratios.push_back(t.ratio);
    if (t.ratio > worst) worst = t.ratio, worst_size = size;
    worst_aa = std::max({worst_aa, t.aa, 1 / t.aa});
  }
  //! "<prefix>.step_over_single.max", ".max_size", ".median"; "<prefix>.single_over_single.max".
  void summarise(bench_harness::entries& s, const std::string& prefix) const {
    using bench_harness::number;
    s[prefix + ".step_over_single.max"] = number(worst);
    s[prefix + ".step_over_single.max_size"] = number(double(worst_size));
    s[prefix + ".step_over_single.median"] = number(bench_harness::median(ratios));
    s[prefix + ".single_over_single.max"] = number(worst_aa);
  }
  //! ` "step_over_single": {"max": ..., "max_size": ..., "median": ..., "single_over_single_max": ...<more>},`
  std::string json(const std::string& more = {}) const {
    using bench_harness::number;
    return " \"step_over_single\": {\"max\": " + number(worst) + ", \"max_size\": " + std::to_string(worst_size) +
           ", \"median\": " + number(bench_harness::median(ratios)) + ", \"single_over_single_max\": " + number(worst_aa) + more + "},\n";
  }
};

}  // namespace bench
