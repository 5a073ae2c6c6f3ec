// Fused groups on a GPU: the unfused plan's bits in bf16 (each member's value is rounded to the
// dtype as its own kernel stores it), in f32 up to the FMAs the compiler may contract; 16-byte
// packs and element by element; a DAG with broadcast leaves after a matmul; one kernel per group.
#include <ctgraph/runtime.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string_view>
#include <tuple>
#include <vector>

#include "../models.hpp"
#include "gpu_util.hpp"

namespace fused_test {
using namespace ctg;
using test::device_buffer;

// matmul -> silu -> + bias -> * r -> gelu -> + (the + bias value) -> gelu: one group of six after
// the matmul (silu, unlike relu and gelu, is no matmul epilogue), reading the product, the bias and
// r. gelu's last multiply feeds an add: in f32 the compiler may fuse the two into an FMA.
template <class DT, std::int64_t M, std::int64_t N>
struct model {
  using x = input<"x", DT, shape<M, 64>>;
  using w = parameter<"w", DT, shape<64, N>>;
  using b = parameter<"b", DT, shape<N>>;
  using r = input<"r", DT, shape<M, N>>;
  struct m0 : node<"m0", ops::matmul, x, w> {};
  struct e1 : node<"e1", ops::silu, m0> {};
  struct e2 : node<"e2", ops::add, e1, b> {};
  struct e3 : node<"e3", ops::mul, e2, r> {};
  struct e4 : node<"e4", ops::gelu, e3> {};
  struct e5 : node<"e5", ops::add, e4, e2> {};
  struct e6 : node<"e6", ops::gelu, e5> {};
  using g = graph<e6>;
};

struct outcome {
  std::vector<unsigned char> bytes;
  int kernels = 0;
};

template <class Model, plan_options Options, class T>
outcome run(cudaStream_t st, const device_buffer& x, const device_buffer& w, const device_buffer& b, const device_buffer& r) {
  using m = Model;
  auto ex = instantiate<typename m::g, Options>(
      st, bindings(bind<typename m::x>(x.at<T>(0)), bind<typename m::w>(w.at<T>(0)), bind<typename m::b>(b.at<T>(0)),
                   bind<typename m::r>(r.at<T>(0))));
  ex.run();
  CTG_CHECK("test", cudaStreamSynchronize(st));
  outcome o;
  o.bytes.resize(static_desc<typename m::e6>.bytes());
  CTG_CHECK("test", cudaMemcpy(o.bytes.data(), ex.data("e6"), o.bytes.size(), cudaMemcpyDeviceToHost));
  o.kernels = test::nodes_of(ex.captured_graph(0)).kernels;
  if constexpr (Options.fuse) CHECK_THROWS_AS(ex.data("e3"), runtime_error);  // no storage
  return o;
}

template <class DT, class T, std::int64_t M, std::int64_t N>
void same_bits() {
  using m = model<DT, M, N>;
  constexpr auto fused = make_plan<typename m::g>();
  static_assert(fused.fused_group_count() == 1 && fused.fused_node_count() == 5);
  static_assert(fused.fused_group_of(fused.template index_of<typename m::e6>()).leaf_count == 3);
  const device_buffer x(test::random_values<T>(std::size_t(M * 64), -1.f, 1.f, 1));
  const device_buffer w(test::random_values<T>(std::size_t(64 * N), -0.2f, 0.2f, 2));
  const device_buffer b(test::random_values<T>(std::size_t(N), -1.f, 1.f, 3));
  const device_buffer r(test::random_values<T>(std::size_t(M * N), -2.f, 2.f, 4));
  INFO("dtype " << name_of(dtype_of<T>()) << ", " << M << " x " << N);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const test::same_matmul_env same_matmul;  // a timed choice could differ between the two
  const outcome on = run<m, plan_options{}, T>(st, x, w, b, r);
  const outcome off = run<m, plan_options{.fuse = false}, T>(st, x, w, b, r);
  cudaStreamDestroy(st);
  CHECK(on.kernels + 5 == off.kernels);  // six nodes, one kernel (the matmul's are the same in both)
  REQUIRE(on.bytes.size() == off.bytes.size());
  std::vector<T> a(on.bytes.size() / sizeof(T)), c(a.size());
  std::memcpy(a.data(), on.bytes.data(), on.bytes.size());
  std::memcpy(c.data(), off.bytes.data(), off.bytes.size());
  std::size_t differ = 0, nonzero = 0;
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const float x = test::host_float(a[i]), y = test::host_float(c[i]);
    differ += std::memcmp(&a[i], &c[i], sizeof(T)) != 0;
    nonzero += x != 0.f;
    worst = std::max(worst, std::fabs(double(x) - double(y)) / (1.0 + std::fabs(double(y))));
  }
  MESSAGE(name_of(dtype_of<T>()) << " " << M << " x " << N << ": " << differ << " of " << a.size()
                                 << " elements differ from the unfused plan's, largest relative difference " << worst);
  if constexpr (std::is_same_v<T, float>) CHECK(worst < 1e-6);  // an FMA where unfused rounds twice
  else CHECK(differ == 0);                                       // every member rounded as its own kernel does
  // Not all zeros (a group that wrote nothing would match a plan that did the same).
  CHECK(nonzero > a.size() / 2);
}

TEST_CASE("fusion: a fused group gives the unfused plan's bits (bf16; f32 within an FMA's rounding), packs and elements") {
  same_bits<f32, float, 128, 256>();          // 16-byte packs
  same_bits<bf16, __nv_bfloat16, 128, 256>();  // packs of 8
  same_bits<bf16, __nv_bfloat16, 37, 40>();    // bias rows of 40: packs, 1,480 elements
  same_bits<f32, float, 37, 41>();             // odd: element by element
}

// ew64's pattern (each add reads the previous and the previous-but-one value), 64 nodes in one
// kernel, against a host reference computed in the same order.
constexpr std::int64_t n = 1 << 16;
using ex_in = input<"x", f32, shape<n>>;
using ew = graph<repeat<64, test_models::ew_step, ex_in>>;

TEST_CASE("fusion: 64 elementwise nodes with skip reads run as one kernel") {
  constexpr auto p = make_plan<ew>();
  static_assert(p.fused_group_count() == 1 && p.fused_node_count() == 63 && p.buffer_count() == 1);
  const std::vector<float> hx = test::random_floats(n, 9, -2.f, 2.f);
  test::device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<ew>(st, {bind("x", dx.ptr, dx.n)});
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(test::nodes_of(ex.captured_graph(0)).kernels == 1);
    std::vector<float> out(n);
    REQUIRE(cudaMemcpy(out.data(), ex.data("e63"), n * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    int bad = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      float prev2 = hx[std::size_t(i)], prev = prev2, v = 0;
      for (int k = 0; k < 64; ++k) {
        switch (k % 4) {
          case 0: v = ops::relu{}(prev); break;
          case 1: v = ops::scale<1, 2>{}(prev); break;
          case 2: v = ops::add{}(prev, prev2); break;
          default: v = ops::gelu{}(prev); break;
        }
        prev2 = prev, prev = v;
      }
      bad += std::fabs(out[std::size_t(i)] - v) > 1e-5f * (1.f + std::fabs(v));
    }
    CHECK(bad == 0);
  }
  cudaStreamDestroy(st);
}

}  // namespace fused_test

namespace fused_test {
// A matmul and the relu or gelu reading it: one cuBLASLt call with that epilogue, the same bits as
// writing ops::linear<false, Act> by hand (the same call), one kernel fewer than unfused.
template <ops::epilogue Act, class Fn, bool Bias>
struct epilogue_model {
  using x = input<"x", bf16, shape<16, 256>>;
  using w = parameter<"w", bf16, shape<256, 512>>;
  using b = parameter<"b", bf16, shape<512>>;
  struct product : node<"product", ops::matmul, x, w> {};
  struct biased : node<"biased", ops::add, product, b> {};
  using before_act = std::conditional_t<Bias, biased, product>;
  struct act : node<"act", Fn, before_act> {};
  struct by_hand_plain : node<"act", ops::linear<false, Act>, x, w> {};
  struct by_hand_bias : node<"act", ops::linear<false, Act>, x, w, b> {};
  using by_hand = std::conditional_t<Bias, by_hand_bias, by_hand_plain>;
};

template <ops::epilogue Act, class Fn, bool Bias = false>
void epilogue_bits() {
  using m = epilogue_model<Act, Fn, Bias>;
  using fused = graph<typename m::act>;
  using by_hand = graph<typename m::by_hand>;
  constexpr auto p = make_plan<fused>();
  static_assert(p.fused_group_count() == 1 && p.fused_node_count() == (Bias ? 2 : 1) && p.buffer_count() == 1);
  const device_buffer x(test::random_values<__nv_bfloat16>(16 * 256, -1.f, 1.f, 5));
  const device_buffer w(test::random_values<__nv_bfloat16>(256 * 512, -0.2f, 0.2f, 6));
  const device_buffer b(test::random_values<__nv_bfloat16>(512, -1.f, 1.f, 7));
  const test::same_matmul_env same_matmul;
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  auto result = [&](auto g, auto options) {
    using G = decltype(g);
    using bf = __nv_bfloat16;
    auto ex = [&] {
      if constexpr (Bias)
        return instantiate<G, decltype(options)::value>(
            st, bindings(bind<typename m::x>(x.at<bf>(0)), bind<typename m::w>(w.at<bf>(0)), bind<typename m::b>(b.at<bf>(0))));
      else
        return instantiate<G, decltype(options)::value>(st, bindings(bind<typename m::x>(x.at<bf>(0)), bind<typename m::w>(w.at<bf>(0))));
    }();
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    std::vector<unsigned char> bytes(16 * 512 * 2);
    CTG_CHECK("test", cudaMemcpy(bytes.data(), ex.data("act"), bytes.size(), cudaMemcpyDeviceToHost));
    return std::pair{bytes, test::nodes_of(ex.captured_graph(0)).kernels};
  };
  const auto on = result(fused{}, std::integral_constant<plan_options, plan_options{}>{});
  const auto hand = result(by_hand{}, std::integral_constant<plan_options, plan_options{}>{});
  const auto off = result(fused{}, std::integral_constant<plan_options, plan_options{.fuse = false}>{});
  cudaStreamDestroy(st);
  CHECK(on.first == hand.first);
  CHECK(on.second == hand.second);
  CHECK(on.second + (Bias ? 2 : 1) == off.second);
  std::size_t nonzero = 0;
  for (unsigned char c : on.first) nonzero += c != 0;
  CHECK(nonzero > on.first.size() / 4);
}

TEST_CASE("fusion: a matmul's relu or gelu reader, and a bias add before it, run as its cuBLASLt epilogue") {
  epilogue_bits<ops::epilogue::relu, ops::relu>();
  epilogue_bits<ops::epilogue::gelu, ops::gelu>();
  epilogue_bits<ops::epilogue::gelu, ops::gelu, true>();
}

// r + (x W + b), the residual a graph input: one cuBLASLt call with C = r, as ops::linear with a
// residual written by hand; two kernels fewer than unfused.
using rx = input<"x", bf16, shape<16, 256>>;
using rw = parameter<"w", bf16, shape<256, 512>>;
using rb = parameter<"b", bf16, shape<512>>;
using rr = input<"r", bf16, shape<16, 512>>;
struct rprod : node<"product", ops::matmul, rx, rw> {};
struct rbiased : node<"biased", ops::add, rprod, rb> {};
struct rsum : node<"act", ops::add, rr, rbiased> {};
struct rhand : node<"act", ops::linear<>, rx, rw, rb, rr> {};
TEST_CASE("fusion: a bias add and a residual add after a matmul run as its cuBLASLt call (C = the residual)") {
  constexpr auto p = make_plan<graph<rsum>>();
  static_assert(p.fused_group_count() == 1 && p.fused_node_count() == 2 && p.buffer_count() == 1);
  using bf = __nv_bfloat16;
  const device_buffer x(test::random_values<bf>(16 * 256, -1.f, 1.f, 15)), w(test::random_values<bf>(256 * 512, -0.2f, 0.2f, 16));
  const device_buffer b(test::random_values<bf>(512, -1.f, 1.f, 17)), r(test::random_values<bf>(16 * 512, -1.f, 1.f, 18));
  const test::same_matmul_env same_matmul;
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  auto result = [&](auto g, auto options) {
    auto ex = instantiate<decltype(g), decltype(options)::value>(
        st, bindings(bind<rx>(x.at<bf>(0)), bind<rw>(w.at<bf>(0)), bind<rb>(b.at<bf>(0)), bind<rr>(r.at<bf>(0))));
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    std::vector<unsigned char> bytes(16 * 512 * 2);
    CTG_CHECK("test", cudaMemcpy(bytes.data(), ex.data("act"), bytes.size(), cudaMemcpyDeviceToHost));
    return std::pair{bytes, test::nodes_of(ex.captured_graph(0)).kernels};
  };
  const auto on = result(graph<rsum>{}, std::integral_constant<plan_options, plan_options{}>{});
  const auto hand = result(graph<rhand>{}, std::integral_constant<plan_options, plan_options{}>{});
  const auto off = result(graph<rsum>{}, std::integral_constant<plan_options, plan_options{.fuse = false}>{});
  cudaStreamDestroy(st);
  CHECK(on.first == hand.first);
  CHECK(on.second == hand.second);
  CHECK(on.second + 2 == off.second);
  std::size_t nonzero = 0;
  for (unsigned char c : on.first) nonzero += c != 0;
  CHECK(nonzero > on.first.size() / 4);
}
}  // namespace fused_test

namespace fused_test {
// plan_options::fast_math: gelu's one-instruction tanh and silu's approximate exponential, in a
// fused group and in a node of its own; close to the exact forms, and not the same (so they ran).
struct fg0 : node<"fg0", ops::gelu, ex_in> {};
struct fg1 : node<"fg1", ops::silu, fg0> {};
struct fs0 : node<"fs0", ops::gelu, ex_in> {};
struct fsi : node<"fsi", ops::silu, ex_in> {};

template <class G, plan_options Options>
std::vector<float> run_f32(cudaStream_t st, const test::device_vector<float>& dx, const char* out) {
  auto ex = instantiate<G, Options>(st, {bind("x", dx.ptr, dx.n)});
  ex.run();
  CTG_CHECK("test", cudaStreamSynchronize(st));
  std::vector<float> h(static_cast<std::size_t>(n));
  CTG_CHECK("test", cudaMemcpy(h.data(), ex.data(out), h.size() * 4, cudaMemcpyDeviceToHost));
  return h;
}

TEST_CASE("fusion: plan_options::fast_math runs the ops' approximate forms, fused or not") {
  const std::vector<float> hx = test::random_floats(n, 11, -6.f, 6.f);
  test::device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  auto compare = [&](const std::vector<float>& exact, const std::vector<float>& fast, const char* what) {
    int differ = 0;
    double worst = 0;
    for (std::size_t i = 0; i < exact.size(); ++i) {
      differ += exact[i] != fast[i];
      worst = std::max(worst, std::fabs(double(exact[i]) - double(fast[i])));
    }
    MESSAGE(std::string(what) << ": " << differ << " of " << exact.size() << " differ from the exact forms, largest difference " << worst);
    CHECK(differ > 0);
    CHECK(worst < 5e-3);
  };
  compare(run_f32<graph<fg1>, plan_options{}>(st, dx, "fg1"), run_f32<graph<fg1>, plan_options{.fast_math = true}>(st, dx, "fg1"),
          "gelu -> silu, fused");
  compare(run_f32<graph<fs0>, plan_options{}>(st, dx, "fs0"), run_f32<graph<fs0>, plan_options{.fast_math = true}>(st, dx, "fs0"),
          "gelu alone");
  cudaStreamDestroy(st);
}
//! Node `out` of G (one f32 op of ex_in) at n points evenly over [lo, hi]: how many miss 16 units
//! of 2^-24 of want(x) plus per_t |t(x)| units for the rounding of its argument t (values below
//! `tiny` must come back below it: flushed); prints the worst.
template <class G, class Want, class Arg>
int points_outside(const char* out, float lo, float hi, Want want, Arg t, double per_t, double tiny) {
  std::vector<float> hx(static_cast<std::size_t>(n));
  for (std::size_t i = 0; i < hx.size(); ++i) hx[i] = lo + (hi - lo) * float(i) / float(hx.size() - 1);
  test::device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const std::vector<float> got = run_f32<G, plan_options{}>(st, dx, out);
  cudaStreamDestroy(st);
  int outside = 0;
  double worst = 0;  // in units of 2^-24 of the value, less the argument's share
  for (std::size_t i = 0; i < hx.size(); ++i) {
    const double x = hx[i], w = want(x), err = std::fabs(double(got[i]) - w);
    if (std::fabs(w) < tiny) {
      outside += !(std::fabs(double(got[i])) < tiny);
      continue;
    }
    const double ulps = err / (std::fabs(w) * 0x1p-24) - per_t * std::fabs(t(x));
    worst = std::max(worst, ulps);
    outside += ulps > 16.0;
  }
  MESSAGE(std::string(out) << ": worst error " << worst << " units of 2^-24 beyond " << per_t << " |t|");
  return outside;
}
// gelu (tanh form) against the function in double, x over [-8, 8]: within 16 units of 2^-24 of the
// value plus what rounding its argument t = -2 log2(e) sqrt(2/pi) (x + 0.044715 x^3) may cost, 3 |t|
// units (x near -8: the value is ~1e-21 and t ~ 71); values below float's normal range may flush.
// 0.5 x (1 + tanh(u)) is computed as x / (1 + e^(-2u)): the same value, without 1 + tanh(u)'s
// cancellation (in double too: near x = -7 it leaves no digit).
TEST_CASE("ops: gelu on the GPU is the tanh form within a few units of 2^-24 of the function in double") {
  const auto u = [](double x) { return 0.7978845608028654 * (x + 0.044715 * x * x * x); };
  CHECK(points_outside<graph<fs0>>(
            "fs0", -8.f, 8.f, [&](double x) { return x / (1.0 + std::exp(-2.0 * u(x))); },
            [&](double x) { return -2.0 * 1.4426950408889634 * u(x); }, 3.0, 1e-37) == 0);
}
// silu against the function in double, x over [-100, 20]: within 16 units plus 2 |t|, t = -log2(e) x;
// below x ~ -87 the reciprocal is subnormal and flushed, and silu gives the limit, 0.
TEST_CASE("ops: silu on the GPU is within a few units of 2^-24 of the function in double") {
  CHECK(points_outside<graph<fsi>>(
            "fsi", -100.f, 20.f, [](double x) { return x / (1.0 + std::exp(-x)); }, [](double x) { return 1.4426950408889634 * x; }, 2.0,
            1e-35) == 0);
}
// A decode step's RMS norm read by two projections (W [N,K]; one with a bias): folded into their
// prologues, the gemv normalises A's rows as it loads them. Against the host (in double) and the
// unfused plan: within bf16's rounding of the normalised row, which the prologue skips.
template <std::int64_t M>
struct prologue_model {
  using x = input<"x", bf16, shape<M, 512>>;
  using g = parameter<"g", bf16, shape<512>>;
  using wq = parameter<"wq", bf16, shape<1024, 512>>;
  using wk = parameter<"wk", bf16, shape<128, 512>>;
  using bk = parameter<"bk", bf16, shape<128>>;
  struct nx : node<"nx", ops::rms_norm<1e-5f>, x, g> {};
  struct q : node<"q", ops::linear<true>, nx, wq> {};
  struct k : node<"k", ops::linear<true>, nx, wk, bk> {};
  using graph = ctg::graph<q, k>;
};

//! The host's y = (x / rms(x) * g) W^T (+ b), in double: x [m, k], g [k], W [n, k], b [n].
std::vector<double> normed_product(const std::vector<__nv_bfloat16>& x, const std::vector<__nv_bfloat16>& g,
                                   const std::vector<__nv_bfloat16>& w, std::int64_t m, std::int64_t n, std::int64_t k,
                                   const std::vector<__nv_bfloat16>* b = nullptr) {
  std::vector<double> y(std::size_t(m * n));
  for (std::int64_t r = 0; r < m; ++r) {
    double ss = 0;
    for (std::int64_t i = 0; i < k; ++i) ss += double(test::host_float(x[std::size_t(r * k + i)])) * test::host_float(x[std::size_t(r * k + i)]);
    const double rstd = 1.0 / std::sqrt(ss / double(k) + 1e-5);
    for (std::int64_t j = 0; j < n; ++j) {
      double acc = b ? test::host_float((*b)[std::size_t(j)]) : 0.0;
      for (std::int64_t i = 0; i < k; ++i)
        acc += double(test::host_float(x[std::size_t(r * k + i)])) * rstd * test::host_float(g[std::size_t(i)]) * test::host_float(w[std::size_t(j * k + i)]);
      y[std::size_t(r * n + j)] = acc;
    }
  }
  return y;
}

template <std::int64_t M>
void prologue_matches() {
  using m = prologue_model<M>;
  using bf = __nv_bfloat16;
  constexpr auto folded = make_plan<typename m::graph>();
  static_assert(folded.prologue_count() == 1 && folded.template prologue_of<typename m::q>() == folded.template index_of<typename m::nx>());
  const auto x = test::random_values<bf>(M * 512, -3.f, 3.f, 71), g = test::random_values<bf>(512, 0.5f, 1.5f, 72);
  const auto wq = test::random_values<bf>(1024 * 512, -0.1f, 0.1f, 73), wk = test::random_values<bf>(128 * 512, -0.1f, 0.1f, 74);
  const auto bk = test::random_values<bf>(128, -1.f, 1.f, 75);
  const device_buffer dx(x), dg(g), dwq(wq), dwk(wk), dbk(bk);
  const std::vector<double> want_q = normed_product(x, g, wq, M, 1024, 512), want_k = normed_product(x, g, wk, M, 128, 512, &bk);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const auto run = [&](auto options, const char* kernel, int kernels) {
    constexpr plan_options o = decltype(options)::value;
    const test::matmul_kernel_env env(kernel);
    auto ex = instantiate<typename m::graph, o>(st, bindings(bind<typename m::x>(dx.at<bf>(0)), bind<typename m::g>(dg.at<bf>(0)),
                                                            bind<typename m::wq>(dwq.at<bf>(0)), bind<typename m::wk>(dwk.at<bf>(0)),
                                                            bind<typename m::bk>(dbk.at<bf>(0))));
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    // Exactly the gemv's two; else at least a norm and a product per reader (cuBLASLt may split K).
    if (kernels == 2) CHECK(test::nodes_of(ex.captured_graph(0)).kernels == 2);
    else CHECK(test::nodes_of(ex.captured_graph(0)).kernels >= kernels);
    if constexpr (o.fuse) {
      CHECK_THROWS_AS(ex.data("nx"), runtime_error);  // no storage
      CHECK(ex.template prepared_state<matmul_state>("q").prologue_eps == 1e-5f);
      CHECK((ex.template prepared_state<matmul_state>("q").kernel == matmul_kernel::gemv) == (std::string_view(kernel) != "cublaslt"));
    }
    for (const auto& [name, want, n] : {std::tuple{"q", &want_q, std::int64_t(1024)}, std::tuple{"k", &want_k, std::int64_t(128)}}) {
      std::vector<bf> got(std::size_t(M * n));
      CTG_CHECK("test", cudaMemcpy(got.data(), ex.data(name), got.size() * 2, cudaMemcpyDeviceToHost));
      double worst = 0;
      for (std::size_t i = 0; i < got.size(); ++i)
        worst = std::max(worst, std::fabs(double(test::host_float(got[i])) - (*want)[i]) / (1.0 + std::fabs((*want)[i])));
      INFO(M << " rows, " << name << ", " << (o.fuse ? "folded" : "unfused") << ", CTGRAPH_MATMUL_KERNEL=" << kernel);
      CHECK(worst < 2e-2);  // bf16 holds 8 bits: a rounding of each product term and of the output
    }
  };
  run(std::integral_constant<plan_options, plan_options{}>{}, "auto", 2);                  // the gemv, no norm kernel
  run(std::integral_constant<plan_options, plan_options{}>{}, "cublaslt", 4);              // the norm first, per reader
  run(std::integral_constant<plan_options, plan_options{.fuse = false}>{}, "auto", 3);     // the norm as a node
  cudaStreamDestroy(st);
}

TEST_CASE("fusion: an RMS norm in its readers' prologues matches the host and the unfused plan") {
  prologue_matches<1>();
  prologue_matches<5>();
}
// A decode step's SwiGLU: silu(gate) * up read only by the down projection (W [N,K], with a
// residual) is folded into its prologue, the silu with it; the gemv computes each element of A as
// it loads it. Against the host (in double) and the unfused plan, on the gemv and on the fallback
// (the product first, into a buffer of the projection's own).
template <std::int64_t M>
struct gated_model {
  using gate = input<"gate", bf16, shape<M, 1024>>;
  using up = input<"up", bf16, shape<M, 1024>>;
  using res = input<"res", bf16, shape<M, 256>>;
  using wd = parameter<"wd", bf16, shape<256, 1024>>;
  struct act : node<"act", ops::silu, gate> {};
  struct both : node<"both", ops::mul, act, up> {};
  struct down : node<"down", ops::linear<true>, both, wd, res> {};
  using graph = ctg::graph<down>;
};

template <std::int64_t M>
void gated_matches() {
  using m = gated_model<M>;
  using bf = __nv_bfloat16;
  constexpr auto folded = make_plan<typename m::graph>();
  static_assert(folded.prologue_count() == 2 && folded.template prologue_of<typename m::down>() == folded.template index_of<typename m::both>());
  const auto gate = test::random_values<bf>(M * 1024, -4.f, 4.f, 91), up = test::random_values<bf>(M * 1024, -2.f, 2.f, 92);
  const auto res = test::random_values<bf>(M * 256, -1.f, 1.f, 93), wd = test::random_values<bf>(256 * 1024, -0.1f, 0.1f, 94);
  const device_buffer dgate(gate), dup(up), dres(res), dwd(wd);
  std::vector<double> want(std::size_t(M * 256));  // (silu(gate) * up) W^T + res, in double
  for (std::int64_t r = 0; r < M; ++r)
    for (std::int64_t j = 0; j < 256; ++j) {
      double acc = test::host_float(res[std::size_t(r * 256 + j)]);
      for (int i = 0; i < 1024; ++i) {
        const double x = test::host_float(gate[std::size_t(r * 1024 + i)]), y = test::host_float(up[std::size_t(r * 1024 + i)]);
        acc += x / (1.0 + std::exp(-x)) * y * test::host_float(wd[std::size_t(j * 1024 + i)]);
      }
      want[std::size_t(r * 256 + j)] = acc;
    }
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const auto run = [&](auto options, const char* kernel, int kernels) {
    constexpr plan_options o = decltype(options)::value;
    const test::matmul_kernel_env env(kernel);
    auto ex = instantiate<typename m::graph, o>(st, bindings(bind<typename m::gate>(dgate.at<bf>(0)), bind<typename m::up>(dup.at<bf>(0)),
                                                            bind<typename m::res>(dres.at<bf>(0)), bind<typename m::wd>(dwd.at<bf>(0))));
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    // Exactly the gemv; else the product's kernel and at least one for the projection.
    if (kernels == 1) CHECK(test::nodes_of(ex.captured_graph(0)).kernels == 1);
    else CHECK(test::nodes_of(ex.captured_graph(0)).kernels >= kernels);
    if constexpr (o.fuse) {
      CHECK_THROWS_AS(ex.data("both"), runtime_error);  // no storage
      CHECK(ex.template prepared_state<matmul_state>("down").prologue_gated);
      CHECK((ex.template prepared_state<matmul_state>("down").kernel == matmul_kernel::gemv) == (std::string_view(kernel) != "cublaslt"));
    }
    std::vector<bf> got(std::size_t(M * 256));
    CTG_CHECK("test", cudaMemcpy(got.data(), ex.data("down"), got.size() * 2, cudaMemcpyDeviceToHost));
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i)
      worst = std::max(worst, std::fabs(double(test::host_float(got[i])) - want[i]) / (1.0 + std::fabs(want[i])));
    INFO(M << " rows, " << (o.fuse ? "folded" : "unfused") << ", CTGRAPH_MATMUL_KERNEL=" << kernel);
    CHECK(worst < 2e-2);  // bf16 holds 8 bits: a rounding of each product term and of the output
  };
  run(std::integral_constant<plan_options, plan_options{}>{}, "auto", 1);               // the gemv alone
  run(std::integral_constant<plan_options, plan_options{}>{}, "cublaslt", 2);           // the product first, then cuBLASLt
  run(std::integral_constant<plan_options, plan_options{.fuse = false}>{}, "auto", 2);  // silu * up as a fused group
  cudaStreamDestroy(st);
}

TEST_CASE("fusion: a gated product silu(x) * y in a projection's prologue matches the host and the unfused plan") {
  gated_matches<1>();
  gated_matches<4>();
}

// A decode step's q, k and v: three products of one normalised row (sibling products) run as one
// gemv launch, the norm in its prologue. Against the host (in double) and the unfused plan, and
// with cuBLASLt forced (each product its own call, the norm first into a buffer).
template <std::int64_t M>
struct siblings_model {
  using x = input<"sx", bf16, shape<M, 256>>;
  using g = parameter<"sg", bf16, shape<256>>;
  using wq = parameter<"swq", bf16, shape<512, 256>>;
  using wk = parameter<"swk", bf16, shape<64, 256>>;
  using wv = parameter<"swv", bf16, shape<128, 256>>;
  struct n : node<"sn", ops::rms_norm<1e-5f>, x, g> {};
  struct q : node<"sq", ops::linear<true>, n, wq> {};
  struct k : node<"sk", ops::linear<true>, n, wk> {};
  struct v : node<"sv", ops::linear<true>, n, wv> {};
  using graph = ctg::graph<q, k, v>;
};

template <std::int64_t M>
void siblings_match() {
  using m = siblings_model<M>;
  using bf = __nv_bfloat16;
  constexpr auto p = make_plan<typename m::graph>();
  static_assert(p.sibling_count() == 2 && p.prologue_count() == 1);
  constexpr int q = p.template index_of<typename m::q>(), k = p.template index_of<typename m::k>(), v = p.template index_of<typename m::v>();
  constexpr int lead = p.sibling_lead_of(q) >= 0 ? p.sibling_lead_of(q) : q;
  static_assert(p.sibling_lead_of(lead) == no_index && (lead == q || p.sibling_lead_of(q) == lead) &&
                (lead == k || p.sibling_lead_of(k) == lead) && (lead == v || p.sibling_lead_of(v) == lead));
  static_assert(p.launches(lead) && p.launch(lead).sibling_count == 2 && !p.launches(lead == q ? k : q));
  const auto x = test::random_values<bf>(M * 256, -2.f, 2.f, 61), g = test::random_values<bf>(256, 0.5f, 1.5f, 62);
  const std::int64_t rows[3] = {512, 64, 128};
  std::vector<std::vector<bf>> w;
  for (int j = 0; j < 3; ++j) w.push_back(test::random_values<bf>(std::size_t(rows[j] * 256), -0.1f, 0.1f, 63 + j));
  const device_buffer dx(x), dg(g), dq(w[0]), dk(w[1]), dv(w[2]);
  std::vector<double> want[3];
  for (int j = 0; j < 3; ++j) want[j] = normed_product(x, g, w[std::size_t(j)], M, rows[j], 256);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const auto run = [&](auto options, const char* kernel, int kernels) {
    constexpr plan_options o = decltype(options)::value;
    const test::matmul_kernel_env env(kernel);
    auto ex = instantiate<typename m::graph, o>(st, bindings(bind<typename m::x>(dx.at<bf>(0)), bind<typename m::g>(dg.at<bf>(0)),
                                                            bind<typename m::wq>(dq.at<bf>(0)), bind<typename m::wk>(dk.at<bf>(0)),
                                                            bind<typename m::wv>(dv.at<bf>(0))));
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    if (kernels == 1) CHECK(test::nodes_of(ex.captured_graph(0)).kernels == 1);  // one gemv for all three
    else CHECK(test::nodes_of(ex.captured_graph(0)).kernels >= kernels);
    if constexpr (o.fuse) {
      const matmul_state& s = ex.template prepared_state<matmul_state>(p.node(lead).name);
      CHECK(s.sibling_count == (std::string_view(kernel) == "cublaslt" ? 0 : 2));
      CHECK(s.sibling_states.size() == (std::string_view(kernel) == "cublaslt" ? 2u : 0u));
    }
    const char* names[3] = {"sq", "sk", "sv"};
    for (int j = 0; j < 3; ++j) {
      std::vector<bf> got(std::size_t(M * rows[j]));
      CTG_CHECK("test", cudaMemcpy(got.data(), ex.data(names[j]), got.size() * 2, cudaMemcpyDeviceToHost));
      double worst = 0;
      std::size_t nonzero = 0;
      for (std::size_t i = 0; i < got.size(); ++i) {
        worst = std::max(worst, std::fabs(double(test::host_float(got[i])) - want[j][i]) / (1.0 + std::fabs(want[j][i])));
        nonzero += test::host_float(got[i]) != 0.f;
      }
      INFO(M << " rows, " << names[j] << ", " << (o.fuse ? "siblings" : "unfused") << ", CTGRAPH_MATMUL_KERNEL=" << kernel);
      CHECK(worst < 2e-2);
      CHECK(nonzero > got.size() / 2);
    }
  };
  run(std::integral_constant<plan_options, plan_options{}>{}, "auto", 1);               // one gemv
  run(std::integral_constant<plan_options, plan_options{}>{}, "cublaslt", 4);           // the norm, then three calls
  run(std::integral_constant<plan_options, plan_options{.fuse = false}>{}, "auto", 4);  // the norm, then three products
  run(std::integral_constant<plan_options, plan_options{.branches = 1}>{}, "auto", 1);  // one branch
  cudaStreamDestroy(st);
  (void)k, (void)v;
}

TEST_CASE("fusion: sibling products of one normalised row run as one gemv launch and match the host") {
  siblings_match<1>();
  siblings_match<4>();
}

// Queries rotated by attention as it loads them (a folded ops::rotary), 2 tokens at position 37
// over a cache of 64: against the unfused plan, within bf16's rounding of the rotated queries.
using rq = input<"rq", bf16, shape<2, 256>>;  // 4 heads of 64
using rk = input<"rk", bf16, shape<64, 128>>;
using rv = input<"rv", bf16, shape<64, 128>>;
using rp = input<"rp", i32, shape<1>>;
struct rqr : node<"rqr", ops::rotary<64>, rq, rp> {};
struct rat : node<"rat", ops::cache_attention<4, 2>, rqr, rk, rv, rp> {};

TEST_CASE("fusion: a query rotary in attention's prologue matches the unfused plan") {
  using bf = __nv_bfloat16;
  static_assert(make_plan<graph<rat>>().prologue_of<rat>() == make_plan<graph<rat>>().index_of<rqr>());
  const device_buffer dq(test::random_values<bf>(2 * 256, -2.f, 2.f, 81)), dk(test::random_values<bf>(64 * 128, -2.f, 2.f, 82)),
      dv(test::random_values<bf>(64 * 128, -1.f, 1.f, 83)), dp(std::vector<std::int32_t>{37});
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const auto run = [&](auto options, int kernels) {
    constexpr plan_options o = decltype(options)::value;
    auto ex = instantiate<graph<rat>, o>(st, bindings(bind<rq>(dq.at<bf>(0)), bind<rk>(dk.at<bf>(0)), bind<rv>(dv.at<bf>(0)),
                                                     bind<rp>(dp.at<std::int32_t>(0))));
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    CHECK(test::nodes_of(ex.captured_graph(0)).kernels == kernels);
    std::vector<bf> out(2 * 256);
    CTG_CHECK("test", cudaMemcpy(out.data(), ex.data("rat"), out.size() * 2, cudaMemcpyDeviceToHost));
    return out;
  };
  const std::vector<bf> on = run(std::integral_constant<plan_options, plan_options{}>{}, 1);
  const std::vector<bf> off = run(std::integral_constant<plan_options, plan_options{.fuse = false}>{}, 2);
  cudaStreamDestroy(st);
  double worst = 0;
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < on.size(); ++i) {
    const double a = test::host_float(on[i]), b = test::host_float(off[i]);
    worst = std::max(worst, std::fabs(a - b) / (1.0 + std::fabs(b)));
    nonzero += a != 0.0;
  }
  MESSAGE("rotary in attention's prologue: largest relative difference from the unfused plan " << worst);
  CHECK(worst < 2e-2);
  CHECK(nonzero > on.size() / 2);
}
// Keys rotated as the cache write stores them (a folded ops::rotary), 2 tokens at position 37 of
// a cache of 64 rows: the unfused plan's bits (the same arithmetic), the other rows untouched.
using wk = input<"wk", bf16, shape<2, 128>>;  // 2 K/V heads of 64
using wc = state<"wc", bf16, shape<64, 128>>;
using wp = input<"wp", i32, shape<1>>;
struct wkr : node<"wkr", ops::rotary<64>, wk, wp> {};
struct wput : node<"wput", ops::cache_write<0>, wc, wp, wkr> {};

TEST_CASE("fusion: a key rotary in the cache write's prologue gives the unfused plan's bits") {
  using bf = __nv_bfloat16;
  static_assert(make_plan<graph<wput>>().prologue_of<wput>() == make_plan<graph<wput>>().index_of<wkr>());
  const device_buffer dk(test::random_values<bf>(2 * 128, -2.f, 2.f, 84)), dp(std::vector<std::int32_t>{37});
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  const auto run = [&](auto options, int kernels) {
    constexpr plan_options o = decltype(options)::value;
    auto ex = instantiate<graph<wput>, o>(st, bindings(bind<wk>(dk.at<bf>(0)), bind<wp>(dp.at<std::int32_t>(0))));
    ex.run();
    ex.check();
    CHECK(test::nodes_of(ex.captured_graph(0)).kernels == kernels);
    std::vector<unsigned short> cache(64 * 128);
    CTG_CHECK("test", cudaMemcpy(cache.data(), ex.data("wc"), cache.size() * 2, cudaMemcpyDeviceToHost));
    return cache;
  };
  const std::vector<unsigned short> on = run(std::integral_constant<plan_options, plan_options{}>{}, 1);
  const std::vector<unsigned short> off = run(std::integral_constant<plan_options, plan_options{.fuse = false}>{}, 2);
  cudaStreamDestroy(st);
  CHECK(on == off);
  std::size_t written = 0, elsewhere = 0;
  for (std::size_t i = 0; i < on.size(); ++i) (i / 128 == 37 || i / 128 == 38 ? written : elsewhere) += on[i] != 0;
  CHECK(written > 200);
  CHECK(elsewhere == 0);
}
// An attention that runs the cache writes it reads (passes/fuse.hpp): 2 tokens at position 37 of
// caches of 64 rows that hold earlier rows, the keys rotated: the bits of the plan whose writes
// launch kernels of their own, in the attention's output and in both caches. Out of range (2
// tokens at 63), both write nothing, give the same output and report it to check().
using writing = test_models::cache_step<2, input<"at", i32, shape<1>>>;

TEST_CASE("fusion: an attention that runs its cache writes gives the bits of the writes' own kernels") {
  using bf = __nv_bfloat16;
  using w = writing;
  static_assert(make_plan<graph<w::attn>>().written_in_attention_count() == 2);
  // The hook runs the attention with both: the writes (the key's rotary) and the query's rotary.
  static_assert(std::is_same_v<ctg::detail::planned_op<w::attn, ctg::detail::planner<graph<w::attn>, plan_options{}>::lived, w::attn::op_type>::type,
                               ops::cache_attention<4, 2, ops::rotary<64>, ops::cache_writes<ops::rotary<64>>>>);
  const device_buffer dq(test::random_values<bf>(2 * 256, -2.f, 2.f, 91)), dk(test::random_values<bf>(2 * 128, -2.f, 2.f, 92)),
      dv(test::random_values<bf>(2 * 128, -1.f, 1.f, 93));
  const std::vector<bf> k_rows = test::random_values<bf>(64 * 128, -2.f, 2.f, 94), v_rows = test::random_values<bf>(64 * 128, -1.f, 1.f, 95);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  struct result {
    std::vector<unsigned short> out, k, v;
    bool reported = false;
  };
  const auto run = [&](auto options, int kernels, int position) {
    constexpr plan_options o = decltype(options)::value;
    const device_buffer kc(k_rows), vc(v_rows), dp(std::vector<std::int32_t>{position});
    auto ex = instantiate<graph<w::attn>, o>(st, bindings(bind<w::q>(dq.at<bf>(0)), bind<w::k>(dk.at<bf>(0)), bind<w::v>(dv.at<bf>(0)),
                                                         bind<w::k_cache>(kc.at<bf>(0)), bind<w::v_cache>(vc.at<bf>(0)),
                                                         bind<input<"at", i32, shape<1>>>(dp.at<std::int32_t>(0))));
    ex.run();
    CTG_CHECK("test", cudaStreamSynchronize(st));
    CHECK(test::nodes_of(ex.captured_graph(0)).kernels == kernels);
    result r{std::vector<unsigned short>(2 * 256), std::vector<unsigned short>(64 * 128), std::vector<unsigned short>(64 * 128)};
    CTG_CHECK("test", cudaMemcpy(r.out.data(), ex.data("attn"), r.out.size() * 2, cudaMemcpyDeviceToHost));
    CTG_CHECK("test", cudaMemcpy(r.k.data(), kc.p, r.k.size() * 2, cudaMemcpyDeviceToHost));
    CTG_CHECK("test", cudaMemcpy(r.v.data(), vc.p, r.v.size() * 2, cudaMemcpyDeviceToHost));
    try {
      ex.check();
    } catch (const runtime_error&) {
      r.reported = true;
    }
    return r;
  };
  using on_t = std::integral_constant<plan_options, plan_options{}>;
  using apart_t = std::integral_constant<plan_options, plan_options{.cache_writes = false}>;
  const result on = run(on_t{}, 1, 37), apart = run(apart_t{}, 3, 37);
  CHECK(on.out == apart.out);
  CHECK(on.k == apart.k);
  CHECK(on.v == apart.v);
  CHECK(!on.reported);
  CHECK(!apart.reported);
  std::vector<unsigned short> before(k_rows.size());
  std::memcpy(before.data(), k_rows.data(), before.size() * 2);
  std::size_t changed = 0, nonzero = 0;
  for (std::size_t i = 0; i < on.k.size(); ++i) changed += on.k[i] != before[i];
  for (unsigned short x : on.out) nonzero += x != 0;
  CHECK(changed > 200);  // rows 37 and 38, rotated
  CHECK(changed <= 2 * 128);
  CHECK(nonzero > on.out.size() / 2);
  const result past = run(on_t{}, 1, 63), past_apart = run(apart_t{}, 3, 63);
  CHECK(past.out == past_apart.out);
  CHECK(past.k == past_apart.k);
  CHECK(past.reported);
  CHECK(past_apart.reported);
  cudaStreamDestroy(st);
}
}  // namespace fused_test
