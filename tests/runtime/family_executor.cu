// A plan family on a GPU: one executor over batch sizes 1, 2, 4, 8, 16 of a two-layer MLP, its
// arenas allocated once (the largest member's), each member's graph captured at instantiation;
// run(n) replays the smallest member that holds n rows, zeroes the padding rows, gives the rows of
// the member of exactly that size, and refuses a size above the largest. And a decode step over
// batch sizes 2, 4, 8 whose members share one KV cache and one position: what the member of size
// 2 wrote, the member of size 8 reads, against a host reference of the cache.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/family_executor.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <type_traits>
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

//! The MLP's input (16 rows) and weights on the device, a stream, and one matmul algorithm per
//! shape in every executor (so a member and a single-size executor compute the same bits).
struct mlp_fixture {
  using bf = __nv_bfloat16;
  std::vector<bf> hx, hw0, hw1;
  device_vector<bf> dx, w0, w1;
  cudaStream_t st = nullptr;
  const test::same_matmul_env same;
  explicit mlp_fixture(unsigned seed)
      : hx(test::random_values<bf>(16 * width, -1.f, 1.f, seed)), hw0(test::random_values<bf>(width * width, -0.1f, 0.1f, seed + 1)),
        hw1(test::random_values<bf>(width * width, -0.1f, 0.1f, seed + 2)), dx(hx), w0(hw0), w1(hw1) {
    REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  }
  mlp_fixture(const mlp_fixture&) = delete;
  ~mlp_fixture() { cudaStreamDestroy(st); }
  std::vector<binding> bindings() const { return {bind("x", dx.ptr, dx.n), bind("w0", w0.ptr, w0.n), bind("w1", w1.ptr, w1.n)}; }
};

TEST_CASE("family executor: one arena, one graph per member, run(n) picks the smallest member that holds n") {
  using bf = __nv_bfloat16;
  mlp_fixture f(91);
  const std::vector<bf>& hx = f.hx;
  device_vector<bf>& dx = f.dx;
  cudaStream_t st = f.st;
  {
    const std::vector<binding> bound = f.bindings();
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
}

// Capture on first use: instantiation allocates and prepares but captures nothing; run(n) captures
// the member it picks, once, in the family's arenas; its rows are those of a family captured at
// instantiation. The option changes no type: one executor type for both.
static_assert(std::is_same_v<decltype(instantiate_family<family>(nullptr, {}, {.capture = partition_capture::on_first_use})),
                             decltype(instantiate_family<family>(nullptr, {}))>);
TEST_CASE("family executor: capture on first use captures the member that run(n) picks, once") {
  using bf = __nv_bfloat16;
  mlp_fixture f(94);
  auto eager = instantiate_family<family>(f.st, f.bindings());
  CHECK(eager.captured_member_count() == family::size_count);
  const long long before = allocation_count();
  auto lazy = instantiate_family<family>(f.st, f.bindings(), {.capture = partition_capture::on_first_use});
  CHECK(allocation_count() - before == 2);  // the device arena and the workspace, as when eager
  CHECK(lazy.captured_member_count() == 0);
  CHECK(!lazy.member<3>().captured());
  CHECK(lazy.member<3>().captured_graph(0) == nullptr);
  const long long allocated = allocation_count();
  auto rows_of = [&](auto& ex, std::int64_t n) {
    f.dx.upload(f.hx);
    ex.run(n);
    std::vector<bf> got(std::size_t(n * width));
    REQUIRE(cudaMemcpyAsync(got.data(), ex.data("y"), got.size() * 2, cudaMemcpyDeviceToHost, f.st) == cudaSuccess);
    REQUIRE(cudaStreamSynchronize(f.st) == cudaSuccess);
    return got;
  };
  for (std::int64_t n : {5, 8, 1, 16, 3, 5}) {
    const std::vector<bf> got = rows_of(lazy, n), want = rows_of(eager, n);
    CHECK(std::memcmp(got.data(), want.data(), got.size() * 2) == 0);
  }
  // Members 8, 1, 16, 4 ran (5 and 3 picked 8 and 4); 2 never did and is not captured.
  CHECK(lazy.captured_member_count() == 4);
  CHECK(!lazy.member<1>().captured());
  CHECK(lazy.member<1>().captured_graph(0) == nullptr);
  CHECK(lazy.member<3>().captured());
  const cudaGraph_t g8 = lazy.member<3>().captured_graph(0);
  CHECK(g8 != nullptr);
  (void)rows_of(lazy, 7);  // the member of size 8 again: replayed, not captured again
  CHECK(lazy.member<3>().captured_graph(0) == g8);
  CHECK(allocation_count() == allocated);  // no arena allocated by the captures
  CHECK_THROWS_WITH_AS(lazy.run(17), doctest::Contains("the family's members hold 1 to 16"), runtime_error);
  CHECK(lazy.captured_member_count() == 4);
}

// A decode step at batch size B: each sequence's row goes into the cache at the shared position,
// the cache (after the write) is copied out, the position moves on by one.
constexpr std::int64_t length = 4;
template <std::int64_t B>
struct decode {
  using cache = state<"cache", f32, shape<B, length, width>>;
  using pos = state<"pos", i32, shape<1>>;
  using x = input<"x", f32, shape<B, 1, width>>;
  struct write : node<"write", ops::cache_write<1>, cache, pos, x> {};
  struct seen : node<"seen", ops::scale<1, 1>, node<"whole", ops::reshape<shape<B, length * width>>, write>> {};
  struct next : node<"next", ops::advance<1>, pos, seen> {};
  using type = graph<seen, next>;
};
template <std::int64_t B>
using decode_at = typename decode<B>::type;
using decode_family = plan_family<decode_at, 2, 4, 8>;
static_assert(decode_family::ok() && decode_family::state_check().ok() && family_shares_state<decode_family>);
static_assert(decode_family::state_bytes() == decode_family::plan<8>.state_bytes());
static_assert(decode_family::plan<2>.state_bytes() < decode_family::state_bytes());

//! The host's copy of the cache: [8 sequences, length, width].
struct cache_reference {
  std::vector<float> cells = std::vector<float>(std::size_t(8 * length * width), 0.f);
  //! Sequence b's row at position t becomes x's row b; x has rows for `rows` sequences, zero past n.
  void write(const std::vector<float>& x, std::int64_t n, std::int64_t rows, std::int64_t t) {
    for (std::int64_t b = 0; b < rows; ++b)
      for (std::int64_t i = 0; i < width; ++i) cells[std::size_t((b * length + t) * width + i)] = b < n ? x[std::size_t(b * width + i)] : 0.f;
  }
  //! The first `rows` sequences.
  std::vector<float> first(std::int64_t rows) const { return std::vector<float>(cells.begin(), cells.begin() + rows * length * width); }
};

std::vector<float> download_floats(const void* p, std::size_t n) {
  std::vector<float> h(n);
  REQUIRE(cudaMemcpy(h.data(), p, n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}

TEST_CASE("family executor: members share state, so the member of size 8 reads what the member of size 2 wrote") {
  device_vector<float> dx{std::size_t(8 * width)};
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    const long long before = allocation_count();
    auto ex = instantiate_family<decode_family>(st, {bind("x", dx.ptr, dx.n)});
    // The arena, the workspace and the state once for the family; each member's cache_write its
    // own two words (the positions it found out of range: runtime/ops/state.cuh).
    CHECK(allocation_count() - before == 3 + decode_family::size_count);
    CHECK(ex.member<0>().data("cache") == ex.member<2>().data("cache"));
    CHECK(ex.member<1>().data("pos") == ex.member<2>().data("pos"));
    CHECK(ex.position() == 0);
    cache_reference ref;
    auto step = [&](std::int64_t n, unsigned seed) {
      const std::vector<float> x = test::random_floats(std::size_t(8 * width), seed);
      dx.upload(x);
      const std::int64_t t = ex.position();
      ex.run(n);
      REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
      ref.write(x, n, ex.last_size(), t);
      // What the member saw, after its write: every sequence it holds, all positions.
      CHECK(download_floats(ex.data("seen"), std::size_t(ex.last_size() * length * width)) == ref.first(ex.last_size()));
      CHECK(ex.position() == t + 1);
    };
    step(2, 1);  // the member of size 2 writes sequences 0, 1 at position 0
    step(8, 2);  // the member of size 8 sees them (and zeros for 2..7) and writes position 1
    step(3, 3);  // the member of size 4; sequence 3's row is padding: zero
    CHECK(download_floats(ex.data("cache"), ref.cells.size()) == ref.cells);  // sequences 4..7 kept
    std::int32_t pos = 0;
    REQUIRE(cudaMemcpy(&pos, ex.data("pos"), 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(pos == 3);
    step(1, 4);  // the last position
    ex.check();  // no member saw a position out of range on the device
    // Full: refused by whichever member runs, before anything is launched.
    dx.upload(test::random_floats(std::size_t(8 * width), 5));
    CHECK_THROWS_WITH_AS(ex.run(8), doctest::Contains("1 row(s) from position 4 of 'cache', which holds 4"), runtime_error);
    CHECK_THROWS_WITH_AS(ex.run(1), doctest::Contains("nothing was launched"), runtime_error);
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(download_floats(ex.data("cache"), ref.cells.size()) == ref.cells);
    CHECK(ex.position() == length);
    // set_position for the family: the member of size 8 writes position 1 again.
    ex.set_position(1);
    CHECK(ex.position() == 1);
    step(8, 6);
    CHECK(download_floats(ex.data("cache"), ref.cells.size()) == ref.cells);
    // sync_position: the position moved on the device by someone else.
    pos = 3;
    REQUIRE(cudaMemcpy(ex.data("pos"), &pos, 4, cudaMemcpyHostToDevice) == cudaSuccess);
    ex.sync_position();
    CHECK(ex.position() == 3);
    step(4, 7);
    // reset_state: every sequence's cache zero (the largest member's extents), the position 0.
    ex.reset_state();
    CHECK(ex.position() == 0);
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    for (float v : download_floats(ex.data("cache"), ref.cells.size())) REQUIRE(v == 0.f);
    ref = cache_reference{};
    step(2, 8);
    CHECK(download_floats(ex.data("cache"), ref.cells.size()) == ref.cells);
  }
  {
    // A cache the caller binds, sized for the largest member, is every member's.
    device_vector<float> dcache(std::vector<float>(std::size_t(8 * length * width), 0.f));
    auto ex = instantiate_family<decode_family>(st, {bind("x", dx.ptr, dx.n), bind("cache", dcache.ptr, dcache.n)});
    CHECK(ex.member<0>().data("cache") == dcache.ptr);
    CHECK(ex.member<2>().data("cache") == dcache.ptr);
    const std::vector<float> x = test::random_floats(std::size_t(8 * width), 9);
    dx.upload(x);
    ex.run(4);
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    cache_reference ref;
    ref.write(x, 4, 4, 0);
    CHECK(dcache.download() == ref.cells);
  }
  cudaStreamDestroy(st);
}
}  // namespace family_test
