// 04_user_op: a user-defined op — softsign, x / (1 + |x|) — with its own output rule, traits and
// kernel, launched through a typed hook that reads the node's static extents. It prints the plan
// and, with a GPU, compares the result with the host.
#include <ctgraph/runtime.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>

#include "example_util.hpp"

namespace user {
__global__ void softsign_kernel(const float* x, float* y, std::int64_t n) {
  for (std::int64_t i = blockIdx.x * std::int64_t(blockDim.x) + threadIdx.x; i < n; i += std::int64_t(gridDim.x) * blockDim.x)
    y[i] = x[i] / (1.f + fabsf(x[i]));
}

//! An op: a name, traits, an output rule and a launch hook. The hook is typed: `Launch::node_type`
//! is the node, so its element count and grid are compile-time constants.
struct softsign {
  static constexpr std::string_view name = "softsign";
  static constexpr ctg::op_traits traits{.in_place = true};
  static constexpr ctg::output_result output(std::span<const ctg::tensor_desc> in) {
    if (in.size() != 1) return ctg::output_result::fail(ctg::errc::wrong_arity);
    if (in[0].dtype != ctg::dtype_id::f32) return ctg::output_result::fail(ctg::errc::dtype_mismatch);
    return {in[0]};
  }
  template <class Launch>
  static void launch(const Launch& l) {
    constexpr std::int64_t n = ctg::static_desc<typename Launch::node_type>.elements();
    constexpr int blocks = int(std::min<std::int64_t>((n + 255) / 256, 1024));
    softsign_kernel<<<blocks, 256, 0, l.stream>>>(l.template input<float>(0), l.template out<float>(), n);
    CTG_CHECK(l.node->name, cudaGetLastError());
  }
};
static_assert(ctg::op<softsign>);

using namespace ctg;
constexpr std::int64_t n = 1 << 16;
using x = input<"x", f32, shape<n>>;
struct a : node<"a", ops::scale<3>, x> {};
struct b : node<"b", softsign, a> {};
using g = graph<b>;
constexpr auto plan = make_plan<g>();
static_assert(plan.buffer_of<b>().shares == plan.index_of<a>());  // softsign runs in place
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
    for (std::int64_t i = 0; i < n; ++i) want[i] = 3 * hx[i] / (1 + std::fabs(3 * hx[i]));
    ok = example::close(got, want, 1e-5);
  }
  cudaFree(dx);
  return ok ? 0 : 1;
}
