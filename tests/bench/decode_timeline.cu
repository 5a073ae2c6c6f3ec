// decode_timeline: where a Llama-style decode step's time goes in the replayed CUDA graph itself
// (not node by node with events between, as executor::profile measures, which takes PDL's overlap
// away): CUPTI records every kernel of a few replays of the batch-1 decode step
// (llama_decode_model.hpp, random weights, no parallel branches so that the kernels run in
// schedule order), and each launching node is charged from the end of the kernel before to the
// end of its own, so the charges add up to the step. Prints one JSON object on stdout (per node
// kind, summed over the layers, and the step), layer 0's kernels on stderr; exits 77 where no GPU
// is present. The same for the plan whose cache writes are kernels of their own. `--summary PATH`
// merges "llama_decode.timeline.<kind>_us" and "llama_decode.timeline_separate_cache_writes.step_us"
// into PATH.
#include <cupti.h>

#include <ctgraph/runtime.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness.hpp"
#include "llama_decode_model.hpp"
#include "random_parameters.hpp"

namespace bench {
using namespace ctg;
using namespace bench_harness;

entries summary;

struct kernel_record {
  unsigned long long start, end;
  std::string name;
};
std::vector<kernel_record> records;  // filled by CUPTI's buffer callback (on flush)

void CUPTIAPI buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *size = std::size_t(16) << 20;
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(8, *size));
  *max_records = 0;
}
void CUPTIAPI buffer_completed(CUcontext, uint32_t, uint8_t* buffer, size_t, size_t valid) {
  CUpti_Activity* r = nullptr;
  while (cuptiActivityGetNextRecord(buffer, valid, &r) == CUPTI_SUCCESS)
    if (r->kind == CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL) {
      const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(r);
      records.push_back({k->start, k->end, k->name ? k->name : "?"});
    }
  std::free(buffer);
}
void cupti(CUptiResult r, const char* call) {
  if (r != CUPTI_SUCCESS) {
    const char* s = nullptr;
    cuptiGetResultString(r, &s);
    throw runtime_error("decode_timeline", call, s ? s : "CUPTI error");
  }
}

//! "layers.7.o_proj" -> "o_proj"; other names as they are.
std::string kind_of(std::string_view name) {
  if (!name.starts_with("layers.")) return std::string(name);
  const std::size_t dot = name.find('.', 7);
  return std::string(name.substr(dot + 1));
}

//! The timeline of plan_options O's decode step: JSON members "<variant>_step_us" and
//! "<variant>_by_kind_us"; the summary keys where `keys` is set.
template <plan_options O>
std::string timeline(cudaStream_t st, const random_parameters& weights, const std::string& variant, bool keys) {
  using model = llama_decode_model::decode_at<1>;
  auto ex = instantiate<model, O>(st, weights.bindings({}));
  // The nodes that launch a kernel, in schedule order: those profile() times, less the reshapes
  // (views: they launch nothing).
  std::vector<std::string_view> order;
  for (const auto& t : ex.profile(1))
    if (t.op_name != "reshape") order.push_back(t.name);
  ex.reset_state();
  ex.set_position(64);
  for (int i = 0; i < 20; ++i) ex.run();
  check(cudaStreamSynchronize(st), "warm-up");

  constexpr int replays = 8;
  records.clear();
  cupti(cuptiActivityEnable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityEnable");
  for (int i = 0; i < replays; ++i) ex.run();
  check(cudaStreamSynchronize(st), "replays");
  cupti(cuptiActivityFlushAll(1), "cuptiActivityFlushAll");
  cupti(cuptiActivityDisable(CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL), "cuptiActivityDisable");
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) { return a.start < b.start; });

  const std::size_t per_step = order.size();
  std::fprintf(stderr, "[decode_timeline] %s: %zu kernels recorded over %d replays; %zu launching nodes per step\n", variant.c_str(), records.size(),
               replays, per_step);
  if (records.size() != per_step * replays) {
    for (std::size_t i = 0; i < records.size() / replays && i < 40; ++i)
      std::fprintf(stderr, "[decode_timeline] kernel %zu: %.80s; node %.*s\n", i, records[i].name.c_str(), i < per_step ? int(order[i].size()) : 0,
                   i < per_step ? order[i].data() : "");
    throw runtime_error("decode_timeline", "zip", "a step's kernels do not match its launching nodes one to one");
  }
  // Charges over the replays after the first (from the end of the kernel before to its own end).
  std::map<std::string, double> by_kind;
  std::vector<std::string> kinds;
  double step_us = 0;
  for (int r = 1; r < replays; ++r)
    for (std::size_t i = 0; i < per_step; ++i) {
      const kernel_record& k = records[std::size_t(r) * per_step + i];
      const kernel_record& before = records[std::size_t(r) * per_step + i - 1];
      const double us = 1e-3 * double(k.end > before.end ? k.end - before.end : 0) / (replays - 1);
      const std::string kind = kind_of(order[i]);
      if (!by_kind.count(kind)) kinds.push_back(kind);
      by_kind[kind] += us;
      step_us += us;
      if (r == replays - 1 && (order[i].starts_with("layers.0.") || !order[i].starts_with("layers.")))
        std::fprintf(stderr, "[decode_timeline] %s %-24.*s start %+7.2f us after the kernel before ends, runs %6.2f us, ends %6.2f us after it\n",
                     variant.c_str(), int(order[i].size()), order[i].data(), 1e-3 * (double(k.start) - double(before.end)),
                     1e-3 * double(k.end - k.start), 1e-3 * double(k.end - before.end));
    }
  std::ostringstream o;
  o << " \"" << variant << "_step_us\": " << number(step_us) << ", \"" << variant << "_kernels_per_step\": " << per_step << ",\n \"" << variant
    << "_by_kind_us\": {";
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    o << (i ? ", " : "") << json_string(kinds[i]) << ": " << number(by_kind[kinds[i]]);
    if (keys) summary["llama_decode.timeline." + kinds[i] + "_us"] = number(by_kind[kinds[i]]);
    std::fprintf(stderr, "[decode_timeline] %s %-24s %8.1f us per step\n", variant.c_str(), kinds[i].c_str(), by_kind[kinds[i]]);
  }
  o << "}";
  std::fprintf(stderr, "[decode_timeline] %s: step %.1f us\n", variant.c_str(), step_us);
  if (keys) summary["llama_decode.timeline.step_us"] = number(step_us);
  else summary["llama_decode.timeline_" + variant + ".step_us"] = number(step_us);
  return o.str();
}

std::string run_bench(cudaStream_t st) {
  constexpr auto p = make_plan<llama_decode_model::decode_at<1>, plan_options{.branches = 1}>();
  const random_parameters weights(p, 51, 0.02f);
  cupti(cuptiActivityRegisterCallbacks(buffer_requested, buffer_completed), "cuptiActivityRegisterCallbacks");
  std::ostringstream o;
  o << " \"model\": \"Llama-style decode, TinyLlama-1.1B shape, bf16, random weights, batch 1, position 64 on, no parallel branches\",\n"
    << timeline<plan_options{.branches = 1}>(st, weights, "ctgraph", true) << ",\n"
    << timeline<plan_options{.branches = 1, .cache_writes = false}>(st, weights, "separate_cache_writes", false);
  return o.str();
}

}  // namespace bench

int main(int argc, char** argv) { return bench_harness::bench_main("decode_timeline", argc, argv, bench::summary, bench::run_bench); }
