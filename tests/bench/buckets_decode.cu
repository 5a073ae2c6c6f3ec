// buckets_decode_bench: a Llama-style decode step (TinyLlama-1.1B shape, bf16, random weights)
// served as one plan family over batch 1, 4, 16 (llama_decode_model.hpp) against one
// executor per batch (issue 15). The K/V caches and the token history are state [B, ...], batch
// outermost: the family allocates them once, for 16 sequences, and a smaller member uses the
// leading rows. Prints one JSON object on stdout (progress on stderr); exits 77 where no GPU is
// present, 1 where the check fails. `--summary PATH` also merges "buckets_decode.<metric>" into
// PATH (tests/bench/results/summary.json).
//
// Check: for each batch B, from a reset state, 4 decode steps of the family's run(B) and of the
// single-size executor of B give the same logits, bit for bit (tolerance 0: the same kernels on the
// same shapes and inputs, every matmul with cuBLASLt's heuristic's first algorithm, fixed
// summation orders; see buckets_gpt2.cu).
// Measured: family_bench.hpp's measure_instantiate (the state counts: the family's is the largest
// member's, each single-size executor has its own) and, per batch, compare_steps from a reset
// state (11 rounds of 20 replays after 20 warm-up runs: 240 steps, inside the 512 cache rows);
// tokens/s = B / step time.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/family_executor.hpp>

#include <algorithm>
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

std::string run_bench(cudaStream_t st) {
  setenv("CTGRAPH_MATMUL_KERNEL", "cublaslt", 1);  // the same kernels in the family and each single executor
  setenv("CTGRAPH_MATMUL_TUNE", "off", 1);
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
      ex.reset_state();
      one.reset_state();
      bool same = true;
      for (int step = 0; step < 4; ++step) {
        ex.run(b);
        one.run();
        const std::size_t bytes = std::size_t(b * llama_decode_model::vocab * 2);
        same = same && download(ex.data("logits"), bytes) == download(one.data("logits"), bytes);
      }
      ex.check();
      identical += same;
      std::fprintf(stderr, "[buckets_decode] check: B %lld, 4 steps: %s\n", static_cast<long long>(b), same ? "same bits" : "DIFFERENT");
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
  o << " \"model\": \"Llama-style decode, TinyLlama-1.1B shape, bf16, random weights, 512 cache rows\", \"kernels\": \"cuBLASLt heuristic, first algorithm\",\n"
    << " \"batches\": [1, 4, 16], \"rounds\": " << rounds << ", \"replays_per_round\": " << replays << ",\n"
    << " \"check_tolerance\": 0, \"outputs_identical\": " << identical << ", \"checks\": [" << checks.str() << "],\n"
    << instantiate_json(im) << " \"weights_mib\": " << number(mib(double(weights.bytes()))) << ", \"family_state_bytes\": " << number(double(family::state_bytes()))
    << ",\n" << series.json()
    << " \"steps\": [\n   " << steps.str() << "]";
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) {
  using namespace bench;
  return gpu_main("buckets_decode_bench", [&](const cudaDeviceProp& prop, cudaStream_t st) {
    const std::string body = run_bench(st);
    finish("buckets_decode_bench", prop, body, summary, summary_path(argc, argv));
  });
}
