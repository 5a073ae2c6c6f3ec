// 05_tp_mlp: tensor parallelism on symmetric memory, planned and run.
// The plans: the 8-layer tensor-parallel MLP (matmul -> all_reduce; 16 tokens, hidden 4096, bf16)
// planned with an opaque all_reduce (it allocates its own output, like a functional collective)
// and with the out-variant one: DESIGN.md's table as static_asserts — 9 buffers (1 symmetric +
// 8 device) and 7 reuses against 2 (1 symmetric + 1 device) and 14 — printed and checked with
// check_plan.
// The run: Megatron-style MLP blocks, y = all_reduce(gelu(x A_r) B_r), with A split by columns
// (column-parallel: no communication) and B by rows (row-parallel: partial sums), one all_reduce
// after the row-parallel matmul; 4 blocks, 16 tokens, hidden 1024, ffn 4096, bf16, on every GPU
// present (1, 2, 4 or 8 ranks; one rank on one GPU). It checks identical bits on every rank and
// the unsharded model computed on the host.
#include <ctgraph/runtime.hpp>

#include <cmath>
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

// Megatron's MLP block, sharded over Ranks: each rank holds columns [r F/R, (r+1) F/R) of A and the
// same rows of B; the row-parallel matmul's partial sums meet in one all_reduce.
constexpr std::int64_t mlp_hidden = 1024, ffn = 4096;
constexpr std::size_t blocks = 4;
template <std::int64_t Ranks>
struct megatron {
  static constexpr std::int64_t shard = ffn / Ranks;
  using x = input<"x", bf16, shape<tokens, mlp_hidden>>;
  template <class X, std::size_t I>
  struct block
      : node<indexed<"y", I>, ops::all_reduce,  // the one collective of the block
             node<indexed<"z", I>, ops::matmul,  // row-parallel: partial sums over this rank's rows of B
                  node<indexed<"g", I>, ops::gelu,
                       node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"a", I>, bf16, shape<mlp_hidden, shard>>>>,
                  parameter<indexed<"b", I>, bf16, shape<shard, mlp_hidden>>>> {};
  using model = graph<repeat<blocks, block, x>>;
  static constexpr auto plan = make_plan<model>();
  // One CUDA graph; the row-parallel matmuls write straight into one symmetric buffer, no copy.
  static_assert(plan.partition_count() == 1 && plan.copy_count() == 0);
  static_assert(plan.arena_bytes(memory_class::symmetric) == tokens * mlp_hidden * 2);
};
template struct megatron<1>;
template struct megatron<8>;
}  // namespace tp

namespace {
float bf(float v) { return __bfloat162float(__float2bfloat16(v)); }
float gelu(float v) { return 0.5f * v * (1.f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v))); }

//! y[T,N] = x[T,K] w[K,N] in float.
std::vector<float> host_matmul(const std::vector<float>& x, const float* w, std::int64_t t, std::int64_t k, std::int64_t n) {
  std::vector<float> y(std::size_t(t * n), 0.f);
  for (std::int64_t i = 0; i < t; ++i)
    for (std::int64_t kk = 0; kk < k; ++kk) {
      const float a = x[std::size_t(i * k + kk)];
      const float* wr = w + kk * n;
      float* yr = &y[std::size_t(i * n)];
      for (std::int64_t j = 0; j < n; ++j) yr[j] += a * wr[j];
    }
  return y;
}

//! Runs the Megatron blocks on `ranks` GPUs (one thread each); returns every rank's output.
template <std::int64_t Ranks>
std::vector<std::vector<__nv_bfloat16>> run_megatron(const std::vector<float>& fx, const std::vector<float>& fa,
                                                     const std::vector<float>& fb) {
  using namespace tp;
  using m = megatron<Ranks>;
  constexpr std::int64_t shard = m::shard;
  const std::size_t nx = tokens * mlp_hidden, na = mlp_hidden * shard, nb = shard * mlp_hidden;
  std::cout << "\nMegatron MLP on " << Ranks << " rank(s):\n" << m::plan;
  std::vector<ncclComm_t> comms(static_cast<std::size_t>(Ranks));
  std::vector<int> devices(static_cast<std::size_t>(Ranks));
  for (int r = 0; r < Ranks; ++r) devices[std::size_t(r)] = r;
  if (ncclCommInitAll(comms.data(), int(Ranks), devices.data()) != ncclSuccess) throw std::runtime_error("ncclCommInitAll failed");
  std::vector<std::vector<__nv_bfloat16>> out(static_cast<std::size_t>(Ranks), std::vector<__nv_bfloat16>(nx));
  std::vector<std::string> errors(static_cast<std::size_t>(Ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < Ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        CTG_CHECK("example", cudaSetDevice(r));
        // This rank's shards: columns [r shard, (r+1) shard) of each A, the same rows of each B.
        std::vector<__nv_bfloat16> hx(nx), ha(na * blocks), hb(nb * blocks);
        for (std::size_t i = 0; i < nx; ++i) hx[i] = __float2bfloat16(fx[i]);
        for (std::size_t l = 0; l < blocks; ++l)
          for (std::int64_t i = 0; i < mlp_hidden; ++i)
            for (std::int64_t j = 0; j < shard; ++j) {
              ha[l * na + std::size_t(i * shard + j)] = __float2bfloat16(fa[l * mlp_hidden * ffn + std::size_t(i * ffn + r * shard + j)]);
              hb[l * nb + std::size_t(j * mlp_hidden + i)] = __float2bfloat16(fb[l * ffn * mlp_hidden + std::size_t((r * shard + j) * mlp_hidden + i)]);
            }
        __nv_bfloat16 *dx, *da, *db;
        CTG_CHECK("example", cudaMalloc(&dx, nx * 2));
        CTG_CHECK("example", cudaMalloc(&da, na * blocks * 2));
        CTG_CHECK("example", cudaMalloc(&db, nb * blocks * 2));
        CTG_CHECK("example", cudaMemcpy(dx, hx.data(), nx * 2, cudaMemcpyHostToDevice));
        CTG_CHECK("example", cudaMemcpy(da, ha.data(), na * blocks * 2, cudaMemcpyHostToDevice));
        CTG_CHECK("example", cudaMemcpy(db, hb.data(), nb * blocks * 2, cudaMemcpyHostToDevice));
        {
          auto ex = ctg::instantiate<typename m::model>(nullptr,
                                                        {ctg::bind("x", dx, nx), ctg::bind("a0", da, na), ctg::bind("b0", db, nb),
                                                         ctg::bind("a1", da + na, na), ctg::bind("b1", db + nb, nb),
                                                         ctg::bind("a2", da + 2 * na, na), ctg::bind("b2", db + 2 * nb, nb),
                                                         ctg::bind("a3", da + 3 * na, na), ctg::bind("b3", db + 3 * nb, nb)},
                                                        ctg::communicator{comms[std::size_t(r)], r});
          for (int i = 0; i < 10; ++i) ex.run();
          CTG_CHECK("example", cudaDeviceSynchronize());
          CTG_CHECK("example", cudaMemcpy(out[std::size_t(r)].data(), ex.data("y3"), nx * 2, cudaMemcpyDeviceToHost));
        }
        cudaFree(dx), cudaFree(da), cudaFree(db);
      } catch (const std::exception& e) {
        errors[std::size_t(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (ncclComm_t c : comms) ncclCommDestroy(c);
  for (const auto& e : errors)
    if (!e.empty()) throw std::runtime_error(e);
  return out;
}
}  // namespace

int main(int argc, char** argv) {
  using namespace tp;
  std::cout << "opaque all_reduce:\n" << tp::opaque << "\nout-variant all_reduce:\n" << tp::out_variant;
  for (auto v : {ctg::check_plan(tp::opaque), ctg::check_plan(tp::out_variant), ctg::check_plan(megatron<1>::plan),
                 ctg::check_plan(megatron<8>::plan)})
    if (v) {
      std::cerr << "unsound plan: " << v.what() << "\n";
      return 1;
    }
  std::cout << "plans checked: sound\n";
  if (!example::gpu_present(argc, argv)) return 0;

  setenv("NCCL_NVLS_ENABLE", "0", 1);  // no NVLink multicast
  int gpus = 0;
  cudaGetDeviceCount(&gpus);
  const int ranks = gpus >= 8 ? 8 : gpus >= 4 ? 4 : gpus >= 2 ? 2 : 1;
  // The unsharded model's values, exact in bf16: x, then A [hidden, ffn] and B [ffn, hidden] per
  // block, scaled so that activations stay near 1.
  std::vector<float> fx(tokens * mlp_hidden), fa(blocks * mlp_hidden * ffn), fb(blocks * ffn * mlp_hidden);
  unsigned s = 5;
  auto rnd = [&] { s = s * 1664525u + 1013904223u; return float(int(s >> 9) % 2001 - 1000) / 1000.f; };
  for (float& v : fx) v = bf(rnd());
  for (float& v : fa) v = bf(rnd() * 0.09f);
  for (float& v : fb) v = bf(rnd() * 0.04f);
  std::vector<std::vector<__nv_bfloat16>> out;
  try {
    out = ranks == 8 ? run_megatron<8>(fx, fa, fb) : ranks == 4 ? run_megatron<4>(fx, fa, fb)
          : ranks == 2 ? run_megatron<2>(fx, fa, fb) : run_megatron<1>(fx, fa, fb);
  } catch (const std::exception& e) {
    std::printf("error: %s\n", e.what());
    return 1;
  }
  bool same = true;
  for (int r = 1; r < ranks; ++r)
    for (std::size_t i = 0; i < out[0].size(); ++i) same = same && __bfloat16_as_ushort(out[std::size_t(r)][i]) == __bfloat16_as_ushort(out[0][i]);
  std::printf("%d ranks, results identical on every rank: %s\n", ranks, same ? "yes" : "NO");
  // The unsharded model on the host, rounded to bf16 where the GPU stores bf16.
  std::vector<float> y = fx;
  for (std::size_t l = 0; l < blocks; ++l) {
    std::vector<float> h = host_matmul(y, &fa[l * mlp_hidden * ffn], tokens, mlp_hidden, ffn);
    for (float& v : h) v = bf(gelu(bf(v)));
    y = host_matmul(h, &fb[l * ffn * mlp_hidden], tokens, ffn, mlp_hidden);
    for (float& v : y) v = bf(v);
  }
  std::vector<float> got(out[0].size());
  for (std::size_t i = 0; i < got.size(); ++i) got[i] = __bfloat162float(out[0][i]);
  double err = 0, norm = 0;
  for (std::size_t i = 0; i < got.size(); ++i) err += (got[i] - y[i]) * double(got[i] - y[i]), norm += double(y[i]) * y[i];
  std::printf("relative L2 error against the unsharded model: %.3g\n", std::sqrt(err / norm));
  // bf16 through four blocks: accumulation order (cuBLAS vs the host loop, partial sums per rank)
  // flips roundings that later blocks carry on; a wrong shard would give errors near 1.
  return same && example::close(got, y, 0.1) && std::sqrt(err / norm) < 1e-2 ? 0 : 1;
}
