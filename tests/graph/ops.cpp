#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

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
  CHECK(apply<ops::mul>({a, t(dtype_id::f16, {8, 4})}).error == errc::shape_mismatch);
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

TEST_CASE("dtypes") {
  static_assert(size_of(dtype_id::bf16) == 2 && size_of(dtype_id::i64) == 8 && size_of(dtype_id::u8) == 1);
  CHECK(name_of(dtype_id::bf16) == "bf16");
  CHECK(size_of(f32::id) == 4);
  CHECK(size_of(i32::id) == 4);
}
