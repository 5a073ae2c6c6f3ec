// 05_tp_mlp_plan: the 8-layer tensor-parallel MLP (matmul -> all_reduce; 16 tokens, hidden 4096,
// bf16) planned twice: with an opaque all_reduce (it allocates its own output, like a
// functional collective) and with the out-variant all_reduce. It shows the table from
// DESIGN.md as static_asserts — 9 buffers (1 symmetric + 8 device) and 7 reuses against 2
// (1 symmetric + 1 device) and 14 — prints both plans and checks them with check_plan.
#include <ctgraph/runtime.hpp>

#include <cstdio>
#include <iostream>
#include <thread>

#include "example_util.hpp"

namespace tp {
using namespace ctg;

constexpr std::int64_t tokens = 16, hidden = 4096;
using x = input<"x", bf16, shape<tokens, hidden>>;

struct opaque_all_reduce : ops::all_reduce {
  static constexpr op_traits traits = [] {
    op_traits t = ops::all_reduce::traits;
    t.result = op_result::opaque;
    return t;
  }();
};

template <class AllReduce>
struct with {
  template <class X, std::size_t I>
  struct layer : node<indexed<"y", I>, AllReduce,
                      node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"w", I>, bf16, shape<hidden, hidden>>>> {};
};

constexpr auto opaque = make_plan<graph<repeat<8, with<opaque_all_reduce>::layer, x>>>();
constexpr auto out_variant = make_plan<graph<repeat<8, with<ops::all_reduce>::layer, x>>>();

// Buffers = distinct storage (buffer_count - reuse_count); an opaque output is its own storage.
static_assert(opaque.storage_count() == 9 && opaque.reuse_count() == 7);
static_assert(opaque.storage_count(memory_class::symmetric) == 1 && opaque.storage_count(memory_class::device) == 8);
static_assert(out_variant.storage_count() == 2 && out_variant.reuse_count() == 14);
static_assert(out_variant.storage_count(memory_class::symmetric) == 1 && out_variant.storage_count(memory_class::device) == 1);
// The matmuls write straight into the symmetric arena: no copy, and captured in place.
static_assert(out_variant.copy_count() == 0 && out_variant.partition(0).static_input_copies == 0);
// Every rank registers the same window: its size is a compile-time constant.
static_assert(out_variant.arena_bytes(memory_class::symmetric) == tokens * hidden * 2);
}  // namespace tp

namespace {
float bf(float v) { return __bfloat162float(__float2bfloat16(v)); }
}  // namespace

int main(int argc, char** argv) {
  using namespace tp;
  std::cout << "opaque all_reduce:\n" << tp::opaque << "\nout-variant all_reduce:\n" << tp::out_variant;
  for (auto v : {ctg::check_plan(tp::opaque), ctg::check_plan(tp::out_variant)})
    if (v) {
      std::cerr << "unsound plan: " << v.what << "\n";
      return 1;
    }
  std::cout << "plans checked: sound\n";
  if (!example::gpu_present(argc, argv)) return 0;

  int ranks = 0;
  cudaGetDeviceCount(&ranks);
  setenv("NCCL_NVLS_ENABLE", "0", 1);  // no NVLink multicast
  const std::size_t nx = tokens * hidden, nw = hidden * hidden;
  std::vector<float> fx(nx), fw(nw * 8);
  unsigned s = 5;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return float(int(s >> 9) % 2001 - 1000) / 1000.f; };
  for (float& v : fx) v = bf(rnd());
  for (float& v : fw) v = bf(rnd() * 0.03f);
  // Each rank holds w / ranks (exact in bf16 for a power-of-two rank count).
  std::vector<__nv_bfloat16> hx(nx), hw(nw * 8);
  for (std::size_t i = 0; i < nx; ++i) hx[i] = __float2bfloat16(fx[i]);
  for (std::size_t i = 0; i < nw * 8; ++i) hw[i] = __float2bfloat16(fw[i] / float(ranks));

  std::vector<ncclComm_t> comms(static_cast<std::size_t>(ranks));
  std::vector<int> devices(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) devices[std::size_t(r)] = r;
  if (ncclCommInitAll(comms.data(), ranks, devices.data()) != ncclSuccess) {
    std::printf("ncclCommInitAll failed\n");
    return 1;
  }
  std::vector<std::vector<__nv_bfloat16>> out(static_cast<std::size_t>(ranks), std::vector<__nv_bfloat16>(nx));
  std::vector<std::string> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        cudaSetDevice(r);
        __nv_bfloat16 *dx, *dw;
        CTG_CHECK("example", cudaMalloc(&dx, nx * 2));
        CTG_CHECK("example", cudaMalloc(&dw, nw * 8 * 2));
        CTG_CHECK("example", cudaMemcpy(dx, hx.data(), nx * 2, cudaMemcpyHostToDevice));
        CTG_CHECK("example", cudaMemcpy(dw, hw.data(), nw * 8 * 2, cudaMemcpyHostToDevice));
        {
          using model = ctg::graph<ctg::repeat<8, with<ctg::ops::all_reduce>::layer, x>>;
          auto ex = ctg::instantiate<model>(nullptr,
                                            {ctg::bind("x", dx, nx), ctg::bind("w0", dw, nw), ctg::bind("w1", dw + nw, nw),
                                             ctg::bind("w2", dw + 2 * nw, nw), ctg::bind("w3", dw + 3 * nw, nw),
                                             ctg::bind("w4", dw + 4 * nw, nw), ctg::bind("w5", dw + 5 * nw, nw),
                                             ctg::bind("w6", dw + 6 * nw, nw), ctg::bind("w7", dw + 7 * nw, nw)},
                                            ctg::communicator{comms[std::size_t(r)], r});
          for (int i = 0; i < 10; ++i) ex.run();
          CTG_CHECK("example", cudaDeviceSynchronize());
          CTG_CHECK("example", cudaMemcpy(out[std::size_t(r)].data(), ex.data("y7"), nx * 2, cudaMemcpyDeviceToHost));
        }
        cudaFree(dx), cudaFree(dw);
      } catch (const std::exception& e) {
        errors[std::size_t(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (ncclComm_t c : comms) ncclCommDestroy(c);
  for (const auto& e : errors)
    if (!e.empty()) {
      std::printf("error: %s\n", e.c_str());
      return 1;
    }
  bool same = true;
  for (int r = 1; r < ranks; ++r)
    for (std::size_t i = 0; i < nx; ++i) same = same && __bfloat16_as_ushort(out[std::size_t(r)][i]) == __bfloat16_as_ushort(out[0][i]);
  std::printf("%d ranks, results identical on every rank: %s\n", ranks, same ? "yes" : "NO");
  // Host reference: each layer's product in float, rounded to bf16 as the GPU stores it.
  std::vector<float> y = fx, h(nx);
  for (int l = 0; l < 8; ++l) {
    std::fill(h.begin(), h.end(), 0.f);
    for (std::int64_t i = 0; i < tokens; ++i)
      for (std::int64_t kk = 0; kk < hidden; ++kk) {
        const float a = y[std::size_t(i * hidden + kk)];
        const float* wr = &fw[std::size_t(l) * nw + std::size_t(kk * hidden)];
        float* hr = &h[std::size_t(i * hidden)];
        for (std::int64_t j = 0; j < hidden; ++j) hr[j] += a * wr[j];
      }
    for (std::size_t i = 0; i < nx; ++i) y[i] = bf(h[i]);
  }
  std::vector<float> got(nx);
  for (std::size_t i = 0; i < nx; ++i) got[i] = __bfloat162float(out[0][i]);
  return same && example::close(got, y, 5e-2) ? 0 : 1;
}
