// A plan family on a GPU: one executor over batch sizes 1, 2, 4, 8, 16 of a two-layer MLP, its
// arenas allocated once (the largest member's), each member's graph captured at instantiation;
// run(n) replays the smallest member that holds n rows, zeroes the padding rows, gives the rows of
// the member of exactly that size, and refuses a size above the largest.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/family_executor.hpp>

#include <doctest/doctest.h>

#include <cstring>
#include <vector>

#include "gpu_util.hpp"

namespace family_test {
using namespace ctg;
using test::device_vector;

constexpr std::int64_t width = 256;
template <std::int64_t B>
using mlp_at = graph<node<"y", ops::gelu, node<"h1", ops::matmul, node<"a0", ops::relu, node<"h0", ops::matmul, input<"x", bf16, shape<B, width>>,
                                                                                                 parameter<"w0", bf16, shape<width, width>>>>,
                                                  parameter<"w1", bf16, shape<width, width>>>>>;
using family = plan_family<mlp_at, 1, 2, 4, 8, 16>;
static_assert(family::ok() && family::plan<8>.step_count() == family::plan<1>.step_count());
static_assert(family::arena_bytes(memory_class::device) == family::plan<16>.arena_bytes(memory_class::device));
static_assert(family::arena_bytes_separately(memory_class::device) > family::arena_bytes(memory_class::device));

TEST_CASE("family executor: one arena, one graph per member, run(n) picks the smallest member that holds n") {
  using bf = __nv_bfloat16;
  const auto hx = test::random_values<bf>(16 * width, -1.f, 1.f, 91), hw0 = test::random_values<bf>(width * width, -0.1f, 0.1f, 92),
             hw1 = test::random_values<bf>(width * width, -0.1f, 0.1f, 93);
  device_vector<bf> dx(hx), w0(hw0), w1(hw1);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const test::same_matmul_env same;  // one algorithm per shape in every executor
  {
    const std::vector<binding> bound{bind("x", dx.ptr, dx.n), bind("w0", w0.ptr, w0.n), bind("w1", w1.ptr, w1.n)};
    const long long before = allocation_count();
    auto ex = instantiate_family<family>(st, bound);
    const long long family_allocations = allocation_count() - before;
    // The device arena and the workspace once for the family (no pinned arena), not per member.
    static_assert(family::arena_bytes(memory_class::pinned_host) == 0);
    CHECK(family_allocations == 2);
    CHECK(ex.member<2>().captured_graph(0) != ex.member<3>().captured_graph(0));
    // The rows of run(5) against an executor of exactly size 8 on the same (zero-padded) input.
    auto single = instantiate<mlp_at<8>>(st, bound);
    for (std::int64_t n : {5, 8, 1, 16, 3}) {
      dx.upload(hx);  // the padding rows are the caller's memory: give them values again
      ex.run(n);
      const int m = family::member_for(n);
      CHECK(ex.last_member() == m);
      CHECK(ex.last_size() == family::sizes[m]);
      std::vector<bf> got(std::size_t(family::sizes[m] * width));
      REQUIRE(cudaMemcpyAsync(got.data(), ex.data("y"), got.size() * 2, cudaMemcpyDeviceToHost, st) == cudaSuccess);
      std::vector<bf> x_after(std::size_t(16 * width));
      REQUIRE(cudaMemcpyAsync(x_after.data(), dx.ptr, x_after.size() * 2, cudaMemcpyDeviceToHost, st) == cudaSuccess);
      REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
      int padding_nonzero = 0;  // rows n .. member size - 1 of x were zeroed
      for (std::int64_t i = n * width; i < family::sizes[m] * width; ++i) padding_nonzero += test::host_float(x_after[std::size_t(i)]) != 0.f;
      CHECK(padding_nonzero == 0);
      if (family::sizes[m] == 8) {
        single.run();
        std::vector<bf> want(got.size());
        REQUIRE(cudaMemcpyAsync(want.data(), single.data("y"), want.size() * 2, cudaMemcpyDeviceToHost, st) == cudaSuccess);
        REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
        CHECK(std::memcmp(got.data(), want.data(), got.size() * 2) == 0);
      }
      int nonzero = 0;
      for (std::int64_t i = 0; i < n * width; ++i) nonzero += test::host_float(got[std::size_t(i)]) != 0.f;
      CHECK(nonzero > n * width / 4);
    }
    CHECK_THROWS_WITH_AS(ex.run(17), doctest::Contains("the family's members hold 1 to 16"), runtime_error);
    CHECK_THROWS_AS(ex.run(0), runtime_error);
    ex.run(2);  // still usable
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
  }
  cudaStreamDestroy(st);
}
}  // namespace family_test
