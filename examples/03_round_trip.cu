// 03_round_trip: matmul -> copy to host -> host op -> copy to device -> matmul. The host op
// cannot be captured, so the plan has two CUDA graphs around one fallback region, and the host
// op's output is hoisted onto partition 0: its address is fixed, nothing is allocated per run.
// With a GPU it runs 100 times and compares with a host reference.
#include <ctgraph/runtime.hpp>

#include <cstdio>
#include <iostream>

#include "example_util.hpp"

namespace trip {
using namespace ctg;
constexpr std::int64_t m = 16, k = 1024;

struct square_on_host {
  void operator()(const host_args& a) const {
    for (std::int64_t i = 0; i < a.output_desc.elements(); ++i) a.out<float>()[i] = a.input<float>(0)[i] * a.input<float>(0)[i];
  }
};
using x = input<"x", f32, shape<m, k>>;
using w = parameter<"w", f32, shape<k, k>>;
struct h : node<"h", ops::matmul, x, w> {};
struct on_host : node<"on_host", ops::to_host, h> {};
struct squared : node<"squared", ops::host_op<square_on_host>, on_host> {};
struct back : node<"back", ops::to_device, squared> {};
struct y : node<"y", ops::matmul, back, w> {};
using g = graph<y>;
constexpr auto plan = make_plan<g>();
static_assert(plan.partition_count() == 3 && plan.partition(1).kind == partition_kind::fallback);
static_assert(plan.is_hoisted<squared>() && plan.buffer_of<squared>().hoisted_to == 0);
static_assert(plan.partition(0).hoisted == 1);
static_assert(plan.memory_of<on_host>() == memory_class::pinned_host);
}  // namespace trip

int main(int argc, char** argv) {
  using namespace trip;
  std::cout << trip::plan;
  if (!example::gpu_present(argc, argv)) return 0;
  std::vector<float> hx(m * k), hw(k * k);
  unsigned s = 3;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return float(int(s >> 9) % 2001 - 1000) / 1000.f; };
  for (float& v : hx) v = rnd();
  for (float& v : hw) v = rnd() * 0.05f;
  float *dx, *dw;
  cudaMalloc(&dx, hx.size() * 4), cudaMalloc(&dw, hw.size() * 4);
  cudaMemcpy(dx, hx.data(), hx.size() * 4, cudaMemcpyHostToDevice);
  cudaMemcpy(dw, hw.data(), hw.size() * 4, cudaMemcpyHostToDevice);
  bool ok;
  {
    auto ex = ctg::instantiate<g>(nullptr, {ctg::bind("x", dx, hx.size()), ctg::bind("w", dw, hw.size())});
    for (int i = 0; i < 100; ++i) ex.run();
    std::vector<float> got(m * k);
    cudaMemcpy(got.data(), ex.data("y"), got.size() * 4, cudaMemcpyDeviceToHost);
    std::vector<float> t(m * k, 0.f), want(m * k, 0.f);
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t kk = 0; kk < k; ++kk)
        for (std::int64_t j = 0; j < k; ++j) t[i * k + j] += hx[i * k + kk] * hw[kk * k + j];
    for (float& v : t) v = v * v;
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t kk = 0; kk < k; ++kk)
        for (std::int64_t j = 0; j < k; ++j) want[i * k + j] += t[i * k + kk] * hw[kk * k + j];
    ok = example::close(got, want, 1e-3);
  }
  cudaFree(dx), cudaFree(dw);
  return ok ? 0 : 1;
}
