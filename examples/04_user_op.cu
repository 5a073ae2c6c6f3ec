// 04_user_op: a user-defined op — a fused "x * sigmoid(x)" (SiLU) — with its own output rule,
// traits and kernel, launched through the op concept's hook. It prints the plan and, with a
// GPU, compares the result with the host.
#include <ctgraph/runtime.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "example_util.hpp"

namespace user {
__global__ void silu_kernel(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i] / (1.f + __expf(-x[i]));
}

//! An op: a name, traits, an output rule and a launch hook.
struct silu {
  static constexpr std::string_view name = "silu";
  static constexpr ctg::op_traits traits{.in_place = true};
  static constexpr ctg::output_result output(std::span<const ctg::tensor_desc> in) {
    if (in.size() != 1) return ctg::output_result::fail(ctg::errc::wrong_arity);
    if (in[0].dtype != ctg::dtype_id::f32) return ctg::output_result::fail(ctg::errc::dtype_mismatch);
    return {in[0]};
  }
  static void launch(const ctg::launch_context& c) {
    const std::int64_t n = c.output_desc().elements();
    silu_kernel<<<int(std::min<std::int64_t>((n + 255) / 256, 1024)), 256, 0, c.stream>>>(c.input<float>(0), c.out<float>(), n);
    CTG_CHECK(c.node->name, cudaGetLastError());
  }
};
static_assert(ctg::op<silu> && ctg::launchable_with<silu, ctg::launch_context>);

using namespace ctg;
constexpr std::int64_t n = 1 << 16;
using x = input<"x", f32, shape<n>>;
struct a : node<"a", ops::scale<3>, x> {};
struct b : node<"b", silu, a> {};
using g = graph<b>;
constexpr auto plan = make_plan<g>();
static_assert(plan.buffer_of<b>().shares == plan.index_of<a>());  // silu runs in place
}  // namespace user

int main(int argc, char** argv) {
  using namespace user;
  std::cout << user::plan;
  if (!example::gpu_present(argc, argv)) return 0;
  std::vector<float> hx(n);
  for (std::int64_t i = 0; i < n; ++i) hx[i] = float(i % 200 - 100) / 50.f;
  float* dx;
  cudaMalloc(&dx, n * 4);
  cudaMemcpy(dx, hx.data(), n * 4, cudaMemcpyHostToDevice);
  bool ok;
  {
    auto ex = ctg::instantiate<g>(nullptr, {ctg::bind("x", dx, n)});
    ex.run();
    std::vector<float> got(n), want(n);
    cudaMemcpy(got.data(), ex.data("b"), n * 4, cudaMemcpyDeviceToHost);
    for (std::int64_t i = 0; i < n; ++i) want[i] = 3 * hx[i] / (1 + std::exp(-3 * hx[i]));
    ok = example::close(got, want, 1e-5);
  }
  cudaFree(dx);
  return ok ? 0 : 1;
}
