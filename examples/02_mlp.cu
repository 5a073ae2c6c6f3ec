// 02_mlp: the 8-layer MLP (16 tokens, hidden 4096, bf16): y_i = relu(matmul(y_{i-1}, w_i)).
// It prints the plan — one CUDA graph, two activation buffers — and, when a GPU is present,
// runs it and compares with eager launches of the same kernels (bit for bit), exiting
// non-zero on a mismatch.
#include <ctgraph/runtime.hpp>

#include <cstdio>
#include <iostream>

#include "example_util.hpp"

namespace mlp {
using namespace ctg;
constexpr std::int64_t tokens = 16, hidden = 4096, layers = 8;
using x = input<"x", bf16, shape<tokens, hidden>>;

template <class X, std::size_t I>
struct layer : node<indexed<"y", I>, ops::relu,
                    node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"w", I>, bf16, shape<hidden, hidden>>>> {};
using model = graph<repeat<layers, layer, x>>;
constexpr auto plan = make_plan<model>();

static_assert(plan.partition_count() == 1);                  // one CUDA graph
static_assert(plan.step_count() == 16);
static_assert(plan.arena_bytes(memory_class::device) == plan.lower_bound(memory_class::device));
static_assert(plan.arena_bytes(memory_class::device) == 2 * tokens * hidden * 2);  // two activations
static_assert(plan.fused_group_count() == layers);             // each relu in its matmul's epilogue
static_assert(plan.buffer_count() == 8 && plan.reuse_count() == 6);
}  // namespace mlp

int main(int argc, char** argv) {
  using namespace mlp;
  std::cout << mlp::plan;
  if (auto v = ctg::check_plan(mlp::plan)) {
    std::printf("unsound plan: %.*s\n", int(v.what().size()), v.what().data());
    return 1;
  }
  if (!example::gpu_present(argc, argv)) return 0;
  // Inputs: x and 8 weights, small values so bf16 stays meaningful through 8 layers.
  const std::size_t nx = tokens * hidden, nw = hidden * hidden;
  std::vector<__nv_bfloat16> hx(nx), hw(nw * layers);
  unsigned s = 7;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return float(int(s >> 9) % 2001 - 1000) / 1000.f; };
  for (std::size_t i = 0; i < nx; ++i) hx[i] = __float2bfloat16(rnd());
  for (std::size_t i = 0; i < nw * layers; ++i) hw[i] = __float2bfloat16(rnd() * 0.03f);
  __nv_bfloat16 *dx, *dw, *eager_a, *eager_b;
  cudaMalloc(&dx, nx * 2), cudaMalloc(&dw, nw * layers * 2), cudaMalloc(&eager_a, nx * 2), cudaMalloc(&eager_b, nx * 2);
  cudaMemcpy(dx, hx.data(), nx * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dw, hw.data(), nw * layers * 2, cudaMemcpyHostToDevice);
  bool ok = true;
  {
    auto ex = ctg::instantiate<model>(nullptr, {ctg::bind("x", dx, nx), ctg::bind("w0", dw, nw), ctg::bind("w1", dw + nw, nw),
                                                ctg::bind("w2", dw + 2 * nw, nw), ctg::bind("w3", dw + 3 * nw, nw),
                                                ctg::bind("w4", dw + 4 * nw, nw), ctg::bind("w5", dw + 5 * nw, nw),
                                                ctg::bind("w6", dw + 6 * nw, nw), ctg::bind("w7", dw + 7 * nw, nw)});
    ex.run();
    cudaDeviceSynchronize();
    // Eager: the same calls, launched one by one through the same launch functions: per layer the
    // matmul with relu in its epilogue, as the plan fused them.
    const auto& p = ex.plan_of();
    ctg::allocation workspace(ctg::allocation_kind::device, ctg::matmul_workspace_bytes, "eager");
    cublasLtHandle_t lt = nullptr;
    cublasLtCreate(&lt);
    const __nv_bfloat16* in = dx;
    __nv_bfloat16* bufs[2] = {eager_a, eager_b};
    for (int l = 0; l < layers; ++l) {
      const ctg::node_desc& h = p.node(p.node_at(2 * l));
      const ctg::node_desc& y = p.node(p.node_at(2 * l + 1));
      ctg::launch_context c;
      c.node = &y, c.input_count = 2, c.inputs[0] = in, c.inputs[1] = dw + l * nw;
      c.input_desc[0] = p.node(h.inputs[0]).out, c.input_desc[1] = p.node(h.inputs[1]).out;
      c.output = bufs[l % 2];
      c.cublas_lt = lt, c.workspace = workspace.get(), c.workspace_bytes = ctg::matmul_workspace_bytes;
      // As the executor prepared this node: its descriptors, algorithm and kernel (it timed them).
      ctg::launch_matmul(c, ex.prepared_state<ctg::matmul_state>(y.name));
      in = bufs[l % 2];
    }
    cudaDeviceSynchronize();
    cublasLtDestroy(lt);
    std::vector<__nv_bfloat16> g(nx), e(nx);
    cudaMemcpy(g.data(), ex.data("y7"), nx * 2, cudaMemcpyDeviceToHost);
    cudaMemcpy(e.data(), in, nx * 2, cudaMemcpyDeviceToHost);
    std::vector<float> gf(nx), ef(nx);
    for (std::size_t i = 0; i < nx; ++i) gf[i] = __bfloat162float(g[i]), ef[i] = __bfloat162float(e[i]);
    std::printf("ctgraph vs eager launches of the same kernels: ");
    ok = example::close(gf, ef, 0);
  }
  cudaFree(dx), cudaFree(dw), cudaFree(eager_a), cudaFree(eager_b);
  return ok ? 0 : 1;
}
