// buckets_decode_bench: a Llama-style decode step (TinyLlama-1.1B shape, bf16, random weights)
// served as one plan family over batch 1, 4, 16 (llama_decode_model.hpp) against one
// executor per batch (issue 15). The K/V caches and the token history are state [B, ...], batch
// outermost: the family allocates them once, for 16 sequences, and a smaller member uses the
// leading rows. Prints one JSON object on stdout (progress on stderr); exits 77 where no GPU is
// present, 1 where the check fails. `--summary PATH` also merges "buckets_decode.<metric>" into
// PATH (tests/bench/results/summary.json).
//
// Check: for each batch B, from a reset state, 4 decode steps of the family's run(B) and of the
// single-size executor of B give the same logits, bit for bit (where not, it says at which step,
// by how much, and whether each side repeats its own bits from a reset state) (tolerance 0: the same kernels on the
// same shapes and inputs, every matmul with cuBLASLt's heuristic's first algorithm, fixed
// summation orders; see buckets_gpt2.cu).
// Measured: family_bench.hpp's measure_instantiate (the state counts: the family's is the largest
// member's, each single-size executor has its own) and, per batch, compare_steps from a reset
// state (11 rounds of 20 replays after 20 warm-up runs: 240 steps, inside the 512 cache rows);
// tokens/s = B / step time.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/family_executor.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "family_bench.hpp"
#include "harness.hpp"
#include "llama_decode_model.hpp"
#include "random_parameters.hpp"

namespace bench {
using namespace ctg;
using namespace bench_harness;
using llama_decode_model::family;
static_assert(family::ok() && family_shares_state<family>);
static_assert(family::state_bytes() == family::plan<16>.state_bytes());
static_assert(family::graph_count() == family::size_count);  // one CUDA graph per member

entries summary;

//! The check's logits: from a reset state, each of `check_steps` runs' bf16 logits.
constexpr int check_steps = 4;
using step_logits = std::vector<std::vector<unsigned char>>;
template <class Executor, class Run>
step_logits logits_of(Executor& ex, Run&& run, std::size_t bytes) {
  ex.reset_state();
  step_logits r;
  for (int step = 0; step < check_steps; ++step) {
    run();
    r.push_back(download(ex.data("logits"), bytes));
  }
  return r;
}
inline int first_difference(const step_logits& a, const step_logits& b) {
  for (int s = 0; s < check_steps; ++s)
    if (a[std::size_t(s)] != b[std::size_t(s)]) return s;
  return -1;
}
inline double max_difference(const step_logits& a, const step_logits& b) {
  const int s = first_difference(a, b);
  if (s < 0) return 0;
  double most = 0;
  const auto& x = a[std::size_t(s)];
  const auto& y = b[std::size_t(s)];
  for (std::size_t i = 0; i + 1 < x.size(); i += 2) {
    auto f = [](const std::vector<unsigned char>& v, std::size_t i) {
      __nv_bfloat16_raw r;
      r.x = static_cast<unsigned short>(v[i] | (v[i + 1] << 8));
      return double(__bfloat162float(__nv_bfloat16(r)));
    };
    most = std::max(most, std::abs(f(x, i) - f(y, i)));
  }
  return most;
}

std::string run_bench(cudaStream_t st) {
  // The same kernels in the family and each single executor (unless the caller asks for others).
  setenv("CTGRAPH_MATMUL_KERNEL", "cublaslt", 0);
  setenv("CTGRAPH_MATMUL_TUNE", "off", 0);
  const random_parameters weights(family::plan<family::largest>, 51, 0.02f);
  const std::vector<binding> bound = weights.bindings({});

  int identical = 0;
  std::ostringstream checks;
  {
    auto ex = instantiate_family<family>(st, bound, {.capture = partition_capture::on_first_use});
    auto singles = singles_of<family>(st, bound);
    for (int m = 0; m < family::size_count; ++m) {
      const std::int64_t b = family::sizes[m];
      auto& one = singles[std::size_t(m)];
      const std::size_t bytes = std::size_t(b * llama_decode_model::vocab * 2);
      const step_logits fam = logits_of(ex, [&] { ex.run(b); }, bytes), single = logits_of(one, [&] { one.run(); }, bytes);
      ex.check();
      const bool same = fam == single;
      identical += same;
      std::fprintf(stderr, "[buckets_decode] check: B %lld, %d steps: %s\n", static_cast<long long>(b), check_steps, same ? "same bits" : "DIFFERENT");
      if (!same) {  // say how: where the two part, and whether each side repeats its own bits
        std::fprintf(stderr, "[buckets_decode]   first step that differs %d, max |family - single| there %g\n", first_difference(fam, single),
                     max_difference(fam, single));
        std::fprintf(stderr, "[buckets_decode]   family again: %s; single again: %s\n",
                     logits_of(ex, [&] { ex.run(b); }, bytes) == fam ? "same bits" : "DIFFERENT",
                     logits_of(one, [&] { one.run(); }, bytes) == single ? "same bits" : "DIFFERENT");
      }
      checks << (m ? ", " : "") << "{\"batch\": " << b << ", \"identical\": " << (same ? "true" : "false") << "}";
    }
  }
  summary["buckets_decode.outputs_identical"] = number(identical);
  if (identical != family::size_count)
    throw runtime_error("buckets_decode", "check", "a member's logits differ from its single-size executor's");

  const instantiate_and_memory im = measure_instantiate<family>(st, bound, "buckets_decode");

  constexpr int rounds = 11, replays = 20;
  auto ex = instantiate_family<family>(st, bound);
  auto singles = singles_of<family>(st, bound);
  std::ostringstream steps;
  step_series series;
  for (int m = 0; m < family::size_count; ++m) {
    const std::int64_t b = family::sizes[m];
    auto& one = singles[std::size_t(m)];
    ex.reset_state();
    one.reset_state();
    const step_times t = compare_steps(st, rounds, replays, [&] { ex.run(b); }, [&] { one.run(); });
    const double fam_tok_s = double(b) * 1e6 / t.family_us, single_tok_s = double(b) * 1e6 / t.single_us;
    series.add(b, t);
    const std::string key = "buckets_decode.B" + std::to_string(b) + ".";
    summary[key + "family_tok_s"] = number(fam_tok_s);
    summary[key + "single_tok_s"] = number(single_tok_s);
    summary[key + "step_over_single"] = number(t.ratio);
    std::fprintf(stderr, "[buckets_decode] B %2lld: family %.2f us (%.1f tok/s), single %.2f us (%.1f tok/s), ratio %.4f (A/A %.4f)\n",
                 static_cast<long long>(b), t.family_us, fam_tok_s, t.single_us, single_tok_s, t.ratio, t.aa);
    steps << (m ? ",\n   " : "") << "{\"batch\": " << b << ", \"family_gpu_us\": " << number(t.family_us) << ", \"single_gpu_us\": " << number(t.single_us)
          << ", \"family_tok_s\": " << number(fam_tok_s) << ", \"single_tok_s\": " << number(single_tok_s)
          << ", \"step_over_single\": " << number(t.ratio) << ", \"single_even_over_odd\": " << number(t.aa) << "}";
  }

  summary["buckets_decode.sizes"] = number(family::size_count);
  summarise_instantiate(summary, "buckets_decode", im);
  summary["buckets_decode.family.state_bytes"] = number(double(family::state_bytes()));
  series.summarise(summary, "buckets_decode");
  std::ostringstream o;
  o << " \"model\": \"Llama-style decode, TinyLlama-1.1B shape, bf16, random weights, 512 cache rows\", \"matmul_kernel\": \"" << std::getenv("CTGRAPH_MATMUL_KERNEL") << "\",\n"
    << " \"batches\": [1, 4, 16], \"rounds\": " << rounds << ", \"replays_per_round\": " << replays << ",\n"
    << " \"check_tolerance\": 0, \"outputs_identical\": " << identical << ", \"checks\": [" << checks.str() << "],\n"
    << instantiate_json(im) << " \"weights_mib\": " << number(mib(double(weights.bytes()))) << ", \"family_state_bytes\": " << number(double(family::state_bytes()))
    << ",\n" << series.json()
    << " \"steps\": [\n   " << steps.str() << "]";
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) { return bench_harness::bench_main("buckets_decode_bench", argc, argv, bench::summary, bench::run_bench); }
