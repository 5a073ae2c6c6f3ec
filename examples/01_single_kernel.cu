// 01_single_kernel: the smallest graph, one relu over 1M floats. It prints the plan (one
// capturable partition, one buffer) and, when a GPU is present, runs it once and compares the
// result with the host; it exits non-zero on a mismatch.
#include <ctgraph/runtime.hpp>

#include <cstdio>
#include <iostream>
#include <random>

#include "example_util.hpp"

namespace single {
using namespace ctg;
constexpr std::int64_t n = 1 << 20;
using x = input<"x", f32, shape<n>>;
struct y : node<"y", ops::relu, x> {};
using g = graph<y>;
constexpr auto plan = make_plan<g>();
static_assert(plan.partition_count() == 1 && plan.buffer_count() == 1);
static_assert(plan.arena_bytes(memory_class::device) == n * 4);
}  // namespace single

int main(int argc, char** argv) {
  std::cout << single::plan;
  if (!example::gpu_present(argc, argv)) return 0;
  std::vector<float> hx(single::n);
  std::mt19937 rng(1);
  for (float& v : hx) v = std::uniform_real_distribution<float>(-1, 1)(rng);
  float* dx = nullptr;
  cudaMalloc(&dx, hx.size() * 4);
  cudaMemcpy(dx, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice);
  bool ok = false;
  {
    auto ex = ctg::instantiate<single::g>(nullptr, {ctg::bind("x", dx, hx.size())});
    ex.run();
    std::vector<float> got(hx.size()), want(hx.size());
    cudaMemcpy(got.data(), ex.data("y"), got.size() * 4, cudaMemcpyDeviceToHost);
    for (std::size_t i = 0; i < hx.size(); ++i) want[i] = std::max(hx[i], 0.f);
    ok = example::close(got, want, 0);
  }
  cudaFree(dx);
  return ok ? 0 : 1;
}
