#pragma once
//! The test models, each defined once: the tests and benchmarks that plan or run them include
//! this (examples stay self-contained, as they are read alone).
#include <cstddef>
#include <cstdint>

#include <ctgraph/ctgraph.hpp>

namespace test_models {

//! A host callable that does nothing, for plans that are not run.
struct no_op_host {
  void operator()(const ctg::host_args&) const {}
};

//! An all_reduce that allocates its own output, like a functional collective.
struct opaque_all_reduce : ctg::ops::all_reduce {
  static constexpr ctg::op_traits traits = [] {
    ctg::op_traits t = ctg::ops::all_reduce::traits;
    t.result = ctg::op_result::opaque;
    return t;
  }();
};

//! Layer I of an MLP (`repeat<8, mlp<bf16, 4096>::layer, x>`): y_I = relu(h_I), h_I = X x w_I.
template <class DT, std::int64_t Hidden>
struct mlp {
  template <class X, std::size_t I>
  struct layer : ctg::node<ctg::indexed<"y", I>, ctg::ops::relu,
                           ctg::node<ctg::indexed<"h", I>, ctg::ops::matmul, X,
                                     ctg::parameter<ctg::indexed<"w", I>, DT, ctg::shape<Hidden, Hidden>>>> {};
};

//! The 8 layers of mlp<bf16, 4096> on an input x [16, 4096], as a graph_value that lists its ops.
constexpr auto mlp_value() {
  ctg::graph_value<32, ctg::op_list<ctg::ops::matmul, ctg::ops::relu>> v;
  int y = v.input("x", ctg::tensor_of(ctg::dtype_id::bf16, {16, 4096}));
  for (int i = 0; i < 8; ++i) {
    const int w = v.parameter(ctg::numbered("w", i), ctg::tensor_of(ctg::dtype_id::bf16, {4096, 4096}));
    y = v.add<ctg::ops::relu>(ctg::numbered("y", i), {v.add<ctg::ops::matmul>(ctg::numbered("h", i), {y, w})});
  }
  v.output(y);
  return v;
}

//! Layer I of a tensor-parallel block: y_I = Collective(h_I), h_I = X x w_I.
template <class Collective, class DT, std::int64_t Hidden>
struct tp {
  template <class X, std::size_t I>
  struct layer : ctg::node<ctg::indexed<"y", I>, Collective,
                           ctg::node<ctg::indexed<"h", I>, ctg::ops::matmul, X,
                                     ctg::parameter<ctg::indexed<"w", I>, DT, ctg::shape<Hidden, Hidden>>>> {};
};

//! The device-copy round trip, a fallback region between two CUDA graphs:
//! m0 = X x W -> d2h (to host) -> cpu (HostFn) -> h2d (to device) -> m1 = h2d x W.
template <class X, class W, class HostFn = no_op_host>
struct round_trip {
  struct m0 : ctg::node<"m0", ctg::ops::matmul, X, W> {};
  struct d2h : ctg::node<"d2h", ctg::ops::to_host, m0> {};
  struct cpu : ctg::node<"cpu", ctg::ops::host_op<HostFn>, d2h> {};
  struct h2d : ctg::node<"h2d", ctg::ops::to_device, cpu> {};
  struct m1 : ctg::node<"m1", ctg::ops::matmul, h2d, W> {};
};

//! A fallback region first: first = HostFn(X) on the host -> up (to device).
template <class X, class HostFn = no_op_host>
struct leading_fallback {
  struct first : ctg::node<"first", ctg::ops::host_op<HostFn>, X> {};
  struct up : ctg::node<"up", ctg::ops::to_device, first> {};
};

//! One decode step over a KV-cache-like state: the new row k = X W is written into `cache` at the
//! position `pos` holds (ops::cache_write, a device scalar), the cache after the write is read
//! whole (`seen`), and `pos_next` advances the position once `seen` has read it.
template <class DT, std::int64_t Length, std::int64_t Heads, std::int64_t HeadDim>
struct decode_step {
  static constexpr std::int64_t width = Heads * HeadDim;
  using cache = ctg::state<"cache", DT, ctg::shape<Length, Heads, HeadDim>>;
  using pos = ctg::state<"pos", ctg::i32, ctg::shape<1>>;
  using x = ctg::input<"x", DT, ctg::shape<1, width>>;
  using w = ctg::parameter<"w", DT, ctg::shape<width, width>>;
  struct k : ctg::node<"k", ctg::ops::matmul, x, w> {};
  struct rows : ctg::node<"rows", ctg::ops::reshape<ctg::shape<1, Heads, HeadDim>>, k> {};
  struct write : ctg::node<"write", ctg::ops::cache_write<0>, cache, pos, rows> {};
  struct whole : ctg::node<"whole", ctg::ops::reshape<ctg::shape<Length, width>>, write> {};
  struct seen : ctg::node<"seen", ctg::ops::relu, whole> {};
  struct pos_next : ctg::node<"pos_next", ctg::ops::advance<1>, pos, seen> {};
  using graph = ctg::graph<seen, pos_next>;
};

//! ew64's steps: e_I = relu / scale 1/2 / add(previous, previous-but-one) / gelu of X, by I % 4
//! (`ctg::repeat<64, test_models::ew_step, x>`: 64 elementwise nodes with skip reads).
template <class X>
struct ew_input_of {  // the previous-but-one tensor of the next step, or X itself for the graph input
  using type = X;
};
template <class X>
  requires requires { typename X::input_type; }
struct ew_input_of<X> {
  using type = typename X::input_type;
};
template <class X, std::size_t I>
struct ew_step : std::conditional_t<I % 4 == 0, ctg::node<ctg::indexed<"e", I>, ctg::ops::relu, X>,
                   std::conditional_t<I % 4 == 1, ctg::node<ctg::indexed<"e", I>, ctg::ops::scale<1, 2>, X>,
                   std::conditional_t<I % 4 == 2, ctg::node<ctg::indexed<"e", I>, ctg::ops::add, X, typename ew_input_of<X>::type>,
                                      ctg::node<ctg::indexed<"e", I>, ctg::ops::gelu, X>>>> {
  using input_type = X;
};

//! Four independent products of one input feeding one sum, and two chains of two products
//! joined by an add (parallel branches): [16, K] x [K, N] in bf16, parameters w1..w4.
template <std::int64_t K, std::int64_t N>
struct branches {
  using x = ctg::input<"x", ctg::bf16, ctg::shape<16, K>>;
  template <int I>
  using w = ctg::parameter<ctg::indexed<"w", I>, ctg::bf16, ctg::shape<K, N>>;
  struct m1 : ctg::node<"m1", ctg::ops::matmul, x, w<1>> {};
  struct m2 : ctg::node<"m2", ctg::ops::matmul, x, w<2>> {};
  struct m3 : ctg::node<"m3", ctg::ops::matmul, x, w<3>> {};
  struct m4 : ctg::node<"m4", ctg::ops::matmul, x, w<4>> {};
  struct s12 : ctg::node<"s12", ctg::ops::add, m1, m2> {};
  struct s34 : ctg::node<"s34", ctg::ops::add, m3, m4> {};
  struct sum : ctg::node<"sum", ctg::ops::add, s12, s34> {};
  struct a2 : ctg::node<"a2", ctg::ops::matmul, m1, ctg::parameter<"v2", ctg::bf16, ctg::shape<N, N>>> {};
  struct c2 : ctg::node<"c2", ctg::ops::matmul, m3, ctg::parameter<"v4", ctg::bf16, ctg::shape<N, N>>> {};
  struct joined : ctg::node<"joined", ctg::ops::add, a2, c2> {};
};

//! A decode-style attention step: Tokens new tokens of 4 query heads of 64 over K/V caches of 64
//! rows (2 K/V heads), the queries and keys rotated at the position Pos (a state or a graph
//! input), the keys and values written into the caches at it by `k_put` and `v_put`, which the
//! attention reads (so the plan lets the attention run them).
template <std::int64_t Tokens, class Pos>
struct cache_step {
  using q = ctg::input<"q", ctg::bf16, ctg::shape<Tokens, 256>>;
  using k = ctg::input<"k", ctg::bf16, ctg::shape<Tokens, 128>>;
  using v = ctg::input<"v", ctg::bf16, ctg::shape<Tokens, 128>>;
  using k_cache = ctg::state<"k_cache", ctg::bf16, ctg::shape<64, 128>>;
  using v_cache = ctg::state<"v_cache", ctg::bf16, ctg::shape<64, 128>>;
  struct q_rope : ctg::node<"q_rope", ctg::ops::rotary<64>, q, Pos> {};
  struct k_rope : ctg::node<"k_rope", ctg::ops::rotary<64>, k, Pos> {};
  struct k_put : ctg::node<"k_put", ctg::ops::cache_write<0>, k_cache, Pos, k_rope> {};
  struct v_put : ctg::node<"v_put", ctg::ops::cache_write<0>, v_cache, Pos, v> {};
  struct attn : ctg::node<"attn", ctg::ops::cache_attention<4, 2>, q_rope, k_put, v_put, Pos> {};
};

//! One decoder layer of a decode step, every fusion the plan makes for Llama in one graph: an
//! RMS norm in its readers' prologues (q, k and v sibling products of one row), rotaries folded
//! into the attention and the key's cache write, an attention that runs its cache writes, a
//! residual in a product's epilogue, silu(gate) * up in the down projection's prologue, an
//! elementwise group (gelu, add) and the position advanced. Hidden 256, 4 query heads of 64
//! sharing 2 K/V heads, caches of 64 rows, one token. The same graph as types (here) and as a
//! value (decode_layer_value, below), node for node.
template <class DT>
struct decode_layer {
  using x = ctg::input<"x", DT, ctg::shape<1, 256>>;
  using pos = ctg::state<"pos", ctg::i32, ctg::shape<1>>;
  using k_cache = ctg::state<"k_cache", DT, ctg::shape<64, 128>>;
  using v_cache = ctg::state<"v_cache", DT, ctg::shape<64, 128>>;
  template <ctg::fixed_string Name, std::int64_t... Dims>
  using weight = ctg::parameter<Name, DT, ctg::shape<Dims...>>;
  using norm = ctg::ops::rms_norm<1e-5f>;
  using proj = ctg::ops::linear<true>;
  struct nx : ctg::node<"nx", norm, x, weight<"g1", 256>> {};
  struct q : ctg::node<"q", proj, nx, weight<"wq", 256, 256>> {};
  struct k : ctg::node<"k", proj, nx, weight<"wk", 128, 256>> {};
  struct v : ctg::node<"v", proj, nx, weight<"wv", 128, 256>> {};
  struct q_rope : ctg::node<"q_rope", ctg::ops::rotary<64>, q, pos> {};
  struct k_rope : ctg::node<"k_rope", ctg::ops::rotary<64>, k, pos> {};
  struct k_put : ctg::node<"k_put", ctg::ops::cache_write<0>, k_cache, pos, k_rope> {};
  struct v_put : ctg::node<"v_put", ctg::ops::cache_write<0>, v_cache, pos, v> {};
  struct attn : ctg::node<"attn", ctg::ops::cache_attention<4, 2>, q_rope, k_put, v_put, pos> {};
  struct o : ctg::node<"o", proj, attn, weight<"wo", 256, 256>, x> {};
  struct n2 : ctg::node<"n2", norm, o, weight<"g2", 256>> {};
  struct gate : ctg::node<"gate", proj, n2, weight<"wg", 512, 256>> {};
  struct up : ctg::node<"up", proj, n2, weight<"wu", 512, 256>> {};
  struct act : ctg::node<"act", ctg::ops::silu, gate> {};
  struct both : ctg::node<"both", ctg::ops::mul, act, up> {};
  struct down : ctg::node<"down", proj, both, weight<"wd", 256, 512>, o> {};
  struct smooth : ctg::node<"smooth", ctg::ops::gelu, down> {};
  struct y : ctg::node<"y", ctg::ops::add, smooth, o> {};
  struct pos_next : ctg::node<"pos_next", ctg::ops::advance<1>, pos, y> {};
  using graph = ctg::graph<y, pos_next>;
  using op_types = ctg::op_list<norm, proj, ctg::ops::rotary<64>, ctg::ops::cache_write<0>, ctg::ops::cache_attention<4, 2>,
                                ctg::ops::silu, ctg::ops::mul, ctg::ops::gelu, ctg::ops::add, ctg::ops::advance<1>>;
};

//! decode_layer<DT> as a graph_value that lists its ops (so an executor can run it).
template <ctg::dtype_id DT>
constexpr auto decode_layer_value() {
  using layer = decode_layer<ctg::bf16>;  // its op list (the ops do not depend on the dtype)
  using ctg::tensor_of;
  ctg::graph_value<32, layer::op_types> g;
  const int x = g.input("x", tensor_of(DT, {1, 256}));
  const int pos = g.state("pos", tensor_of(ctg::dtype_id::i32, {1}));
  const int k_cache = g.state("k_cache", tensor_of(DT, {64, 128})), v_cache = g.state("v_cache", tensor_of(DT, {64, 128}));
  const auto weight = [&](const char* name, std::initializer_list<std::int64_t> dims) { return g.parameter(name, tensor_of(DT, dims)); };
  const int nx = g.add<layer::norm>("nx", {x, weight("g1", {256})});
  const int q = g.add<layer::proj>("q", {nx, weight("wq", {256, 256})});
  const int k = g.add<layer::proj>("k", {nx, weight("wk", {128, 256})});
  const int v = g.add<layer::proj>("v", {nx, weight("wv", {128, 256})});
  const int q_rope = g.add<ctg::ops::rotary<64>>("q_rope", {q, pos});
  const int k_rope = g.add<ctg::ops::rotary<64>>("k_rope", {k, pos});
  const int k_put = g.add<ctg::ops::cache_write<0>>("k_put", {k_cache, pos, k_rope});
  const int v_put = g.add<ctg::ops::cache_write<0>>("v_put", {v_cache, pos, v});
  const int attn = g.add<ctg::ops::cache_attention<4, 2>>("attn", {q_rope, k_put, v_put, pos});
  const int o = g.add<layer::proj>("o", {attn, weight("wo", {256, 256}), x});
  const int n2 = g.add<layer::norm>("n2", {o, weight("g2", {256})});
  const int gate = g.add<layer::proj>("gate", {n2, weight("wg", {512, 256})});
  const int up = g.add<layer::proj>("up", {n2, weight("wu", {512, 256})});
  const int both = g.add<ctg::ops::mul>("both", {g.add<ctg::ops::silu>("act", {gate}), up});
  const int down = g.add<layer::proj>("down", {both, weight("wd", {256, 512}), o});
  const int y = g.add<ctg::ops::add>("y", {g.add<ctg::ops::gelu>("smooth", {down}), o});
  g.output(y);
  g.output(g.add<ctg::ops::advance<1>>("pos_next", {pos, y}));
  return g;
}

}  // namespace test_models
