// The executor on a GPU: results against host references and eager launches of the same
// kernels, fallback regions, rebinding, copies captured as memcpy nodes, 1,000 replays without
// allocation (counted where allocations happen, by CUPTI), an op that allocates caught, errors.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/allocation_counter.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../models.hpp"
#include "gpu_util.hpp"

namespace executor_test {
using namespace ctg;
using test::device_vector;

constexpr std::int64_t n = 1 << 20;
using x = input<"x", f32, shape<n>>;
struct r : node<"r", ops::relu, x> {};
struct s : node<"s", ops::scale<1, 2>, r> {};
struct a : node<"a", ops::add, s, x> {};

TEST_CASE("executor: elementwise chain matches a host reference") {
  auto hx = test::random_floats(n, 1);
  device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<graph<a>>(st, {bind("x", dx.ptr, dx.n)});
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<float> out(n);
    REQUIRE(cudaMemcpy(out.data(), ex.data("a"), n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    for (std::int64_t i = 0; i < n; ++i) bad += std::fabs(out[i] - (std::max(hx[i], 0.f) * 0.5f + hx[i])) > 1e-6f;
    CHECK(bad == 0);
  }
  cudaStreamDestroy(st);
}

// The device-copy round trip, with a host op between two fallback-free partitions.
struct plus_one {
  void operator()(const host_args& h) const {
    const float* in = h.input<float>(0);
    float* out = h.out<float>();
    for (std::int64_t i = 0; i < h.output_desc.elements(); ++i) out[i] = in[i] + 1.f;
  }
};
constexpr std::int64_t m = 64, k = 128;
using xm = input<"xm", f32, shape<m, k>>;
using w = parameter<"w", f32, shape<k, k>>;
struct m0 : node<"m0", ops::matmul, xm, w> {};
struct d2h : node<"d2h", ops::to_host, m0> {};
struct cpu : node<"cpu", ops::host_op<plus_one>, d2h> {};
struct h2d : node<"h2d", ops::to_device, cpu> {};
struct m1 : node<"m1", ops::matmul, h2d, w> {};
struct d2h2 : node<"d2h2", ops::to_host, m1> {};
struct cpu2 : node<"cpu2", ops::host_op<plus_one>, d2h2> {};
struct h2d2 : node<"h2d2", ops::to_device, cpu2> {};
struct out : node<"out", ops::relu, h2d2> {};

using test::host_matmul;

TEST_CASE("executor: round trip through two fallback regions, rebinding, 1,000 replays") {
  constexpr auto p = make_plan<graph<out>>();
  static_assert(p.partition_count() == 5 && p.partition_count(partition_kind::fallback) == 2);
  auto hx = test::random_floats(m * k, 2), hw = test::random_floats(k * k, 3, -0.1f, 0.1f);
  auto reference = [&](const std::vector<float>& X) {
    auto h = host_matmul(X, hw, m, k, k);
    for (float& v : h) v += 1.f;
    auto y = host_matmul(h, hw, m, k, k);
    for (float& v : y) v = std::max(v + 1.f, 0.f);
    return y;
  };
  device_vector<float> dx(hx), dw(hw);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    allocation_counter at_instantiate;
    auto ex = instantiate<graph<out>>(st, {bind("xm", dx.ptr, dx.n), bind("w", dw.ptr, dw.n)});
    // The counter is live: the device arena, the pinned arena and the cuBLASLt workspace at least.
    MESSAGE("instantiate allocated: " << at_instantiate.calls());
    CHECK(at_instantiate.count() >= 3);
    // The four copies were captured as DMA copies (memcpy nodes), not kernels; nothing allocates.
    CHECK(ex.captured_graph(1) == nullptr);  // a fallback region
    const test::copy_check copies = test::captured_copies(ex);
    CHECK(copies.planned == 4);
    CHECK(copies.matched == copies.planned);
    CHECK(copies.memcpy_nodes == copies.planned);
    CHECK(copies.mem_alloc_nodes == 0);
    auto check = [&](const std::vector<float>& X) {
      REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
      std::vector<float> got(std::size_t(m * k));
      REQUIRE(cudaMemcpy(got.data(), ex.data("out"), got.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
      auto want = reference(X);
      double worst = 0;
      for (std::size_t i = 0; i < got.size(); ++i) worst = std::max(worst, double(std::fabs(got[i] - want[i])));
      return worst;
    };
    ex.run();
    CHECK(check(hx) < 1e-3);
    // The host op's output lives in the pinned arena, owned by partition 0 (hoisted): fixed.
    void* hoisted = ex.data("cpu");
    CHECK(p.buffer_of<cpu>().hoisted_to == 0);

    // Rebinding: new memory, new values, no new executor.
    auto hx2 = test::random_floats(m * k, 4);
    device_vector<float> dx2(hx2);
    ex.rebind(bind("xm", dx2.ptr, dx2.n));
    ex.run();
    CHECK(check(hx2) < 1e-3);

    // 1,000 replays: same answer, no allocation call by anyone (CUPTI), no memory taken.
    std::size_t free0 = 0, free1 = 0, total = 0;
    REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
    REQUIRE(cudaMemGetInfo(&free0, &total) == cudaSuccess);
    const long long allocations = allocation_count();
    allocation_counter seen;
    for (int i = 0; i < 1000; ++i) ex.run();
    CHECK(check(hx2) < 1e-3);
    INFO("allocation calls during 1,000 replays: " << seen.calls());
    CHECK(seen.count() == 0);
    REQUIRE(cudaMemGetInfo(&free1, &total) == cudaSuccess);
    CHECK(allocation_count() == allocations);
    CHECK(free1 == free0);
    CHECK(ex.data("cpu") == hoisted);
  }
  cudaStreamDestroy(st);
}

// A fallback op that allocates scratch memory on every run (and frees it): the memory is back
// afterwards, so cudaMemGetInfo cannot see it, and the runtime did not allocate it, so
// ctg::allocation_count() cannot either; the allocation counter must.
struct allocating_copy {
  static constexpr std::string_view name = "allocating_copy";
  static constexpr op_traits traits{.capturable = false};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
  static void launch(const launch_context& c) {
    const std::size_t bytes = c.node->out.bytes();
    void* scratch = nullptr;
    CTG_CHECK(c.node->name, cudaMalloc(&scratch, bytes));
    CTG_CHECK(c.node->name, cudaMemcpyAsync(scratch, c.inputs[0], bytes, cudaMemcpyDeviceToDevice, c.stream));
    CTG_CHECK(c.node->name, cudaMemcpyAsync(c.output, scratch, bytes, cudaMemcpyDeviceToDevice, c.stream));
    CTG_CHECK(c.node->name, cudaFree(scratch));  // synchronises the device
  }
};
struct before_alloc : node<"before_alloc", ops::relu, x> {};
struct allocating : node<"allocating", allocating_copy, before_alloc> {};
struct after_alloc : node<"after_alloc", ops::scale<1, 2>, allocating> {};

TEST_CASE("executor: the allocation counter catches an op that allocates on every run") {
  constexpr auto p = make_plan<graph<after_alloc>>();
  static_assert(p.partition_count() == 3 && p.partition_count(partition_kind::fallback) == 1);
  auto hx = test::random_floats(n, 5);
  device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<graph<after_alloc>>(st, {bind("x", dx.ptr, dx.n)});
    ex.run();  // first run: lazy module loading and the like stay out of the count
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    const long long runtime_allocations = allocation_count();
    allocation_counter seen;
    for (int i = 0; i < 1000; ++i) ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    MESSAGE("allocation calls during 1,000 runs of the allocating op: " << seen.calls());
    CHECK(seen.count() == 1000);
    CHECK(seen.calls().rfind("cudaMalloc", 0) == 0);
    CHECK(allocation_count() == runtime_allocations);  // the runtime's own count misses it
    std::vector<float> got(n);
    REQUIRE(cudaMemcpy(got.data(), ex.data("after_alloc"), n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    for (std::int64_t i = 0; i < n; ++i) bad += got[std::size_t(i)] != std::max(hx[std::size_t(i)], 0.f) * 0.5f;
    CHECK(bad == 0);
  }
  cudaStreamDestroy(st);
}

TEST_CASE("executor: bad bindings are exceptions that name the tensor") {
  device_vector<float> dx(n + 4);
  device_vector<__half> dh(n);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  auto message = [&](auto&& f) {
    try {
      f();
    } catch (const runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  CHECK(message([&] { instantiate<graph<a>>(st, {}); }).find("'x'") != std::string::npos);
  CHECK(message([&] { instantiate<graph<a>>(st, {bind("x", dh.ptr, dh.n)}); }).find("dtype f16 bound to a f32 tensor") != std::string::npos);
  CHECK(message([&] { instantiate<graph<a>>(st, {bind("x", dx.ptr, 10)}); }).find("40 bytes bound to a tensor of 4194304 bytes") != std::string::npos);
  CHECK(message([&] { instantiate<graph<a>>(st, {bind("x", dx.ptr + 1, n)}); }).find("16-byte aligned") != std::string::npos);
  CHECK(message([&] { instantiate<graph<a>>(st, {bind("x", dx.ptr, dx.n), bind("y", dx.ptr, dx.n)}); }).find("'y'") != std::string::npos);
  cudaStreamDestroy(st);
}

// An op that synchronises: capture fails, and the error names it and the fix.
struct syncing_op {
  static constexpr std::string_view name = "syncing_op";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
  static void launch(const launch_context& c) {
    cudaStreamSynchronize(c.stream);
    cudaMemcpyAsync(c.output, c.inputs[0], c.node->out.bytes(), cudaMemcpyDefault, c.stream);
  }
};
struct bad : node<"bad", syncing_op, x> {};
TEST_CASE("executor: an op that breaks capture is named, with the fix") {
  device_vector<float> dx(n);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  std::string what;
  try {
    instantiate<graph<bad>>(st, {bind("x", dx.ptr, dx.n)});
  } catch (const runtime_error& e) {
    what = e.what();
    CHECK(e.node() == "bad");
  }
  CHECK(what.find("capturable = false") != std::string::npos);
  // The stream is usable afterwards.
  CHECK(cudaStreamSynchronize(st) == cudaSuccess);
  cudaStreamDestroy(st);
}

// A typed launch hook sees its node's type: input types and static extents, as constants.
struct typed_copy {
  static constexpr std::string_view name = "typed_copy";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
  template <class Launch>
  static void launch(const Launch& l) {
    using self = typename Launch::node_type;
    static_assert(std::is_same_v<input_type<self, 0>, x>);
    constexpr std::size_t bytes = static_desc<self>.bytes();  // a compile-time size
    static_assert(bytes == std::size_t(n) * 4);
    CTG_CHECK(l.node->name, cudaMemcpyAsync(l.output, l.inputs[0], bytes, cudaMemcpyDefault, l.stream));
  }
};
//! x * f for a factor chosen at prepare: a user functor through the built-in elementwise launch.
struct times {
  static constexpr int arity = 1;
  float f;
  __host__ __device__ float operator()(float v) const { return v * f; }
};
// An op with state: `prepare` runs once per node at instantiation, and again for the nodes that
// read a rebound input; `launch` gets what it returned.
struct prepared_scale {
  static constexpr std::string_view name = "prepared_scale";
  static constexpr op_traits traits{};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
  static inline int prepared = 0;
  template <class Launch>
  static times prepare(const Launch&) { return {float(++prepared)}; }
  template <class Launch>
  static void launch(const Launch& l, const times& s) { launch_elementwise(l, s); }
};
struct copied : node<"copied", typed_copy, x> {};
struct scaled : node<"scaled", prepared_scale, x> {};
struct both : node<"both", ops::add, copied, scaled> {};

TEST_CASE("executor: typed hooks see static extents; prepare runs once, and again on rebind") {
  auto h1 = test::random_floats(n, 21), h2 = test::random_floats(n, 22);
  device_vector<float> d1(h1), d2(h2);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  prepared_scale::prepared = 0;
  {
    auto ex = instantiate<graph<both>>(st, {bind("x", d1.ptr, d1.n)});
    CHECK(prepared_scale::prepared == 1);
    const auto check = [&](const std::vector<float>& hx, float f) {
      ex.run();
      REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
      std::vector<float> out(n);
      REQUIRE(cudaMemcpy(out.data(), ex.data("both"), n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
      int bad = 0;
      for (std::int64_t i = 0; i < n; ++i) bad += out[std::size_t(i)] != hx[std::size_t(i)] + hx[std::size_t(i)] * f;
      CHECK(bad == 0);
    };
    check(h1, 1.f);
    ex.rebind(bind("x", d2.ptr, d2.n));
    CHECK(prepared_scale::prepared == 2);  // prepared again: its state now says 2
    check(h2, 2.f);
  }
  cudaStreamDestroy(st);
}
}  // namespace executor_test

namespace executor_test {
// A host op may read a graph input directly (the plan allows it: the user's memory); binding
// device memory there is refused at bind time, host memory runs.
using hin = input<"hin", f32, shape<256>>;
struct host_direct : node<"host_direct", ops::host_op<plus_one>, hin> {};
struct host_up : node<"host_up", ops::to_device, host_direct> {};
TEST_CASE("executor: a graph input read by a host op must be bound to host memory") {
  device_vector<float> dev(256);
  std::string what;
  try {
    auto ex = instantiate<graph<host_up>>(nullptr, {bind("hin", dev.ptr, dev.n)});
  } catch (const runtime_error& e) {
    what = e.what();
  }
  CHECK(what.find("host op 'host_direct' reads this tensor on the host") != std::string::npos);
  std::vector<float> host(256, 2.f);
  auto ex = instantiate<graph<host_up>>(nullptr, {bind("hin", host.data(), host.size())});
  ex.run();
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  std::vector<float> out(256);
  REQUIRE(cudaMemcpy(out.data(), ex.data("host_up"), 256 * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  CHECK(out[0] == 3.f);
  CHECK(out[255] == 3.f);
}
}  // namespace executor_test

namespace executor_test {
// Bindings checked at compile time: a tensor type, and one name per layer from a loop.
using tx = input<"x", f32, shape<16, 64>>;
using typed_mlp = graph<repeat<4, test_models::mlp<f32, 64>::layer, tx>>;

TEST_CASE("executor: bindings checked at compile time, bound in a loop") {
  constexpr std::size_t nx = 16 * 64, nw = 64 * 64;
  const auto hx = test::random_floats(nx, 41), hw = test::random_floats(4 * nw, 42, -0.2f, 0.2f);
  device_vector<float> dx(hx), dw(hw);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<typed_mlp>(st, bindings(bind<tx>(dx.ptr), bind_each<4>([&](auto i) {
                                                  return bind<indexed<"w", decltype(i)::value>>(dw.ptr + i * nw);
                                                })));
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<float> want = hx;
    for (std::size_t l = 0; l < 4; ++l) {
      want = test::host_matmul(want, std::vector<float>(hw.begin() + std::ptrdiff_t(l * nw), hw.begin() + std::ptrdiff_t((l + 1) * nw)), 16, 64, 64);
      for (float& v : want) v = std::max(v, 0.f);
    }
    std::vector<float> out(nx);
    REQUIRE(cudaMemcpy(out.data(), ex.data("y3"), nx * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    for (std::size_t i = 0; i < nx; ++i) bad += std::fabs(out[i] - want[i]) > 1e-4f * (1.f + std::fabs(want[i]));
    CHECK(bad == 0);
  }
  cudaStreamDestroy(st);
}
}  // namespace executor_test

namespace executor_test {
// Token ids outside the table are never read; executor::check() reports the first one and clears it.
using ids = input<"ids", i32, shape<6>>;
using table = parameter<"table", bf16, shape<10, 64>>;
struct rows : node<"rows", ops::embedding, ids, table> {};

TEST_CASE("executor: embedding gathers rows; a bad token id is reported by check(), never read") {
  std::vector<std::int32_t> hid = {3, 0, 9, 3, 7, 1};
  std::vector<__nv_bfloat16> htab(10 * 64);
  for (std::size_t i = 0; i < htab.size(); ++i) htab[i] = __float2bfloat16(float(i % 251) - 100.f);
  device_vector<std::int32_t> did(hid);
  device_vector<__nv_bfloat16> dtab(htab);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<graph<rows>>(st, bindings(bind<ids>(did.ptr), bind<table>(dtab.ptr)));
    const auto rows_now = [&] {
      std::vector<__nv_bfloat16> out(6 * 64);
      REQUIRE(cudaMemcpy(out.data(), ex.data("rows"), out.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
      return out;
    };
    const auto row_is = [](const std::vector<__nv_bfloat16>& out, int t, const __nv_bfloat16* want) {
      for (int i = 0; i < 64; ++i)
        if (__bfloat162float(out[std::size_t(t * 64 + i)]) != (want ? __bfloat162float(want[i]) : 0.f)) return false;
      return true;
    };
    ex.run();
    CHECK_NOTHROW(ex.check());
    auto out = rows_now();
    for (int t = 0; t < 6; ++t) CHECK(row_is(out, t, htab.data() + hid[std::size_t(t)] * 64));
    // Two bad ids: the first (by position) is reported, with its position; their rows are zeros.
    did.upload({3, 0, 9, 10, 7, -1});
    ex.run();
    try {
      ex.check();
      FAIL("no error");
    } catch (const runtime_error& e) {
      CHECK(e.node() == "rows");
      CHECK(std::string(e.what()).find("token id 10 at position 3 is outside the table's 10 rows") != std::string::npos);
    }
    out = rows_now();
    CHECK(row_is(out, 3, nullptr));
    CHECK(row_is(out, 5, nullptr));
    CHECK(row_is(out, 2, htab.data() + 9 * 64));
    CHECK_NOTHROW(ex.check());  // cleared: the executor goes on
    did.upload(hid);
    ex.run();
    CHECK_NOTHROW(ex.check());
    CHECK(row_is(rows_now(), 3, htab.data() + 3 * 64));
  }
  cudaStreamDestroy(st);
}
}  // namespace executor_test

namespace executor_test {
// A decode-style step: q = x + bias (input 1 broadcast), then rotary in place at positions held
// on the device. The captured graph replays for new positions: only the device values change.
// (5e-4: the float angle is off by a few ulps of up to 43 rad; a wrong rotation is off by O(1).)
constexpr std::int64_t rope_tokens = 4, rope_heads = 2, rope_dim = 64, rope_cols = rope_heads * rope_dim;
using rope_x = input<"rope_x", f32, shape<rope_tokens, rope_cols>>;
using rope_pos = input<"rope_pos", i32, shape<rope_tokens>>;
using rope_bias = parameter<"rope_bias", f32, shape<rope_cols>>;
struct rope_q : node<"rope_q", ops::add, rope_x, rope_bias> {};
struct rope_y : node<"rope_y", in_place<ops::rotary<rope_dim>>, rope_q, rope_pos> {};
using rope_graph = graph<rope_y>;
static_assert(make_plan<rope_graph>().buffer_of<rope_y>().shares == make_plan<rope_graph>().index_of<rope_q>());

TEST_CASE("executor: a broadcast add, then rotary in place at device positions, replayed for new ones") {
  const auto hx = test::random_floats(std::size_t(rope_tokens * rope_cols), 31), hb = test::random_floats(std::size_t(rope_cols), 32);
  std::vector<std::int32_t> hpos = {0, 1, 2, 3};
  device_vector<float> dx(hx), db(hb);
  device_vector<std::int32_t> dpos(hpos);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<rope_graph>(st, bindings(bind<rope_x>(dx.ptr), bind<rope_pos>(dpos.ptr), bind<rope_bias>(db.ptr)));
    const auto check_at = [&](const std::vector<std::int32_t>& p) {
      std::vector<float> out(hx.size());
      REQUIRE(cudaMemcpy(out.data(), ex.data("rope_y"), out.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
      int bad = 0;
      for (std::int64_t t = 0; t < rope_tokens; ++t)
        for (std::int64_t h = 0; h < rope_heads; ++h)
          for (std::int64_t i = 0; i < rope_dim / 2; ++i) {
            const std::size_t k = std::size_t(t * rope_cols + h * rope_dim + i), k2 = k + rope_dim / 2;
            const double angle = p[std::size_t(t)] * std::pow(10000.0, -2.0 * double(i) / rope_dim);
            const double a = double(hx[k]) + hb[k % rope_cols], b = double(hx[k2]) + hb[k2 % rope_cols];
            bad += std::fabs(out[k] - (a * std::cos(angle) - b * std::sin(angle))) > 5e-4;
            bad += std::fabs(out[k2] - (b * std::cos(angle) + a * std::sin(angle))) > 5e-4;
          }
      CHECK_MESSAGE(bad == 0, bad, " elements differ at positions ", p[0], "..", p[3]);
    };
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    check_at(hpos);
    hpos = {40, 41, 42, 43};
    dpos.upload(hpos);
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    check_at(hpos);
  }
  cudaStreamDestroy(st);
}
}  // namespace executor_test

namespace executor_test {
// Layout ops in a captured graph: a view of a graph input's first rows (no kernel, the input's
// pointer), a transposed copy, a batched product with it, a float scale, and a cat that reads
// the view again. Against a host reference in double.
constexpr std::int64_t lay_b = 6, lay_m = 8, lay_k = 4;
using lay_x = input<"lay_x", f32, shape<lay_b, lay_m, lay_k>>;
struct lay_first : node<"lay_first", ops::slice<0, 0, 4>, lay_x> {};             // [4, 8, 4], a view
struct lay_t : node<"lay_t", ops::transpose<-2, -1>, lay_first> {};              // [4, 4, 8]
struct lay_p : node<"lay_p", ops::batched_matmul<>, lay_first, lay_t> {};       // [4, 8, 8]
struct lay_s : node<"lay_s", ops::scale<0.5f>, lay_p> {};
struct lay_c : node<"lay_c", ops::cat<-1>, lay_s, lay_first> {};                // [4, 8, 12]
using lay_graph = graph<lay_c>;
constexpr auto lay_plan = make_plan<lay_graph>();
static_assert(lay_plan.buffer_of<lay_first>().memory == memory_class::external && lay_plan.partition_count() == 1);
static_assert(lay_plan.output_of<lay_c>() == tensor_desc{dtype_id::f32, 3, {4, lay_m, lay_m + lay_k}});
static_assert(!check_plan(lay_plan));

TEST_CASE("executor: a slice view, transpose, batched_matmul, scale<0.5f> and cat in one captured graph") {
  const auto hx = test::random_floats(std::size_t(lay_b * lay_m * lay_k), 61);
  device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<lay_graph>(st, bindings(bind<lay_x>(dx.ptr)));
    CHECK(ex.data("lay_first") == static_cast<void*>(dx.ptr));  // the view is the input's storage
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    constexpr std::int64_t cols = lay_m + lay_k;
    std::vector<float> out(std::size_t(4 * lay_m * cols));
    REQUIRE(cudaMemcpy(out.data(), ex.data("lay_c"), out.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    const auto x = [&](std::int64_t b, std::int64_t i, std::int64_t j) { return double(hx[std::size_t((b * lay_m + i) * lay_k + j)]); };
    for (std::int64_t b = 0; b < 4; ++b)
      for (std::int64_t i = 0; i < lay_m; ++i)
        for (std::int64_t c = 0; c < cols; ++c) {
          double want = 0;
          if (c < lay_m)
            for (std::int64_t j = 0; j < lay_k; ++j) want += 0.5 * x(b, i, j) * x(b, c, j);
          else
            want = x(b, i, c - lay_m);
          bad += std::fabs(out[std::size_t((b * lay_m + i) * cols + c)] - want) > 1e-5;
        }
    CHECK_MESSAGE(bad == 0, bad, " of ", out.size(), " elements differ");
  }
  cudaStreamDestroy(st);
}
// Multi-output nodes: a split into three parts (outputs 1 and 2 named), a layer norm of part 1
// with its statistics, and an add of parts 0 and 2 read after it: each output where the plan put
// it, in one captured graph.
constexpr std::int64_t mo_rows = 6, mo_d = 40;
using mo_x = input<"mo_x", f32, shape<mo_rows, 3 * mo_d>>;
using mo_w = parameter<"mo_w", f32, shape<mo_d>>;
struct mo_parts : node<"mo_parts", ops::split<-1, mo_d, mo_d, mo_d>, mo_x> {};
struct mo_second : output<"mo_parts.1", mo_parts, 1> {};
struct mo_third : output<"mo_parts.2", mo_parts, 2> {};
struct mo_ln : node<"mo_ln", ops::layer_norm_stats<1e-5f>, mo_second, mo_w> {};
struct mo_mean : output<"mo_ln.mean", mo_ln, 1> {};
struct mo_rstd : output<"mo_ln.rstd", mo_ln, 2> {};
struct mo_sum : node<"mo_sum", ops::add, mo_parts, mo_third> {};
using mo_graph = graph<mo_sum, mo_ln, mo_mean, mo_rstd>;
constexpr auto mo_plan = make_plan<mo_graph>();
static_assert(mo_plan.partition_count() == 1 && !check_plan(mo_plan));

TEST_CASE("executor: multi-output nodes (split, layer_norm_stats) write each output where the plan put it") {
  const auto hx = test::random_floats(std::size_t(mo_rows * 3 * mo_d), 71, -2.f, 3.f), hw = test::random_floats(std::size_t(mo_d), 72, 0.5f, 1.5f);
  device_vector<float> dx(hx), dw(hw);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<mo_graph>(st, bindings(bind<mo_x>(dx.ptr), bind<mo_w>(dw.ptr)));
    CHECK(static_cast<std::byte*>(ex.data("mo_ln.rstd")) == static_cast<std::byte*>(ex.data("mo_ln")) + mo_plan.offset_in_buffer<mo_rstd>());
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    const auto fetch = [&](const char* name, std::size_t count) {
      std::vector<float> v(count);
      REQUIRE(cudaMemcpy(v.data(), ex.data(name), count * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
      return v;
    };
    const auto sum = fetch("mo_sum", mo_rows * mo_d), y = fetch("mo_ln", mo_rows * mo_d), mean = fetch("mo_ln.mean", mo_rows),
               rstd = fetch("mo_ln.rstd", mo_rows), third = fetch("mo_parts.2", mo_rows * mo_d);
    const auto x = [&](std::int64_t r, std::int64_t c) { return double(hx[std::size_t(r * 3 * mo_d + c)]); };
    int bad = 0;
    for (std::int64_t r = 0; r < mo_rows; ++r) {
      double mu = 0, var = 0;
      for (std::int64_t c = 0; c < mo_d; ++c) mu += x(r, mo_d + c) / double(mo_d);
      for (std::int64_t c = 0; c < mo_d; ++c) var += (x(r, mo_d + c) - mu) * (x(r, mo_d + c) - mu) / double(mo_d);
      const double rs = 1.0 / std::sqrt(var + 1e-5);
      bad += std::fabs(mean[std::size_t(r)] - mu) > 1e-5 || std::fabs(rstd[std::size_t(r)] - rs) > 1e-5 * rs;
      for (std::int64_t c = 0; c < mo_d; ++c) {
        const std::size_t i = std::size_t(r * mo_d + c);
        bad += std::fabs(y[i] - (x(r, mo_d + c) - mu) * rs * hw[std::size_t(c)]) > 1e-4;
        bad += third[i] != float(x(r, 2 * mo_d + c));
        bad += std::fabs(sum[i] - (x(r, c) + x(r, 2 * mo_d + c))) > 1e-6;
      }
    }
    CHECK_MESSAGE(bad == 0, bad, " values differ");
  }
  cudaStreamDestroy(st);
}
}  // namespace executor_test

namespace executor_test {
// Which kernel runs each matmul is chosen at instantiation and readable there: a decode-sized
// linear (16 rows, bf16) against cuBLASLt, timed, and a relu, whose op prepares nothing.
using xs = input<"xs", bf16, shape<16, 1024>>;
using ws = parameter<"ws", bf16, shape<512, 1024>>;  // nn.Linear's [out, in]
using bs = parameter<"bs", bf16, shape<512>>;
struct ys : node<"ys", ops::linear<true, ops::epilogue::relu>, xs, ws, bs> {};
struct zs : node<"zs", ops::relu, ys> {};
TEST_CASE("executor: prepared_state says which kernel runs a matmul node") {
  using bf = __nv_bfloat16;
  const auto hx = test::random_values<bf>(16 * 1024, -1.f, 1.f, 61), hw = test::random_values<bf>(512 * 1024, -1.f, 1.f, 62),
             hb = test::random_values<bf>(512, -1.f, 1.f, 63);
  device_vector<bf> dx(hx), dw(hw), db(hb);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<graph<zs>>(st, bindings(bind<xs>(dx.ptr), bind<ws>(dw.ptr), bind<bs>(db.ptr)));
    const matmul_state& s = ex.prepared_state<matmul_state>("ys");
    MESSAGE("linear bf16 16x1024 -> 512: ", name_of(s.kernel), " (", s.reason, "); skinny ", s.skinny_us, " us, cuBLASLt ",
            s.cublaslt_us, " us");
    if (std::getenv("CTGRAPH_MATMUL_KERNEL") == nullptr) CHECK(std::string_view(s.reason) == "timed");
    CHECK_THROWS_WITH_AS(ex.prepared_state<matmul_state>("zs"), doctest::Contains("prepared no state"), runtime_error);
    CHECK_THROWS_WITH_AS(ex.prepared_state<matmul_state>("nothing"), doctest::Contains("no tensor of this name"), runtime_error);
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<bf> out(16 * 512);
    REQUIRE(cudaMemcpy(out.data(), ex.data("zs"), out.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    for (int i = 0; i < 16; ++i)
      for (int j = 0; j < 512; ++j) {
        double v = test::host_float(hb[std::size_t(j)]);
        for (int p = 0; p < 1024; ++p) v += double(test::host_float(hx[std::size_t(i * 1024 + p)])) * test::host_float(hw[std::size_t(j * 1024 + p)]);
        v = v < 0 ? 0 : v;
        bad += !(std::abs(test::host_float(out[std::size_t(i * 512 + j)]) - v) <= 0.02 * std::abs(v) + 0.32);
      }
    CHECK(bad == 0);
  }
  cudaStreamDestroy(st);
}
// Programmatic dependent launch (PDL) of the skinny matmul (runtime/ops/skinny_matmul.cuh).
__global__ void pdl_test_nop() {}

TEST_CASE("capture: capture_follows_one_kernel is true only while capturing after exactly one kernel") {
  cudaStream_t st;
  REQUIRE(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess);
  device_vector<float> scratch(16);
  CHECK(!capture_follows_one_kernel(st));  // not capturing: the kernel before is unknown
  bool first = true, after_kernel = false, after_memset = true, after_two = true;
  const graph_owner g = capture(st, "test", [&] {
    first = capture_follows_one_kernel(st);  // nothing captured yet
    pdl_test_nop<<<1, 32, 0, st>>>();
    after_kernel = capture_follows_one_kernel(st);
    std::vector<cudaGraphNode_t> one = capture_frontier(st, "test");
    std::vector<cudaGraphNode_t> none;
    set_capture_frontier(st, none, "test");  // a second root
    pdl_test_nop<<<1, 32, 0, st>>>();
    std::vector<cudaGraphNode_t> two = capture_frontier(st, "test");
    two.insert(two.end(), one.begin(), one.end());
    set_capture_frontier(st, two, "test");
    after_two = capture_follows_one_kernel(st);
    CTG_CHECK("test", cudaMemsetAsync(scratch.ptr, 0, 64, st));
    after_memset = capture_follows_one_kernel(st);
  });
  CHECK(!first);
  CHECK(after_kernel);
  CHECK(!after_two);
  CHECK(!after_memset);
  cudaStreamDestroy(st);
}

//! The edges of a captured graph that are programmatic (PDL).
int programmatic_edges(cudaGraph_t g) {
  std::size_t count = 0;
  CTG_CHECK("test", cudaGraphGetEdges(g, nullptr, nullptr, nullptr, &count));
  std::vector<cudaGraphNode_t> from(count), to(count);
  std::vector<cudaGraphEdgeData> data(count);
  CTG_CHECK("test", cudaGraphGetEdges(g, from.data(), to.data(), data.data(), &count));
  int programmatic = 0;
  for (std::size_t i = 0; i < count; ++i) programmatic += data[i].type == cudaGraphDependencyTypeProgrammatic;
  return programmatic;
}

template <class Executor>
std::vector<__nv_bfloat16> output_of(Executor& ex, std::string_view name, std::size_t n) {
  ex.run();
  CTG_CHECK("test", cudaStreamSynchronize(ex.stream()));
  std::vector<__nv_bfloat16> out(n);
  CTG_CHECK("test", cudaMemcpy(out.data(), ex.data(name), n * 2, cudaMemcpyDeviceToHost));
  return out;
}

// A chain of four decode-sized products, W from parameters: each captured as a programmatic
// dependent of the one before (streaming its W while that one finishes), with a bias, gelu, W
// [N,K] and a residual from two nodes back; the bits of the same graph without PDL, for inputs
// that change between runs (a kernel that read its A, bias or residual before the kernel before
// it finished would see the last run's values, or on the first run, none).
using xp = input<"xp", bf16, shape<16, 1024>>;
using wp0 = parameter<"wp0", bf16, shape<1024, 1024>>;
using wp1 = parameter<"wp1", bf16, shape<1024, 1024>>;
using bp1 = parameter<"bp1", bf16, shape<1024>>;
using wp2 = parameter<"wp2", bf16, shape<1024, 1024>>;  // [N,K]
using wp3 = parameter<"wp3", bf16, shape<1024, 1024>>;
using bp3 = parameter<"bp3", bf16, shape<1024>>;
struct p0 : node<"p0", ops::matmul, xp, wp0> {};
struct p1 : node<"p1", ops::linear<false, ops::epilogue::gelu>, p0, wp1, bp1> {};
struct p2 : node<"p2", ops::linear<true>, p1, wp2> {};
struct p3 : node<"p3", ops::linear<>, p2, wp3, bp3, p0> {};  // + p0

TEST_CASE("executor: the skinny matmul with PDL gives the bits it gives without, in a captured chain") {
  using bf = __nv_bfloat16;
  const test::matmul_kernel_env skinny("skinny");
  const std::size_t nw = 1024 * 1024;
  device_vector<bf> dx(16 * 1024), db1(1024), dw(4 * nw), db3(1024);
  dw.upload(test::random_values<bf>(4 * nw, -0.05f, 0.05f, 71));
  db3.upload(test::random_values<bf>(1024, -1.f, 1.f, 72));
  cudaStream_t st;
  REQUIRE(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess);
  {
    const auto make = [&](const char* pdl, const char* stages = "0") {
      const test::scoped_env env("CTGRAPH_PDL", pdl), ring("CTGRAPH_SKINNY_STAGES", stages);  // read when it prepares its matmuls
      return instantiate<graph<p3>>(st, bindings(bind<xp>(dx.ptr), bind<wp0>(dw.ptr), bind<wp1>(dw.ptr + nw), bind<bp1>(db1.ptr),
                                                 bind<wp2>(dw.ptr + 2 * nw), bind<wp3>(dw.ptr + 3 * nw), bind<bp3>(db3.ptr)));
    };
    auto on = make("1");
    auto off = make("0");
    auto small = make("1", "2");  // the smallest ring: two stages (the same sums, in the same order)
    for (const char* v : {"p0", "p1", "p2", "p3"}) {
      CHECK(on.prepared_state<matmul_state>(v).kernel == matmul_kernel::skinny);
      CHECK(on.prepared_state<matmul_state>(v).programmatic);
      CHECK(!off.prepared_state<matmul_state>(v).programmatic);
      CHECK(small.prepared_state<matmul_state>(v).skinny.stages == 2);
      CHECK(on.prepared_state<matmul_state>(v).skinny.stages > 2);
      CHECK(small.prepared_state<matmul_state>(v).skinny.slices == on.prepared_state<matmul_state>(v).skinny.slices);  // else other sums
    }
    REQUIRE(on.plan_of().partition_count() == 1);
    CHECK(programmatic_edges(on.captured_graph(0)) == 3);  // p1, p2, p3 after the kernel before each
    CHECK(programmatic_edges(off.captured_graph(0)) == 0);
    for (unsigned run = 0; run < 4; ++run) {
      dx.upload(test::random_values<bf>(16 * 1024, -1.f, 1.f, 80 + run));
      db1.upload(test::random_values<bf>(1024, -1.f, 1.f, 90 + run));
      const std::vector<bf> a = output_of(on, "p3", 16 * 1024), b = output_of(off, "p3", 16 * 1024), c = output_of(small, "p3", 16 * 1024);
      CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * 2) == 0, "run ", run);
      CHECK_MESSAGE(std::memcmp(c.data(), b.data(), c.size() * 2) == 0, "run ", run, ", two stages");
    }
  }
  cudaStreamDestroy(st);
}

// A decode chain for the gemv (M = 8, W [N,K]): gelu with a bias, then a residual.
using xv = input<"xv", bf16, shape<8, 1024>>;
using wv0 = parameter<"wv0", bf16, shape<2048, 1024>>;
using bv0 = parameter<"bv0", bf16, shape<2048>>;
using wv1 = parameter<"wv1", bf16, shape<1024, 2048>>;
using wv2 = parameter<"wv2", bf16, shape<1024, 1024>>;
struct v0 : node<"v0", ops::linear<true, ops::epilogue::gelu>, xv, wv0, bv0> {};
struct v1 : node<"v1", ops::linear<true>, v0, wv1> {};
struct v2 : node<"v2", ops::linear<true>, v1, wv2, xv> {};  // + xv

TEST_CASE("executor: the gemv with PDL gives the bits it gives without, in a captured chain") {
  using bf = __nv_bfloat16;
  const test::matmul_kernel_env gemv("gemv");
  const std::size_t nw = 2048 * 1024;
  device_vector<bf> dx(8 * 1024), db(2048), dw(2 * nw + 1024 * 1024);
  dw.upload(test::random_values<bf>(dw.n, -0.05f, 0.05f, 121));
  cudaStream_t st;
  REQUIRE(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess);
  {
    const auto make = [&](const char* pdl) {
      const test::scoped_env env("CTGRAPH_PDL", pdl);  // read when it prepares its matmuls
      return instantiate<graph<v2>>(st, bindings(bind<xv>(dx.ptr), bind<wv0>(dw.ptr), bind<bv0>(db.ptr), bind<wv1>(dw.ptr + nw),
                                                 bind<wv2>(dw.ptr + 2 * nw)));
    };
    auto on = make("1");
    auto off = make("0");
    for (const char* v : {"v0", "v1", "v2"}) {
      CHECK(on.prepared_state<matmul_state>(v).kernel == matmul_kernel::gemv);
      CHECK(on.prepared_state<matmul_state>(v).programmatic);
      CHECK(!off.prepared_state<matmul_state>(v).programmatic);
    }
    REQUIRE(on.plan_of().partition_count() == 1);
    CHECK(programmatic_edges(on.captured_graph(0)) == 2);  // v1, v2 after the kernel before each
    CHECK(programmatic_edges(off.captured_graph(0)) == 0);
    for (unsigned run = 0; run < 4; ++run) {
      dx.upload(test::random_values<bf>(8 * 1024, -1.f, 1.f, 130 + run));
      db.upload(test::random_values<bf>(2048, -1.f, 1.f, 140 + run));
      const std::vector<bf> a = output_of(on, "v2", 8 * 1024), b = output_of(off, "v2", 8 * 1024);
      CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * 2) == 0, "run ", run);
    }
  }
  cudaStreamDestroy(st);
}

// W made by the node before (W = P Q, 64 rows: the skinny kernel too, which lets its dependent
// start at once): the product after it is still a programmatic dependent, but waits before it
// reads W. P changes between runs: reading W early would see the last run's W.
using xw = input<"xw", bf16, shape<16, 64>>;
using pw = parameter<"pw", bf16, shape<64, 64>>;
using qw = parameter<"qw", bf16, shape<64, 64>>;
struct ww : node<"ww", ops::matmul, pw, qw> {};
struct yw : node<"yw", ops::matmul, xw, ww> {};

TEST_CASE("executor: a skinny matmul whose W a node writes waits for it before reading W, with PDL") {
  using bf = __nv_bfloat16;
  const test::matmul_kernel_env skinny("skinny");
  const auto hx = test::random_values<bf>(16 * 64, -1.f, 1.f, 101), hq = test::random_values<bf>(64 * 64, -1.f, 1.f, 102);
  device_vector<bf> dx(hx), dp(64 * 64), dq(hq);
  cudaStream_t st;
  REQUIRE(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess);
  {
    const auto make = [&](const char* pdl) {
      const test::scoped_env env("CTGRAPH_PDL", pdl);
      return instantiate<graph<yw>>(st, bindings(bind<xw>(dx.ptr), bind<pw>(dp.ptr), bind<qw>(dq.ptr)));
    };
    auto on = make("1");
    auto off = make("0");
    CHECK(on.prepared_state<matmul_state>("ww").kernel == matmul_kernel::skinny);
    CHECK(on.prepared_state<matmul_state>("yw").kernel == matmul_kernel::skinny);
    REQUIRE(on.plan_of().partition_count() == 1);
    CHECK(programmatic_edges(on.captured_graph(0)) == 1);  // yw after ww
    for (unsigned run = 0; run < 4; ++run) {
      const auto hp = test::random_values<bf>(64 * 64, -1.f, 1.f, 110 + run);
      dp.upload(hp);
      const std::vector<bf> a = output_of(on, "yw", 16 * 64), b = output_of(off, "yw", 16 * 64);
      CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * 2) == 0, "run ", run);
      // And the host's product, from W rounded to bf16 as the device stores it.
      std::vector<float> w(64 * 64);
      for (int i = 0; i < 64; ++i)
        for (int j = 0; j < 64; ++j) {
          float v = 0;
          for (int p = 0; p < 64; ++p) v += test::host_float(hp[std::size_t(i * 64 + p)]) * test::host_float(hq[std::size_t(p * 64 + j)]);
          w[std::size_t(i * 64 + j)] = test::host_float(test::host_round<bf>(v));
        }
      int bad = 0;
      for (int i = 0; i < 16; ++i)
        for (int j = 0; j < 64; ++j) {
          double v = 0;
          for (int p = 0; p < 64; ++p) v += double(test::host_float(hx[std::size_t(i * 64 + p)])) * w[std::size_t(p * 64 + j)];
          bad += !(std::abs(test::host_float(a[std::size_t(i * 64 + j)]) - v) <= 0.02 * std::abs(v) + 0.1);
        }
      CHECK_MESSAGE(bad == 0, "run ", run, ": ", bad, " values off the host's");
    }
  }
  cudaStreamDestroy(st);
}

// The small kernels of a decode step (embedding, rms_norm, rotary at a position held in state, a
// cache write, cache_attention, the fused silu product, argmax) as programmatic dependents of the
// kernel before each: the bits of the same graph without PDL, over runs whose position moves (a
// kernel that read before the one before it finished would see the last run's values). The cache
// writes launch kernels of their own here (`cache_writes = false`); with the attention running
// them, the same bits again.
using ids_pdl = input<"ids_pdl", i32, shape<1>>;
using table_pdl = parameter<"table_pdl", bf16, shape<64, 512>>;
using norm_pdl = parameter<"norm_pdl", bf16, shape<512>>;
using pos_pdl = state<"pos_pdl", i32, shape<1>>;
using kc_pdl = state<"kc_pdl", bf16, shape<16, 512>>;
using vc_pdl = state<"vc_pdl", bf16, shape<16, 512>>;
struct e_pdl : node<"e_pdl", ops::embedding, ids_pdl, table_pdl> {};
struct n_pdl : node<"n_pdl", ops::rms_norm<1e-5f>, e_pdl, norm_pdl> {};
struct r_pdl : node<"r_pdl", ops::rotary<64>, n_pdl, pos_pdl> {};
struct k_pdl : node<"k_pdl", ops::cache_write<0>, kc_pdl, pos_pdl, r_pdl> {};
struct v_pdl : node<"v_pdl", ops::cache_write<0>, vc_pdl, pos_pdl, n_pdl> {};
struct a_pdl : node<"a_pdl", ops::cache_attention<8, 8>, r_pdl, k_pdl, v_pdl, pos_pdl> {};
struct g_pdl : node<"g_pdl", ops::mul, node<"s_pdl", ops::silu, a_pdl>, n_pdl> {};
struct c_pdl : node<"c_pdl", ops::argmax, g_pdl> {};
struct adv_pdl : node<"adv_pdl", ops::advance<1>, pos_pdl, c_pdl> {};

TEST_CASE("executor: a decode step's small kernels with PDL give the bits they give without") {
  using bf = __nv_bfloat16;
  device_vector<bf> table(64 * 512), w(512);
  table.upload(test::random_values<bf>(64 * 512, -1.f, 1.f, 111));
  w.upload(test::random_values<bf>(512, 0.5f, 1.5f, 112));
  device_vector<std::int32_t> ids(std::vector<std::int32_t>{5});
  cudaStream_t st;
  REQUIRE(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking) == cudaSuccess);
  {
    using step = graph<g_pdl, adv_pdl>;
    const auto make = [&](const char* pdl, auto options) {
      const test::scoped_env env("CTGRAPH_PDL", pdl);  // read when the executor captures
      return instantiate<step, decltype(options)::value>(st, bindings(bind<ids_pdl>(ids.ptr), bind<table_pdl>(table.ptr), bind<norm_pdl>(w.ptr)));
    };
    using apart = std::integral_constant<plan_options, plan_options{.branches = 1, .cache_writes = false}>;
    using folded = std::integral_constant<plan_options, plan_options{.branches = 1}>;
    auto on = make("1", apart{});
    auto off = make("0", apart{});
    auto in_attention = make("1", folded{});
    int device = 0, major = 0;
    CTG_CHECK("test", cudaGetDevice(&device));
    CTG_CHECK("test", cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
    const int edges = programmatic_edges(on.captured_graph(0));
    INFO("programmatic edges: ", edges);
    CHECK(programmatic_edges(off.captured_graph(0)) == 0);
    if (major >= 9) CHECK(edges >= 6);  // every kernel after the first, but where the kernel before is a memset or copy
    for (int run = 0; run < 6; ++run) {
      const std::int32_t id = std::int32_t((7 * run + 3) % 64);
      ids.upload({id});
      const std::vector<bf> a = output_of(on, "g_pdl", 512), b = output_of(off, "g_pdl", 512), c = output_of(in_attention, "g_pdl", 512);
      CHECK_MESSAGE(std::memcmp(a.data(), b.data(), a.size() * 2) == 0, "run ", run);
      CHECK_MESSAGE(std::memcmp(c.data(), b.data(), c.size() * 2) == 0, "run ", run, ": the writes in the attention");
      CHECK(on.position() == off.position());
      CHECK(in_attention.position() == off.position());
    }
    on.check();
    off.check();
    in_attention.check();
  }
  cudaStreamDestroy(st);
}

// Parallel branches: four independent products feeding one sum run as four branches of the
// captured graph (four roots), give the serial plan's bits, and two chains whose memory the serial
// plan would share keep it apart while they may run at once (replayed, so a race would show).
using branchy = test_models::branches<1024, 1024>;

inline std::size_t root_count(cudaGraph_t g) {
  std::size_t n = 0;
  CTG_CHECK("test", cudaGraphGetRootNodes(g, nullptr, &n));
  return n;
}

TEST_CASE("executor: parallel branches are parallel in the captured graph and give the serial plan's bits") {
  using bf = __nv_bfloat16;
  const test::same_matmul_env same;  // one algorithm in both executors
  constexpr std::size_t nx = 16 * 1024, nw = 1024 * 1024;
  const auto hx = test::random_values<bf>(nx, -1.f, 1.f, 71);
  std::vector<std::vector<bf>> hw;
  for (unsigned i = 0; i < 6; ++i) hw.push_back(test::random_values<bf>(nw, -0.05f, 0.05f, 72 + i));
  device_vector<bf> dx(hx), d1(hw[0]), d2(hw[1]), d3(hw[2]), d4(hw[3]), v2(hw[4]), v4(hw[5]);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    using g = graph<branchy::sum>;
    auto bound = bindings(bind<branchy::x>(dx.ptr), bind<branchy::w<1>>(d1.ptr), bind<branchy::w<2>>(d2.ptr),
                          bind<branchy::w<3>>(d3.ptr), bind<branchy::w<4>>(d4.ptr));
    auto par = instantiate<g>(st, bound);
    auto ser = instantiate<g, plan_options{.branches = 1}>(st, bound);
    static_assert(make_plan<g>().branch_count() == 4);
    CHECK(root_count(par.captured_graph(0)) == 4);
    CHECK(root_count(ser.captured_graph(0)) == 1);
    par.run();
    ser.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<bf> a(16 * 1024), b(a.size());
    REQUIRE(cudaMemcpy(a.data(), par.data("sum"), a.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
    REQUIRE(cudaMemcpy(b.data(), ser.data("sum"), b.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(std::memcmp(a.data(), b.data(), a.size() * 2) == 0);
    // Against the host: the sum of four products (bf16 products rounded once each, then summed).
    std::vector<float> fx(nx);
    for (std::size_t i = 0; i < nx; ++i) fx[i] = test::host_float(hx[i]);
    std::vector<float> want(16 * 1024, 0.f);
    for (int j = 0; j < 4; ++j) {
      const std::vector<bf>& w = hw[std::size_t(j)];
      std::vector<float> fw(nw);
      for (std::size_t i = 0; i < nw; ++i) fw[i] = test::host_float(w[i]);
      const std::vector<float> c = test::host_matmul(fx, fw, 16, 1024, 1024);
      for (std::size_t i = 0; i < want.size(); ++i) want[i] += c[i];
    }
    int bad = 0;
    for (std::size_t i = 0; i < want.size(); ++i) bad += !(std::abs(test::host_float(a[i]) - want[i]) <= 0.03f * std::abs(want[i]) + 0.05f);
    CHECK(bad == 0);
  }
  {
    using g = graph<branchy::joined>;
    constexpr auto p = make_plan<g>();
    constexpr auto q = make_plan<g, plan_options{.branches = 1}>();
    static_assert(p.branch_count() == 2 && p.offset_of<branchy::m3>() != p.offset_of<branchy::m1>());
    static_assert(q.offset_of<branchy::m3>() == q.offset_of<branchy::m1>());  // shared in schedule order
    auto bound = bindings(bind<branchy::x>(dx.ptr), bind<branchy::w<1>>(d1.ptr), bind<branchy::w<3>>(d3.ptr),
                          bind<"v2">(v2.ptr), bind<"v4">(v4.ptr));
    auto par = instantiate<g>(st, bound);
    auto ser = instantiate<g, plan_options{.branches = 1}>(st, bound);
    CHECK(root_count(par.captured_graph(0)) == 2);
    ser.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<bf> want(16 * 1024), got(want.size());
    REQUIRE(cudaMemcpy(want.data(), ser.data("joined"), want.size() * 2, cudaMemcpyDeviceToHost) == cudaSuccess);
    int differ = 0;
    for (int run = 0; run < 50; ++run) {
      REQUIRE(cudaMemsetAsync(par.data("joined"), 0, got.size() * 2, st) == cudaSuccess);
      par.run();
      REQUIRE(cudaMemcpyAsync(got.data(), par.data("joined"), got.size() * 2, cudaMemcpyDeviceToHost, st) == cudaSuccess);
      REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
      differ += std::memcmp(got.data(), want.data(), got.size() * 2) != 0;
    }
    CHECK(differ == 0);
  }
  cudaStreamDestroy(st);
}

// A graph_value that lists its ops runs as its graph of types does (the hooks, node for node:
// runtime/hooks.cu): the decode layer, three steps each, the same bits in the output, both caches
// and the position. The value's bindings are checked at compile time, the types' at run time.
using layer = test_models::decode_layer<bf16>;
inline constexpr auto layer_value = test_models::decode_layer_value<dtype_id::bf16>();

TEST_CASE("executor: a graph_value runs as its graph of types, bit for bit (a decode layer, 3 steps)") {
  using bf = __nv_bfloat16;
  struct tensor {
    const char* name;
    std::size_t count;
    float lo, hi;
  };
  const tensor tensors[] = {{"x", 256, -1, 1},         {"g1", 256, .5f, 1.5f},      {"wq", 256 * 256, -.1f, .1f},
                            {"wk", 128 * 256, -.1f, .1f}, {"wv", 128 * 256, -.1f, .1f}, {"wo", 256 * 256, -.1f, .1f},
                            {"g2", 256, .5f, 1.5f},      {"wg", 512 * 256, -.1f, .1f}, {"wu", 512 * 256, -.1f, .1f},
                            {"wd", 256 * 512, -.1f, .1f}};
  std::vector<std::unique_ptr<test::device_buffer>> buffers;
  std::vector<binding> list;
  unsigned seed = 300;
  for (const tensor& t : tensors) {
    buffers.push_back(std::make_unique<test::device_buffer>(test::random_values<bf>(t.count, t.lo, t.hi, seed++)));
    list.push_back(bind(t.name, buffers.back()->at<bf>(0), t.count));
  }
  const auto at = [&](int i) { return buffers[std::size_t(i)]->at<bf>(0); };
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  auto typed = instantiate<layer::graph>(st, list);
  auto valued = instantiate<layer_value>(st, bindings(bind<"x">(at(0)), bind<"g1">(at(1)), bind<"wq">(at(2)), bind<"wk">(at(3)), bind<"wv">(at(4)),
                                                      bind<"wo">(at(5)), bind<"g2">(at(6)), bind<"wg">(at(7)), bind<"wu">(at(8)), bind<"wd">(at(9))));
  const auto bits = [&](auto& ex, const char* name, std::size_t count) {
    std::vector<unsigned short> h(count);
    CTG_CHECK("test", cudaMemcpy(h.data(), ex.data(name), count * 2, cudaMemcpyDeviceToHost));
    return h;
  };
  for (int step = 0; step < 3; ++step) {
    CAPTURE(step);
    typed.run();
    valued.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    const std::vector<unsigned short> y = bits(typed, "y", 256);
    CHECK(y == bits(valued, "y", 256));
    std::size_t nonzero = 0;
    for (unsigned short b : y) nonzero += (b & 0x7fff) != 0;
    CHECK(nonzero > 200);
  }
  CHECK(bits(typed, "k_cache", 64 * 128) == bits(valued, "k_cache", 64 * 128));
  CHECK(bits(typed, "v_cache", 64 * 128) == bits(valued, "v_cache", 64 * 128));
  CHECK(typed.position() == 3);
  CHECK(valued.position() == 3);
  // The value's plan launches what the typed plan launches.
  CHECK(test::nodes_of(typed.captured_graph(0)).kernels == test::nodes_of(valued.captured_graph(0)).kernels);
  typed.check();
  valued.check();
  cudaStreamDestroy(st);
}
}  // namespace executor_test
