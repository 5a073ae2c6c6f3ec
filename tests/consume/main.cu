// A tiny CUDA consumer of ctgraph::ctgraph: plans a graph, instantiates and runs it where a GPU
// is present (exit 0 without one: this test checks that the package builds a runtime program).
#include <ctgraph/runtime.hpp>

#include <cstdio>

namespace consumer {
using namespace ctg;
using x = input<"x", f32, shape<256>>;
struct r : node<"r", ops::relu, x> {};
struct s : node<"s", ops::scale<1, 2>, r> {};
constexpr auto p = make_plan<graph<s>>();
static_assert(p.partition_count() == 1 && !check_plan(p));
}  // namespace consumer

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("no GPU: planned only");
    return 0;
  }
  float* dx = nullptr;
  if (cudaMalloc(&dx, 256 * sizeof(float)) != cudaSuccess) return 1;
  cudaMemset(dx, 0, 256 * sizeof(float));
  {
    auto ex = ctg::instantiate<ctg::graph<consumer::s>>(nullptr, {ctg::bind("x", dx, 256)});
    ex.run();
  }
  const bool ok = cudaDeviceSynchronize() == cudaSuccess;
  cudaFree(dx);
  return ok ? 0 : 1;
}
