#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <array>

#include "../models.hpp"

namespace {
using namespace ctg;
using test_models::no_op_host;

constexpr tensor_desc t(dtype_id d, std::initializer_list<std::int64_t> dims) {
  tensor_desc r{d, int(dims.size()), {}};
  int i = 0;
  for (auto v : dims) r.dims[i++] = v;
  return r;
}
template <class Op>
constexpr output_result apply(std::initializer_list<tensor_desc> in) {
  return Op::output(std::span<const tensor_desc>(in.begin(), in.size()));
}

// A user-defined op: concatenates two vectors.
struct concat {
  static constexpr std::string_view name = "concat";
  static constexpr op_traits traits{.capturable = true};
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 2) return output_result::fail(errc::wrong_arity);
    if (in[0].dtype != in[1].dtype) return output_result::fail(errc::dtype_mismatch);
    return {t(in[0].dtype, {in[0].dims[0] + in[1].dims[0]})};
  }
};
struct no_traits {
  static constexpr std::string_view name = "x";
};
}  // namespace

TEST_CASE("ops: the op concept") {
  static_assert(op<ops::matmul> && op<ops::relu> && op<ops::scale<1, 2>> && op<ops::add> && op<ops::to_host>);
  static_assert(op<ops::host_op<no_op_host>> && op<ops::all_reduce> && op<ops::reduce_scatter<2>> && op<ops::reshape<shape<4>>>);
  static_assert(op<concat>);
  static_assert(!op<no_traits> && !op<int>);
  CHECK(op<concat>);
  CHECK(!op<no_traits>);
}

TEST_CASE("ops: matmul output rule") {
  constexpr auto ok = apply<ops::matmul>({t(dtype_id::bf16, {16, 4096}), t(dtype_id::bf16, {4096, 1024})});
  static_assert(ok.error == errc::ok && ok.out == t(dtype_id::bf16, {16, 1024}));
  CHECK(ok.out.bytes() == 16 * 1024 * 2);
  CHECK(apply<ops::matmul>({t(dtype_id::bf16, {16, 4096}), t(dtype_id::bf16, {4095, 8})}).error == errc::inner_dim_mismatch);
  CHECK(apply<ops::matmul>({t(dtype_id::bf16, {16, 8}), t(dtype_id::f32, {8, 8})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::matmul>({t(dtype_id::f32, {16}), t(dtype_id::f32, {16, 8})}).error == errc::shape_mismatch);
  CHECK(apply<ops::matmul>({t(dtype_id::f32, {16, 8})}).error == errc::wrong_arity);
}

TEST_CASE("ops: layer_norm and rms_norm output rules") {
  const auto x = t(dtype_id::bf16, {512, 768}), w = t(dtype_id::bf16, {768});
  static_assert(ops::layer_norm<1e-5f>::epsilon == 1e-5f && ops::rms_norm<>::epsilon == 1e-6f);
  CHECK(apply<ops::layer_norm<>>({x, w, w}).out == x);
  CHECK(apply<ops::layer_norm<>>({x, w}).out == x);  // the bias is optional
  CHECK(apply<ops::rms_norm<>>({x, w}).out == x);
  CHECK(apply<ops::rms_norm<>>({x, w, w}).error == errc::wrong_arity);
  CHECK(apply<ops::layer_norm<>>({x}).error == errc::wrong_arity);
  CHECK(apply<ops::layer_norm<>>({x, t(dtype_id::bf16, {512})}).error == errc::shape_mismatch);
  CHECK(apply<ops::layer_norm<>>({x, w, t(dtype_id::bf16, {1, 768})}).error == errc::shape_mismatch);
  CHECK(apply<ops::rms_norm<>>({x, t(dtype_id::f32, {768})}).error == errc::dtype_mismatch);
}

TEST_CASE("ops: batch_norm output rule (five inputs)") {
  const auto x = t(dtype_id::f16, {2, 3, 8, 8}), c = t(dtype_id::f16, {3});
  CHECK(apply<ops::batch_norm<>>({x, c, c, c, c}).out == x);
  CHECK(apply<ops::batch_norm<>>({t(dtype_id::f16, {5, 3}), c, c, c, c}).out == t(dtype_id::f16, {5, 3}));
  CHECK(apply<ops::batch_norm<>>({x, c, c, c}).error == errc::wrong_arity);
  CHECK(apply<ops::batch_norm<>>({x, c, c, c, t(dtype_id::f16, {4})}).error == errc::shape_mismatch);  // not C
  CHECK(apply<ops::batch_norm<>>({t(dtype_id::f16, {3}), c, c, c, c}).error == errc::shape_mismatch);  // no channel dimension
  CHECK(apply<ops::batch_norm<>>({x, c, c, t(dtype_id::f32, {3}), c}).error == errc::dtype_mismatch);
}

namespace batch_norm_plan {  // five inputs in one node, in place on x's buffer
using x = ctg::input<"x", ctg::f32, ctg::shape<2, 16, 10>>;
using w = ctg::parameter<"w", ctg::f32, ctg::shape<16>>;
using b = ctg::parameter<"b", ctg::f32, ctg::shape<16>>;
using mean = ctg::parameter<"mean", ctg::f32, ctg::shape<16>>;
using var = ctg::parameter<"var", ctg::f32, ctg::shape<16>>;
struct h : ctg::node<"h", ctg::ops::relu, x> {};
struct bn : ctg::node<"bn", ctg::in_place<ctg::ops::batch_norm<1e-5f>>, h, w, b, mean, var> {};
constexpr auto p = ctg::make_plan<ctg::graph<bn>>();
static_assert(p.graph.nodes[p.index_of<bn>()].input_count == 5 && p.buffer(p.index_of<bn>()).shares == p.index_of<h>());
static_assert(!ctg::check_plan(p));
}  // namespace batch_norm_plan

TEST_CASE("ops: linear output rule") {
  const auto x = t(dtype_id::bf16, {512, 768}), w = t(dtype_id::bf16, {768, 2304}), wt = t(dtype_id::bf16, {50257, 768});
  CHECK(apply<ops::linear<>>({x, w, t(dtype_id::bf16, {2304})}).out == t(dtype_id::bf16, {512, 2304}));
  CHECK(apply<ops::linear<true>>({x, wt}).out == t(dtype_id::bf16, {512, 50257}));  // a tied embedding
  CHECK(apply<ops::linear<>>({x, wt}).error == errc::inner_dim_mismatch);
  CHECK(apply<ops::linear<>>({x, w, t(dtype_id::bf16, {768})}).error == errc::shape_mismatch);
  CHECK(apply<ops::linear<>>({x, w, t(dtype_id::f32, {2304})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::matmul>({x, w, t(dtype_id::bf16, {2304})}).error == errc::wrong_arity);  // no bias for matmul
  // A residual [M,N] after the optional bias: y = x W + b + r.
  const auto r = t(dtype_id::bf16, {512, 2304}), b = t(dtype_id::bf16, {2304});
  CHECK(apply<ops::linear<>>({x, w, b, r}).out == r);
  CHECK(apply<ops::linear<>>({x, w, r}).out == r);
  CHECK(apply<ops::linear<>>({x, w, r, b}).error == errc::wrong_arity);  // the bias comes first
  CHECK(apply<ops::linear<>>({x, w, b, b}).error == errc::shape_mismatch);
  CHECK(apply<ops::linear<>>({x, w, t(dtype_id::bf16, {512, 768})}).error == errc::shape_mismatch);
  CHECK(apply<ops::linear<false, ops::epilogue::gelu>>({x, w, b, r}).error == errc::shape_mismatch);  // act(x W + b + r)
  CHECK(apply<ops::matmul>({x, w, r}).error == errc::wrong_arity);
}

TEST_CASE("ops: embedding output rule") {
  const auto ids = t(dtype_id::i32, {512}), table = t(dtype_id::bf16, {50257, 768});
  CHECK(apply<ops::embedding>({ids, table}).out == t(dtype_id::bf16, {512, 768}));
  CHECK(apply<ops::embedding>({t(dtype_id::i64, {512}), table}).out == t(dtype_id::bf16, {512, 768}));
  CHECK(apply<ops::embedding>({t(dtype_id::f32, {512}), table}).error == errc::dtype_mismatch);
  CHECK(apply<ops::embedding>({t(dtype_id::i32, {1, 512}), table}).error == errc::shape_mismatch);
  CHECK(apply<ops::embedding>({ids}).error == errc::wrong_arity);
}

TEST_CASE("ops: softmax output rule") {
  const auto x = t(dtype_id::f16, {12, 512, 512});
  CHECK(apply<ops::softmax>({x}).out == x);
  CHECK(apply<ops::softmax>({x, x}).error == errc::wrong_arity);
  CHECK(apply<ops::softmax>({t(dtype_id::i32, {4, 8})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::softmax>({t(dtype_id::f32, {})}).error == errc::shape_mismatch);
}

TEST_CASE("ops: attention output rule") {
  using op = ops::attention<12>;
  const tensor_desc packed[] = {{dtype_id::bf16, 2, {512, 3 * 768}}};
  CHECK(op::output(packed).out == tensor_desc{dtype_id::bf16, 2, {512, 768}});
  const tensor_desc odd[] = {{dtype_id::bf16, 2, {512, 3 * 12 * 48}}};  // head dimension 48
  CHECK(op::output(odd).error == errc::shape_mismatch);
  const tensor_desc f32[] = {{dtype_id::f32, 2, {512, 3 * 768}}};
  CHECK(op::output(f32).error == errc::dtype_mismatch);
  using gqa = ops::attention<32, 4>;
  const tensor_desc sep[] = {{dtype_id::f16, 3, {2, 7, 32 * 64}}, {dtype_id::f16, 3, {2, 7, 4 * 64}}, {dtype_id::f16, 3, {2, 7, 4 * 64}}};
  CHECK(gqa::output(sep).out == tensor_desc{dtype_id::f16, 3, {2, 7, 32 * 64}});
  const tensor_desc short_k[] = {{dtype_id::f16, 3, {2, 7, 32 * 64}}, {dtype_id::f16, 3, {2, 6, 4 * 64}}, {dtype_id::f16, 3, {2, 7, 4 * 64}}};
  CHECK(gqa::output(short_k).error == errc::shape_mismatch);
}

namespace attention_plan {
using qkv = ctg::input<"qkv", ctg::bf16, ctg::shape<512, 3 * 768>>;
struct attn : ctg::node<"attn", ctg::ops::attention<12>, qkv> {};
constexpr auto p = ctg::make_plan<ctg::graph<attn>>();
static_assert(p.partition_count() == 1 && p.output_of<attn>().dims[1] == 768);
}  // namespace attention_plan

TEST_CASE("ops: elementwise, copies, collectives, reshape") {
  auto a = t(dtype_id::f16, {4, 8});
  CHECK(apply<ops::add>({a, a}).out == a);
  CHECK(apply<ops::mul>({a, t(dtype_id::f16, {8, 4})}).error == errc::broadcast_shape);
  CHECK(apply<ops::add>({a, t(dtype_id::f32, {4, 8})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::gelu>({a}).out == a);
  CHECK(ops::scale<1, 4>::factor == 0.25);
  CHECK(ops::to_host::traits.output_memory == memory_class::pinned_host);
  CHECK(!ops::host_op<no_op_host>::traits.capturable);
  CHECK(apply<ops::reduce_scatter<2>>({a}).out == t(dtype_id::f16, {2, 8}));
  CHECK(apply<ops::reduce_scatter<3>>({a}).error == errc::shape_mismatch);
  CHECK(apply<ops::all_gather<4>>({a}).out == t(dtype_id::f16, {16, 8}));
  CHECK(ops::all_reduce::traits.symmetric_inputs);
  CHECK(apply<ops::reshape<shape<32>>>({a}).out == t(dtype_id::f16, {32}));
  CHECK(apply<ops::reshape<shape<31>>>({a}).error == errc::element_count_mismatch);
  CHECK(apply<concat>({t(dtype_id::i32, {3}), t(dtype_id::i32, {5})}).out == t(dtype_id::i32, {8}));
}

TEST_CASE("ops: add and mul broadcast input 1 over leading dimensions") {
  const auto x = t(dtype_id::bf16, {2, 16, 768});
  CHECK(apply<ops::add>({x, t(dtype_id::bf16, {768})}).out == x);           // a bias
  CHECK(apply<ops::add>({x, t(dtype_id::bf16, {16, 768})}).out == x);       // [B,T,D] + [T,D]
  CHECK(apply<ops::mul>({x, t(dtype_id::bf16, {1, 768})}).out == x);        // leading 1s
  CHECK(apply<ops::mul>({x, t(dtype_id::bf16, {1, 1, 768})}).out == x);
  CHECK(apply<ops::mul>({x, t(dtype_id::bf16, {1})}).out == x);             // a scalar
  CHECK(apply<ops::add>({x, x}).out == x);
  // Input 0 gives the output its shape, so it must be the larger.
  CHECK(apply<ops::add>({t(dtype_id::bf16, {768}), x}).error == errc::broadcast_order);
  CHECK(apply<ops::mul>({t(dtype_id::bf16, {1, 768}), t(dtype_id::bf16, {16, 768})}).error == errc::broadcast_order);
  // Only leading dimensions broadcast: inner ones, a higher rank, or extents that differ do not.
  CHECK(apply<ops::mul>({t(dtype_id::f32, {16, 768}), t(dtype_id::f32, {16, 1})}).error == errc::broadcast_shape);
  CHECK(apply<ops::add>({x, t(dtype_id::bf16, {2, 1, 768})}).error == errc::broadcast_shape);
  CHECK(apply<ops::add>({t(dtype_id::f32, {768}), t(dtype_id::f32, {1, 768})}).error == errc::broadcast_order);  // higher rank
  CHECK(apply<ops::add>({x, t(dtype_id::bf16, {767})}).error == errc::broadcast_shape);
  CHECK(apply<ops::add>({x, t(dtype_id::f32, {768})}).error == errc::dtype_mismatch);
  CHECK(describe(errc::broadcast_order) == "input 1 of an elementwise op is larger than input 0");
}

namespace {
using bx = input<"x", f32, shape<4, 8, 32>>;
using bias = parameter<"bias", f32, shape<32>>;
struct bh : node<"bh", ops::relu, bx> {};
struct by : node<"by", in_place<ops::add>, bh, bias> {};  // in place on input 0
constexpr auto broadcast_plan = make_plan<graph<by>>();
}  // namespace

TEST_CASE("ops: a broadcast add plans in place on input 0") {
  static_assert(broadcast_plan.output_of<by>() == static_desc<bx>);
  static_assert(broadcast_plan.buffer_of<by>().shares == broadcast_plan.index_of<bh>());
  static_assert(!check_plan(broadcast_plan));
  CHECK(broadcast_plan.reuse_count() == 1);
}

TEST_CASE("ops: gelu is the tanh form, gelu_erf the exact one") {
  static_assert(ops::gelu::name == "gelu" && ops::gelu_erf::name == "gelu_erf");
  CHECK(apply<ops::gelu_erf>({t(dtype_id::bf16, {4, 8})}).out == t(dtype_id::bf16, {4, 8}));
  // 0.5 x (1 + erf(x / sqrt 2)) and 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), at 1 and -2.7
  // (near their largest difference, 4.7e-4).
  CHECK(ops::gelu_erf{}(1.f) == doctest::Approx(0.8413447460685429).epsilon(1e-6));
  CHECK(ops::gelu{}(1.f) == doctest::Approx(0.8411919906082768).epsilon(1e-6));
  CHECK(ops::gelu_erf{}(-2.7f) == doctest::Approx(-0.00936082926820982).epsilon(1e-4));
  CHECK(ops::gelu{}(-2.7f) == doctest::Approx(-0.008887594639467884).epsilon(1e-4));
  CHECK(ops::gelu_erf{}(0.f) == 0.f);
}

TEST_CASE("ops: rotary output rule") {
  using rope = ops::rotary<128>;
  static_assert(rope::head_dim == 128 && rope::theta == 10000.f && ops::rotary<64, 500000.f>::theta == 500000.f);
  static_assert(rope::traits.in_place);
  const auto q = t(dtype_id::bf16, {512, 32 * 128}), pos = t(dtype_id::i32, {512});
  CHECK(apply<rope>({q, pos}).out == q);
  CHECK(apply<rope>({q, t(dtype_id::i64, {512})}).out == q);
  const auto bq = t(dtype_id::f16, {2, 512, 8 * 128});  // [B, T, H*D]: positions shared by the batch
  CHECK(apply<rope>({bq, pos}).out == bq);
  CHECK(apply<rope>({q, t(dtype_id::f32, {512})}).error == errc::dtype_mismatch);  // positions are integers
  CHECK(apply<rope>({t(dtype_id::i32, {512, 128}), pos}).error == errc::dtype_mismatch);
  CHECK(apply<rope>({q, t(dtype_id::i32, {511})}).error == errc::shape_mismatch);  // one position per token
  CHECK(apply<rope>({q, t(dtype_id::i32, {1, 512})}).error == errc::shape_mismatch);
  CHECK(apply<rope>({t(dtype_id::bf16, {512, 100}), pos}).error == errc::shape_mismatch);  // not whole heads
  CHECK(apply<rope>({t(dtype_id::bf16, {4096}), t(dtype_id::i32, {1})}).error == errc::shape_mismatch);
  CHECK(apply<rope>({q}).error == errc::wrong_arity);
  // One position: the first token's (a position held in state), the others after it.
  CHECK(apply<rope>({q, t(dtype_id::i32, {1})}).out == q);
  CHECK(apply<rope>({bq, t(dtype_id::i64, {1})}).out == bq);
}

TEST_CASE("ops: cache_attention, argmax and cache_read output rules") {
  using ca = ops::cache_attention<32, 4>;
  const auto q = t(dtype_id::bf16, {1, 32 * 64}), cache = t(dtype_id::bf16, {256, 4 * 64}), pos = t(dtype_id::i32, {1});
  CHECK(apply<ca>({q, cache, cache, pos}).out == q);
  CHECK(apply<ca>({t(dtype_id::bf16, {7, 32 * 128}), t(dtype_id::bf16, {64, 4 * 128}), t(dtype_id::bf16, {64, 4 * 128}), t(dtype_id::i64, {1})}).out ==
        t(dtype_id::bf16, {7, 32 * 128}));
  const auto bq = t(dtype_id::f16, {3, 2, 32 * 64}), bc = t(dtype_id::f16, {3, 40, 4 * 64});
  CHECK(apply<ca>({bq, bc, bc, pos}).out == bq);  // a batch shares the position
  CHECK(ca::position(std::array{q, cache, cache, pos}).extent == 1);
  CHECK(ca::position(std::array{q, cache, cache, pos}).limit == 256);
  CHECK(ca::position(std::array{q, cache, cache, pos}).input == 3);
  CHECK(apply<ca>({q, cache, cache}).error == errc::wrong_arity);
  CHECK(apply<ca>({q, cache, cache, t(dtype_id::f32, {1})}).error == errc::dtype_mismatch);
  CHECK(apply<ca>({t(dtype_id::f32, {1, 32 * 64}), t(dtype_id::f32, {256, 256}), t(dtype_id::f32, {256, 256}), pos}).error == errc::dtype_mismatch);
  CHECK(apply<ca>({q, cache, t(dtype_id::bf16, {255, 4 * 64}), pos}).error == errc::shape_mismatch);  // caches of one shape
  CHECK(apply<ca>({q, t(dtype_id::bf16, {256, 8 * 64}), t(dtype_id::bf16, {256, 8 * 64}), pos}).error == errc::shape_mismatch);
  CHECK(apply<ca>({t(dtype_id::bf16, {300, 32 * 64}), cache, cache, pos}).error == errc::shape_mismatch);  // more tokens than rows
  CHECK(apply<ca>({q, cache, cache, t(dtype_id::i32, {2})}).error == errc::shape_mismatch);
  CHECK(apply<ca>({bq, t(dtype_id::f16, {2, 40, 4 * 64}), t(dtype_id::f16, {2, 40, 4 * 64}), pos}).error == errc::shape_mismatch);

  CHECK(apply<ops::argmax>({t(dtype_id::bf16, {4, 32000})}).out == t(dtype_id::i32, {4}));
  CHECK(apply<ops::argmax>({t(dtype_id::f32, {32000})}).out == t(dtype_id::i32, {1}));
  CHECK(apply<ops::argmax>({t(dtype_id::f16, {2, 3, 10})}).out == t(dtype_id::i32, {2, 3}));
  CHECK(apply<ops::argmax>({t(dtype_id::i32, {4, 10})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::argmax>({t(dtype_id::f32, {4, 10}), t(dtype_id::f32, {4, 10})}).error == errc::wrong_arity);

  using read = ops::cache_read<0, 1>;
  const auto tokens = t(dtype_id::i32, {257});
  CHECK(apply<read>({tokens, pos}).out == t(dtype_id::i32, {1}));
  CHECK(apply<ops::cache_read<1, 4>>({t(dtype_id::bf16, {2, 16, 64}), pos}).out == t(dtype_id::bf16, {2, 4, 64}));
  CHECK(ops::cache_read<0, 2, 3>::position(std::array{tokens, pos}).extent == 5);  // offset and extent
  CHECK(ops::cache_read<0, 2, 3>::position(std::array{tokens, pos}).limit == 257);
  CHECK(ops::cache_write<0, 1>::position(std::array{tokens, pos, t(dtype_id::i32, {1})}).extent == 2);
  CHECK(apply<ops::cache_read<0, 300>>({tokens, pos}).error == errc::shape_mismatch);
  CHECK(apply<read>({tokens, t(dtype_id::f32, {1})}).error == errc::dtype_mismatch);
  CHECK(apply<read>({tokens}).error == errc::wrong_arity);
}

TEST_CASE("dtypes") {
  static_assert(size_of(dtype_id::bf16) == 2 && size_of(dtype_id::i64) == 8 && size_of(dtype_id::u8) == 1);
  static_assert(size_of(boolean::id) == 1 && !is_floating(dtype_id::boolean));
  CHECK(name_of(dtype_id::bf16) == "bf16");
  CHECK(name_of(dtype_id::boolean) == "bool");
  CHECK(info_of(dtype_id::boolean).safetensors == "BOOL");
  CHECK(size_of(f32::id) == 4);
  CHECK(size_of(i32::id) == 4);
  // Every row has a distinct name and safetensors name.
  for (int i = 0; i < dtype_count; ++i)
    for (int j = 0; j < i; ++j) {
      CHECK(dtype_table[i].name != dtype_table[j].name);
      CHECK(dtype_table[i].safetensors != dtype_table[j].safetensors);
    }
}

namespace {
using mask = input<"mask", boolean, shape<8, 8>>;
struct mask_host : node<"mask_host", ops::to_host, mask> {};
constexpr auto mask_plan = make_plan<graph<mask_host>>();
}  // namespace

TEST_CASE("dtypes: a bool tensor plans and prints") {
  static_assert(mask_plan.output_of<mask_host>().bytes() == 64);
  CHECK(to_string(mask_plan).find("bool[8,8]") != std::string::npos);
}

TEST_CASE("ops: scale takes a float or a ratio of integers") {
  static_assert(ops::scale<0.125f>::factor == 0.125 && ops::scale<1, 8>::factor == 0.125 && ops::scale<1.f, 4>::factor == 0.25);
  static_assert(op<ops::scale<0.125f>>);
  CHECK(ops::scale<0.125f>{}(2.f) == 0.25f);
  CHECK(ops::scale<-3>{}(2.f) == -6.f);
  CHECK(apply<ops::scale<0.5f>>({t(dtype_id::bf16, {4, 8})}).out == t(dtype_id::bf16, {4, 8}));
}

TEST_CASE("ops: permute and transpose output rules; the identity is a view") {
  const auto x = t(dtype_id::bf16, {2, 3, 4, 5});
  CHECK(apply<ops::permute<0, 2, 1, 3>>({x}).out == t(dtype_id::bf16, {2, 4, 3, 5}));
  CHECK(apply<ops::permute<3, 2, 1, 0>>({x}).out == t(dtype_id::bf16, {5, 4, 3, 2}));
  CHECK(apply<ops::permute<1, 0>>({x}).error == errc::shape_mismatch);  // rank 2 for a rank-4 tensor
  CHECK(apply<ops::permute<1, 0>>({x, x}).error == errc::wrong_arity);
  CHECK(apply<ops::transpose<-2, -1>>({x}).out == t(dtype_id::bf16, {2, 3, 5, 4}));
  CHECK(apply<ops::transpose<0, 3>>({x}).out == t(dtype_id::bf16, {5, 3, 4, 2}));
  CHECK(apply<ops::transpose<1, -3>>({x}).out == x);
  CHECK(apply<ops::transpose<0, 4>>({x}).error == errc::shape_mismatch);
  CHECK(apply<ops::transpose<-5, 0>>({x}).error == errc::shape_mismatch);
  CHECK(apply<ops::transpose<0, 1>>({t(dtype_id::i64, {7})}).error == errc::shape_mismatch);
  static_assert(ops::permute<0, 1, 2>::traits.view && ops::transpose<2, 2>::traits.view);
  static_assert(!ops::permute<0, 2, 1>::traits.view && !ops::transpose<-2, -1>::traits.view);
  static_assert(ops::detail::is_permutation<2, 0, 1>() && !ops::detail::is_permutation<0, 0>() && !ops::detail::is_permutation<1, 2>());
}

TEST_CASE("ops: slice output rule; a slice of leading rows is a view") {
  const auto x = t(dtype_id::f32, {8, 6, 4});
  CHECK(apply<ops::slice<0, 0, 3>>({x}).out == t(dtype_id::f32, {3, 6, 4}));
  CHECK(apply<ops::slice<1, 2, 6>>({x}).out == t(dtype_id::f32, {8, 4, 4}));
  CHECK(apply<ops::slice<-1, 1, 2>>({x}).out == t(dtype_id::f32, {8, 6, 1}));
  CHECK(apply<ops::slice<-1, 1, 5>>({x}).error == errc::shape_mismatch);  // past the end
  CHECK(apply<ops::slice<3, 0, 1>>({x}).error == errc::shape_mismatch);   // no such dimension
  CHECK(apply<ops::slice<0, 0, 1>>({x, x}).error == errc::wrong_arity);
  static_assert(ops::slice<0, 0, 3>::traits.view);
  static_assert(!ops::slice<0, 1, 3>::traits.view && !ops::slice<1, 0, 3>::traits.view && !ops::slice<-1, 0, 3>::traits.view);
}

TEST_CASE("ops: cat output rule") {
  const auto a = t(dtype_id::bf16, {4, 3}), b = t(dtype_id::bf16, {4, 5});
  CHECK(apply<ops::cat<1>>({a, b, a}).out == t(dtype_id::bf16, {4, 11}));
  CHECK(apply<ops::cat<-1>>({a, b}).out == t(dtype_id::bf16, {4, 8}));
  CHECK(apply<ops::cat<0>>({a, a}).out == t(dtype_id::bf16, {8, 3}));
  CHECK(apply<ops::cat<0>>({a}).out == a);
  CHECK(apply<ops::cat<0>>({a, b}).error == errc::shape_mismatch);  // columns differ
  CHECK(apply<ops::cat<1>>({a, t(dtype_id::bf16, {4, 3, 1})}).error == errc::shape_mismatch);
  CHECK(apply<ops::cat<2>>({a, a}).error == errc::shape_mismatch);
  CHECK(apply<ops::cat<1>>({a, t(dtype_id::f32, {4, 3})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::cat<1>>({}).error == errc::wrong_arity);
  static_assert(!ops::cat<0>::traits.view);
}

namespace wide_cat {  // max_inputs (8) inputs, one of them a ref<>
using a = ctg::input<"a", ctg::f32, ctg::shape<4, 2>>;
using b = ctg::input<"b", ctg::f32, ctg::shape<4, 3>>;
struct r : ctg::node<"r", ctg::ops::relu, a> {};
struct c : ctg::node<"c", ctg::ops::cat<-1>, a, b, r, a, b, ctg::ref<"r">, a, r> {};
constexpr auto p = ctg::make_plan<ctg::graph<c>>();
static_assert(p.output_of<c>() == ctg::tensor_desc{ctg::dtype_id::f32, 2, {4, 2 + 3 + 2 + 2 + 3 + 2 + 2 + 2}});
static_assert(p.graph.nodes[p.index_of<c>()].input_count == 8 && p.graph.nodes[p.index_of<c>()].inputs[5] == p.index_of<r>());
static_assert(!ctg::check_plan(p));
}  // namespace wide_cat

TEST_CASE("ops: batched_matmul output rule") {
  const auto a = t(dtype_id::bf16, {12, 64, 32}), b = t(dtype_id::bf16, {12, 32, 48});
  CHECK(apply<ops::batched_matmul<>>({a, b}).out == t(dtype_id::bf16, {12, 64, 48}));
  CHECK(apply<ops::batched_matmul<true>>({a, t(dtype_id::bf16, {12, 48, 32})}).out == t(dtype_id::bf16, {12, 64, 48}));
  CHECK(apply<ops::batched_matmul<true>>({a, a}).out == t(dtype_id::bf16, {12, 64, 64}));  // q k^T
  CHECK(apply<ops::batched_matmul<>>({a, a}).error == errc::inner_dim_mismatch);
  CHECK(apply<ops::batched_matmul<>>({a, t(dtype_id::bf16, {11, 32, 48})}).error == errc::shape_mismatch);  // batches differ
  CHECK(apply<ops::batched_matmul<>>({t(dtype_id::bf16, {64, 32}), t(dtype_id::bf16, {32, 48})}).error == errc::shape_mismatch);
  CHECK(apply<ops::batched_matmul<>>({a, t(dtype_id::f16, {12, 32, 48})}).error == errc::dtype_mismatch);
  CHECK(apply<ops::batched_matmul<>>({a, b, b}).error == errc::wrong_arity);
}

namespace layout_plan {
using x = ctg::input<"x", ctg::f32, ctg::shape<8, 4, 16>>;
struct first : ctg::node<"first", ctg::ops::slice<0, 0, 2>, x> {};        // a view of x
struct same : ctg::node<"same", ctg::ops::permute<0, 1, 2>, first> {};    // a view of x too
struct swapped : ctg::node<"swapped", ctg::ops::transpose<-2, -1>, same> {};  // a copy
struct middle : ctg::node<"middle", ctg::ops::slice<1, 1, 3>, x> {};      // a copy
struct joined : ctg::node<"joined", ctg::ops::cat<0>, middle, middle> {};
constexpr auto p = ctg::make_plan<ctg::graph<swapped, joined>>();
static_assert(p.buffer_of<first>().memory == ctg::memory_class::external && p.buffer_of<same>().memory == ctg::memory_class::external);
static_assert(p.buffer_of<swapped>().memory == ctg::memory_class::device && p.output_of<swapped>() == ctg::tensor_desc{ctg::dtype_id::f32, 3, {2, 16, 4}});
static_assert(p.output_of<joined>() == ctg::tensor_desc{ctg::dtype_id::f32, 3, {16, 2, 16}});
static_assert(!ctg::check_plan(p));
}  // namespace layout_plan

TEST_CASE("ops: the plan says which layout op is a view") {
  const std::string dump = to_string(layout_plan::p);
  CHECK(dump.find("view of 'x'") != std::string::npos);
  CHECK(dump.find("view of 'x'") != dump.rfind("view of 'x'"));  // first and same
  CHECK(layout_plan::p.buffer_count() == 3);  // swapped, middle and joined; none for either view
}

TEST_CASE("ops: split and layer_norm_stats output rules, one per output") {
  const auto x = t(dtype_id::bf16, {6, 2304});
  using qkv = ops::split<-1, 768, 768, 768>;
  CHECK(qkv::output(std::span<const tensor_desc>(&x, 1), 0).out == t(dtype_id::bf16, {6, 768}));
  CHECK(qkv::output(std::span<const tensor_desc>(&x, 1), 2).out == t(dtype_id::bf16, {6, 768}));
  CHECK(ops::split<0, 2, 4>::output(std::span<const tensor_desc>(&x, 1), 1).out == t(dtype_id::bf16, {4, 2304}));
  CHECK(ops::split<-1, 768, 768>::output(std::span<const tensor_desc>(&x, 1), 0).error == errc::shape_mismatch);  // 1536 of 2304
  CHECK(ops::split<2, 1, 1>::output(std::span<const tensor_desc>(&x, 1), 0).error == errc::shape_mismatch);     // no dimension 2
  // The node's rule: output 0, with the storage of all three, each 256-byte aligned.
  const output_result all = detail::node_output<qkv>(std::span<const tensor_desc>(&x, 1));
  CHECK(all.out == t(dtype_id::bf16, {6, 768}));
  CHECK(all.storage_bytes == 3 * align_up(6 * 768 * 2));
  CHECK(output_offset<qkv>(std::span<const tensor_desc>(&x, 1), 2) == 2 * align_up(6 * 768 * 2));

  const auto h = t(dtype_id::f16, {3, 5, 8}), w = t(dtype_id::f16, {8});
  const tensor_desc in[] = {h, w};
  using ln = ops::layer_norm_stats<1e-5f>;
  CHECK(ln::output(in, 0).out == h);
  CHECK(ln::output(in, 1).out == t(dtype_id::f32, {3, 5, 1}));
  CHECK(ln::output(in, 2).out == t(dtype_id::f32, {3, 5, 1}));
  CHECK(ln::output(std::span<const tensor_desc>(in, 1), 1).error == errc::wrong_arity);
  static_assert(multi_output_op<ln> && multi_output_op<qkv> && !multi_output_op<ops::layer_norm<>>);
}

namespace multi_output_plan {
using x = ctg::input<"x", ctg::f32, ctg::shape<4, 96>>;
using w = ctg::parameter<"w", ctg::f32, ctg::shape<32>>;
struct parts : ctg::node<"parts", ctg::ops::split<-1, 32, 32, 32>, x> {};
struct second : ctg::output<"second", parts, 1> {};
struct third : ctg::output<"third", parts, 2> {};
struct ln : ctg::node<"ln", ctg::ops::layer_norm_stats<1e-5f>, second, w> {};
struct rstd : ctg::output<"ln.rstd", ln, 2> {};
struct y : ctg::node<"y", ctg::ops::add, parts, third> {};  // reads outputs 0 and 2 after ln
constexpr auto p = ctg::make_plan<ctg::graph<y, rstd>>();
// One buffer per node, holding all its outputs; the named outputs are views into it.
static_assert(p.buffer_of<parts>().bytes == 3 * 512 && p.buffer_of<third>().node == p.index_of<parts>());
static_assert(p.output_of<third>() == ctg::tensor_desc{ctg::dtype_id::f32, 2, {4, 32}});
static_assert(p.offset_in_buffer<third>() == 1024 && p.offset_in_buffer<second>() == 512 && p.offset_in_buffer<parts>() == 0);
static_assert(p.output_of<rstd>() == ctg::tensor_desc{ctg::dtype_id::f32, 2, {4, 1}});
static_assert(p.buffer_of<ln>().bytes == 512 + 256 + 256 && p.offset_in_buffer<rstd>() == 768);
// `parts` lives until the last reader of any of its outputs (y reads outputs 0 and 2, ln output 1).
static_assert(p.buffer_of<parts>().lifetime.last == (p.step_of<y>() > p.step_of<ln>() ? p.step_of<y>() : p.step_of<ln>()));
static_assert(!ctg::check_plan(p));
}  // namespace multi_output_plan

TEST_CASE("ops: a multi-output node's outputs share its buffer; check_plan proves it") {
  using namespace multi_output_plan;
  const std::string dump = to_string(p);
  CHECK(dump.find("view of 'parts' at +1024") != std::string::npos);
  CHECK(dump.find("view of 'ln' at +768") != std::string::npos);
  auto small = p.graph;  // the node's buffer holding only output 0: caught
  small.buffers[p.index_of<parts>()].bytes = 512;
  CHECK(check_plan(plan<p.graph_capacity>{small, p.memory}).fault == plan_fault::buffer_too_small);
}

TEST_CASE("ops: graph_builder plans a multi-output node as make_plan does") {
  using parts_op = ops::split<-1, 32, 32, 32>;
  graph_builder<8> b;
  const int x = b.input("x", t(dtype_id::f32, {4, 96}));
  const int w = b.parameter("w", t(dtype_id::f32, {32}));
  const int parts = b.add<parts_op>("parts", {x});
  const int second = b.add<ops::extra_output<1, parts_op>>("second", {parts});
  const int third = b.add<ops::extra_output<2, parts_op>>("third", {parts});
  const int ln = b.add<ops::layer_norm_stats<1e-5f>>("ln", {second, w});
  const int rstd = b.add<ops::extra_output<2, ops::layer_norm_stats<1e-5f>>>("ln.rstd", {ln});
  b.output(b.add<ops::add>("y", {parts, third}));
  b.output(rstd);
  const auto p = b.build();
  REQUIRE(p.error().code == errc::ok);
  CHECK(!check_plan(p));
  const auto& want = multi_output_plan::p;
  for (const char* name : {"parts", "second", "third", "ln", "ln.rstd", "y"}) {
    INFO(name);
    const int i = p.index_of(name), j = want.index_of(name);
    CHECK(p.graph.nodes[i].out == want.graph.nodes[j].out);
    CHECK(p.offset_in_buffer(i) == want.offset_in_buffer(j));
    CHECK(p.buffer(i).bytes == want.buffer(j).bytes);
  }
  CHECK(p.graph.owner[third] == parts);
  CHECK(p.arena_bytes(memory_class::device) == want.arena_bytes(memory_class::device));
}

namespace opaque_outputs {  // an opaque op with two outputs: one allocation holds both
struct two_halves : ctg::ops::split<-1, 16, 16> {
  static constexpr ctg::op_traits traits{.result = ctg::op_result::opaque};
};
using x = ctg::input<"x", ctg::f32, ctg::shape<4, 32>>;
struct halves : ctg::node<"halves", two_halves, x> {};
struct upper : ctg::output<"upper", halves, 1> {};
constexpr auto p = ctg::make_plan<ctg::graph<upper>>();
static_assert(p.buffer_of<halves>().opaque && p.buffer_of<halves>().bytes == 2 * 256 && p.buffer_of<upper>().node == p.index_of<halves>());
static_assert(!ctg::check_plan(p));
}  // namespace opaque_outputs
