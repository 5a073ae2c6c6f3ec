// buckets_gpt2_bench: GPT-2 small (bf16, random weights) served as one plan family over prompt
// lengths 64, 128, 256, 512 (gpt2_model.hpp) against one executor per length (issue 15). Prints
// one JSON object on stdout (progress on stderr); exits 77 where no GPU is present, 1 where a
// check fails. `--summary PATH` also merges "buckets_gpt2.<metric>" into PATH
// (tests/bench/results/summary.json). `--check` runs the check alone (the ctest test
// bench.buckets_gpt2.check, label gpu).
//
// Check: for each member of T tokens, the family's logits equal the single-size executor of T's,
// bit for bit (tolerance 0), at run(T) and at run(T/2 + 1) (the member of T with T/2 - 1 padding
// tokens; its first T/2 + 1 rows). Why bit for bit: both run every matmul with cuBLASLt's
// heuristic's first algorithm (CTGRAPH_MATMUL_KERNEL=cublaslt, CTGRAPH_MATMUL_TUNE=off), so a
// member runs the single executor's kernels at the same shapes on the same inputs, and every
// kernel sums in a fixed order; the first n rows do not depend on the padding tokens after them
// (every op is row by row but the causal attention). A difference is a member reading memory that
// is not its own, not rounding.
// Measured, after a warm-up that instantiates and runs every length once:
//   instantiate, memory  family_bench.hpp's measure_instantiate: the family captured at
//                   instantiation and on first use, the largest single-size executor, the four
//                   (the weights are bound: not counted)
//   step            per length, family_bench.hpp's compare_steps (21 rounds of 20 replays)
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/family_executor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "family_bench.hpp"
#include "gpt2_model.hpp"
#include "harness.hpp"
#include "random_parameters.hpp"

namespace bench {
using namespace ctg;
using namespace bench_harness;
using gpt2_model::family;
static_assert(family::ok() && family::size_count == 4);
static_assert(family::arena_bytes(memory_class::device) == family::plan<512>.arena_bytes(memory_class::device));
static_assert(family::graph_count() == family::size_count);  // one CUDA graph per member

entries summary;

//! The token ids (random, in the vocabulary) and positions 0..T-1 of the largest member, in one
//! device allocation; `reset()` writes them again (run(n) zeroes the rows past n).
struct prompt {
  std::vector<std::int32_t> host = std::vector<std::int32_t>(std::size_t(2 * family::largest));
  allocation device{allocation_kind::device, host.size() * 4, "prompt"};
  prompt() {
    lcg r{41};
    for (std::int64_t t = 0; t < family::largest; ++t) {
      host[std::size_t(t)] = std::int32_t((r.next() + 1.f) * 0.5f * float(gpt2_model::vocab - 1));
      host[std::size_t(family::largest + t)] = std::int32_t(t);
    }
    reset();
  }
  void reset() { CTG_CHECK("bench", cudaMemcpy(device.get(), host.data(), host.size() * 4, cudaMemcpyHostToDevice)); }
  std::int32_t* ids() const { return static_cast<std::int32_t*>(device.get()); }
  std::vector<binding> bindings() const {
    return {bind("input_ids", ids(), std::size_t(family::largest)), bind("position_ids", ids() + family::largest, std::size_t(family::largest))};
  }
};

//! The first n rows of the logits, as bytes.
template <class Executor>
std::vector<unsigned char> logits_rows(const Executor& ex, std::int64_t n) {
  return download(ex.data("logits"), std::size_t(n * gpt2_model::vocab * 2));
}

//! Whether the rows hold finite values, not all zero.
bool finite_and_nonzero(const std::vector<unsigned char>& bytes) {
  bool finite = true, nonzero = false;
  for (std::size_t i = 0; i + 1 < bytes.size(); i += 2) {
    __nv_bfloat16 b;
    std::memcpy(&b, &bytes[i], 2);
    const float v = __bfloat162float(b);
    finite = finite && std::isfinite(v);
    nonzero = nonzero || v != 0.f;
  }
  return finite && nonzero;
}

//! The check (see the top of the file): 8 comparisons; returns how many were the same bits.
template <class Executor, class Singles>
int check_rows(Executor& ex, Singles& singles, prompt& in, std::ostringstream& json) {
  int same = 0;
  for (int m = 0; m < family::size_count; ++m) {
    const std::int64_t size = family::sizes[m];
    for (const std::int64_t n : {size, size / 2 + 1}) {
      in.reset();
      ex.run(n);
      if (ex.last_member() != m) throw runtime_error("buckets_gpt2", "check", "run(" + std::to_string(n) + ") picked another member");
      const std::vector<unsigned char> got = logits_rows(ex, n);
      singles[std::size_t(m)].run();  // on the same inputs, padding rows zeroed by the family's run
      const std::vector<unsigned char> want = logits_rows(singles[std::size_t(m)], n);
      ex.check();
      const bool ok = got == want && finite_and_nonzero(got);
      same += ok;
      std::fprintf(stderr, "[buckets_gpt2] check: T %lld, %lld rows: %s\n", static_cast<long long>(size), static_cast<long long>(n),
                   ok ? "same bits" : "DIFFERENT");
      json << (json.tellp() > 0 ? ", " : "") << "{\"tokens\": " << size << ", \"rows\": " << n << ", \"identical\": " << (ok ? "true" : "false") << "}";
    }
  }
  return same;
}

std::string run_bench(cudaStream_t st, bool check_only) {
  // The same kernels in the family and in each single executor (see the top of the file).
  setenv("CTGRAPH_MATMUL_KERNEL", "cublaslt", 1);
  setenv("CTGRAPH_MATMUL_TUNE", "off", 1);
  const random_parameters weights(family::plan<family::largest>, 31, 0.05f);
  prompt in;
  const std::vector<binding> bound = weights.bindings(in.bindings());

  std::ostringstream checks;
  int identical = 0;
  {
    auto ex = instantiate_family<family>(st, bound, {.capture = partition_capture::on_first_use});
    auto singles = singles_of<family>(st, bound);
    identical = check_rows(ex, singles, in, checks);
  }
  const int compared = 2 * family::size_count;
  summary["buckets_gpt2.outputs_identical"] = number(identical);
  summary["buckets_gpt2.outputs_compared"] = number(compared);
  if (identical != compared)
    throw runtime_error("buckets_gpt2", "check", std::to_string(compared - identical) + " of " + std::to_string(compared) +
                                                     " comparisons of a member's logits with its single-size executor's differ");
  std::ostringstream o;
  o << " \"model\": \"GPT-2 small, bf16, random weights, batch 1\", \"kernels\": \"cuBLASLt heuristic, first algorithm\",\n"
    << " \"tokens\": [64, 128, 256, 512], \"check_tolerance\": 0, \"outputs_identical\": " << identical << ", \"outputs_compared\": " << compared
    << ",\n \"checks\": [" << checks.str() << "]";
  if (check_only) return o.str();

  const instantiate_and_memory im = measure_instantiate<family>(st, bound, "buckets_gpt2");

  constexpr int rounds = 21, replays = 20;
  auto ex = instantiate_family<family>(st, bound);
  auto singles = singles_of<family>(st, bound);
  std::ostringstream steps;
  step_series series;
  for (int m = 0; m < family::size_count; ++m) {
    const std::int64_t size = family::sizes[m];
    auto& one = singles[std::size_t(m)];
    const step_times t = compare_steps(st, rounds, replays, [&] { ex.run(size); }, [&] { one.run(); });
    series.add(size, t);
    const std::string key = "buckets_gpt2.T" + std::to_string(size) + ".";
    summary[key + "family_gpu_us"] = number(t.family_us);
    summary[key + "single_gpu_us"] = number(t.single_us);
    summary[key + "step_over_single"] = number(t.ratio);
    std::fprintf(stderr, "[buckets_gpt2] T %3lld: family %.2f us, single %.2f us, ratio %.4f (A/A %.4f)\n", static_cast<long long>(size),
                 t.family_us, t.single_us, t.ratio, t.aa);
    steps << (m ? ",\n   " : "") << "{\"tokens\": " << size << ", \"family_gpu_us\": " << number(t.family_us) << ", \"single_gpu_us\": " << number(t.single_us)
          << ", \"step_over_single\": " << number(t.ratio) << ", \"single_even_over_odd\": " << number(t.aa) << "}";
  }
  in.reset();

  const double arena_family = double(family::arena_bytes(memory_class::device)), arena_largest = double(family::plan<512>.arena_bytes(memory_class::device)),
               arena_separate = double(family::arena_bytes_separately(memory_class::device));
  summary["buckets_gpt2.sizes"] = number(family::size_count);
  summarise_instantiate(summary, "buckets_gpt2", im);
  summary["buckets_gpt2.family.arena_bytes"] = number(arena_family);
  summary["buckets_gpt2.separate.arena_bytes"] = number(arena_separate);
  series.summarise(summary, "buckets_gpt2");
  o << ",\n \"rounds\": " << rounds << ", \"replays_per_round\": " << replays << ",\n"
    << instantiate_json(im) << " \"weights_mib\": " << number(mib(double(weights.bytes()))) << ",\n"
    << " \"plan_bytes\": {\"family_arena\": " << number(arena_family) << ", \"largest_arena\": " << number(arena_largest)
    << ", \"separate_arenas\": " << number(arena_separate) << "},\n"
    << series.json()
    << " \"steps\": [\n   " << steps.str() << "]";
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) check_only = check_only || std::string_view(argv[i]) == "--check";
  return gpu_main("buckets_gpt2_bench", [&](const cudaDeviceProp& prop, cudaStream_t st) {
    const std::string body = run_bench(st, check_only);
    finish("buckets_gpt2_bench", prop, body, check_only ? entries{} : summary, check_only ? std::string() : summary_path(argc, argv));
  });
}
