// The plan's queries on the README's graphs, its text dump, and rejected graphs at run time.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

#include "../models.hpp"

namespace plan_test {
using namespace ctg;

using x = input<"x", bf16, shape<16, 4096>>;
using w0 = parameter<"w0", bf16, shape<4096, 4096>>;
using h0 = node<"h0", ops::matmul, x, w0>;
using r0 = node<"r0", ops::relu, h0>;
using g = graph<r0>;
constexpr auto p = make_plan<g>();
constexpr auto unfused = make_plan<g, plan_options{.fuse = false}>();

TEST_CASE("plan: the README example") {
  static_assert(p.partition_count() == 1);
  static_assert(p.arena_bytes(memory_class::device) <= 2 * 16 * 4096 * 2);
  static_assert(p.fused_root_of<h0>() == p.index_of<r0>());  // relu in the matmul's epilogue
  static_assert(p.output_of<h0>() == tensor_desc{dtype_id::bf16, 2, {16, 4096}});
  static_assert(p.buffer_count() == 1 && p.buffer_count(memory_class::device) == 1);
  static_assert(unfused.buffer_of<h0>().lifetime.last == unfused.step_of<r0>());
  static_assert(unfused.buffer_count() == 2 && unfused.buffer_of<r0>().shares == unfused.index_of<h0>());
  static_assert(p.lower_bound(memory_class::device) == 16 * 4096 * 2);
  CHECK(p.arena_bytes(memory_class::device) == p.lower_bound(memory_class::device));
  CHECK(!check_plan(p));
}

// An 8-layer MLP in one line; each layer is a struct so type names stay flat.
template <class X, std::size_t I>
using layer = test_models::mlp<bf16, 4096>::layer<X, I>;
using mlp = graph<repeat<8, test_models::mlp<bf16, 4096>::layer, x>>;
constexpr auto q = make_plan<mlp>();

TEST_CASE("plan: 8-layer MLP") {
  static_assert(q.tensor_count() == 1 + 8 * 3 && q.step_count() == 16);
  static_assert(q.partition_count() == 1);
  static_assert(q.arena_bytes(memory_class::device) == q.lower_bound(memory_class::device));
  static_assert(q.arena_bytes(memory_class::device) == 2 * 16 * 4096 * 2);
  static_assert(q.buffer_count() == 8 && q.reuse_count() == 6 && q.fused_group_count() == 8);  // relu in each matmul
  static_assert(q.step_of<layer<x, 0>>() == 1);
  CHECK(q.reuse_count() == 6);
  CHECK(!check_plan(q));
}

TEST_CASE("plan: a 96-layer model is one line too") {
  constexpr auto big = make_plan<graph<repeat<96, test_models::mlp<bf16, 4096>::layer, x>>>();
  static_assert(big.step_count() == 192 && big.arena_bytes(memory_class::device) == 2 * 16 * 4096 * 2);
  CHECK(big.buffer_count() == 96);
}

// The 8-layer MLP and a decode step over state, as constexpr values (graph/graph_value.hpp).
inline constexpr auto mlp_value = test_models::mlp_value();
using step = test_models::decode_step<bf16, 64, 4, 32>;
static constexpr auto step_value = [] {
  graph_value<16> v;
  const int cache = v.state("cache", tensor_of(dtype_id::bf16, {64, 4, 32}));
  const int pos = v.state("pos", tensor_of(dtype_id::i32, {1}));
  const int x = v.input("x", tensor_of(dtype_id::bf16, {1, 128}));
  const int w = v.parameter("w", tensor_of(dtype_id::bf16, {128, 128}));
  const int k = v.add<ops::matmul>("k", {x, w});
  const int rows = v.add<ops::reshape<shape<1, 4, 32>>>("rows", {k});
  const int write = v.add<ops::cache_write<0>>("write", {cache, pos, rows});
  const int whole = v.add<ops::reshape<shape<64, 128>>>("whole", {write});
  const int seen = v.add<ops::relu>("seen", {whole});
  v.output(seen);
  v.output(v.add<ops::advance<1>>("pos_next", {pos, seen}));
  return v;
}();

//! Two plans of one graph, its types' and its value's, compared by name: tensor order differs
//! (the walk of types is in post order from the outputs, a value in the order added).
template <class P, class Q>
void check_same_plan(const P& a, const Q& b) {
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a.tensor_count() == b.tensor_count());
  CHECK(a.step_count() == b.step_count());
  CHECK(a.partition_count() == b.partition_count());
  CHECK(a.buffer_count() == b.buffer_count());
  CHECK(a.reuse_count() == b.reuse_count());
  CHECK(a.fused_group_count() == b.fused_group_count());
  CHECK(a.launch_count() == b.launch_count());
  for (memory_class m : {memory_class::device, memory_class::pinned_host, memory_class::symmetric}) {
    CHECK(a.arena_bytes(m) == b.arena_bytes(m));
    CHECK(a.lower_bound(m) == b.lower_bound(m));
  }
  for (int v = 0; v < a.tensor_count(); ++v) {
    const std::string_view name = a.node(v).name;
    const int u = b.index_of(name);
    CAPTURE(name);
    REQUIRE(u >= 0);
    CHECK(a.node(v).out == b.node(u).out);
    CHECK(a.node(v).kind == b.node(u).kind);
    if (a.node(v).kind != tensor_kind::node) continue;
    CHECK(a.step_of(v) == b.step_of(u));
    CHECK(a.fused_away(v) == b.fused_away(u));
    CHECK(a.buffer(a.view_owner_of(v)).bytes == b.buffer(b.view_owner_of(u)).bytes);
  }
  CHECK(!check_plan(a));
  CHECK(!check_plan(b));
}

TEST_CASE("graph_value: a graph written as a value plans as its types do") {
  constexpr auto from_value = make_plan<mlp_value>();
  static_assert(from_value.tensor_count() == q.tensor_count() && from_value.reuse_count() == q.reuse_count());
  static_assert(from_value.arena_bytes(memory_class::device) == q.arena_bytes(memory_class::device));
  static_assert(from_value.fused_root_of(from_value.index_of("h3")) == from_value.index_of("y3"));
  check_same_plan(q, from_value);
  constexpr auto step_types = make_plan<step::graph>();
  constexpr auto step_from_value = make_plan<step_value>();
  static_assert(step_from_value.buffer(step_from_value.index_of("cache")).memory == memory_class::external);
  check_same_plan(step_types, step_from_value);
  // Names made in a loop, and what a value keeps of a mistake.
  static_assert(std::string_view(numbered("layers.", 12, ".q")) == "layers.12.q" && std::string_view(numbered("t", -3)) == "t-3");
  constexpr auto bad = [] {
    graph_value<4> v;
    const int x = v.input("x", tensor_of(dtype_id::f32, {8}));
    v.add<ops::relu>("y", {x, 7});
    return v;
  }();
  static_assert(bad.error().code == errc::value_input && bad.error().node == 1);
}

TEST_CASE("plan: text dump (golden)") {
  const std::string expected =
      "plan: 4 tensors, 2 steps, 2 launches, 1 partitions, 2 buffers, 1 reuses, 0 inserted copies, 0 fused groups (0 nodes fused)\n"
      "partitions:\n"
      "  #0   capturable steps 0..1 (2 nodes, 2 launches), 2 static inputs (0 copied), 0 hoisted allocations\n"
      "schedule:\n"
      "  step part  node             op           output               memory          offset      bytes  lifetime\n"
      "     0    0  h0               matmul       bf16[16,4096]        device               0     131072  [0,1]\n"
      "     1    0  r0               relu         bf16[16,4096]        device               0     131072  [1,1] in place of 'h0' output\n"
      "arenas:\n"
      "  device            131072 bytes, lower bound       131072 (1.00x)\n";
  CHECK(to_string(unfused) == expected);
  const std::string fused =
      "plan: 4 tensors, 2 steps, 1 launches, 1 partitions, 1 buffers, 0 reuses, 0 inserted copies, 1 fused groups (1 nodes fused)\n"
      "partitions:\n"
      "  #0   capturable steps 0..1 (2 nodes, 1 launches), 2 static inputs (0 copied), 0 hoisted allocations\n"
      "schedule:\n"
      "  step part  node             op           output               memory          offset      bytes  lifetime\n"
      "     0    0  h0               matmul       bf16[16,4096]        registers            -          -  fused into 'r0'\n"
      "     1    0  r0               relu         bf16[16,4096]        device               0     131072  [1,1] epilogue of 'h0' (one call) reading 'x', 'w0' output\n"
      "arenas:\n"
      "  device            131072 bytes, lower bound       131072 (1.00x)\n";
  CHECK(to_string(p) == fused);
}

TEST_CASE("graph_builder: rejected graphs name the node") {
  tensor_desc v{dtype_id::f32, 1, {1024}};
  {
    graph_builder<8> b;
    b.input("x", v);
    CHECK(b.build().error().code == errc::empty_graph);
  }
  {
    graph_builder<8> b;
    int xi = b.input("x", v);
    int wi = b.parameter("w", tensor_desc{dtype_id::f32, 2, {8, 8}});
    int m = b.add<ops::matmul>("m", {wi, xi});
    b.output(m);
    auto pl = b.build();
    CHECK(pl.error().code == errc::shape_mismatch);
    CHECK(pl.node(pl.error().node).name == "m");
    CHECK(to_string(pl) == "plan rejected: the inputs' shapes do not fit the op in node 'm'\n");
  }
  {
    graph_builder<8> b;
    int xi = b.input("x", v);
    int m = b.add<ops::to_host>("m", {xi}, /*in_place=*/true);
    b.output(m);
    CHECK(b.build().error().code == errc::in_place_not_allowed);
  }
  {
    graph_builder<8> b;
    int xi = b.input("x", v);
    int r = b.add<ops::relu>("r", {xi});
    int s = b.add<ops::relu>("s", {r}, true);
    int t = b.add<ops::add>("t", {s, r});  // r is read after s overwrote it
    b.output(t);
    auto pl = b.build();
    CHECK(pl.error().code == errc::in_place_conflict);
    CHECK(pl.node(pl.error().node).name == "s");
  }
  {
    graph_builder<2> b;
    b.input("x", v);
    b.input("y", v);
    CHECK_THROWS_AS(b.input("z", v), std::length_error);
  }
  {  // every add overload takes the in-place flag, and the builder owns the names it is given
    graph_builder<8> b;
    int xi = b.input(std::string("x"), v);
    const op_traits relu_traits{.in_place = true};
    const int x_in[] = {xi};
    int a = b.add("a", "relu", relu_traits, x_in, 1, v);
    const int a_in[] = {a};
    int r = b.add(std::string("r") + "1", "relu", relu_traits, a_in, 1, v, /*in_place=*/true);  // a temporary name
    const int bad[] = {7};
    CHECK_THROWS_AS(b.add("q", "relu", relu_traits, bad, 1, v), std::invalid_argument);
    b.output(r);
    auto pl = b.build();
    REQUIRE(pl.ok());
    CHECK(pl.node(r).name == "r1");
    CHECK(pl.buffer(r).shares == a);  // r took a's buffer, as asked
  }
}
}  // namespace plan_test

namespace plan_family_test {
using namespace ctg;
// A plan family: the graph at each batch size, each member its own plan; the family's arena is the
// largest member's; member_for picks the smallest member that holds n rows.
template <std::int64_t B>
using mlp_at = graph<node<"y", ops::relu, node<"h", ops::matmul, input<"x", bf16, shape<B, 512>>, parameter<"w", bf16, shape<512, 512>>>>>;
using family = plan_family<mlp_at, 1, 2, 4, 8, 16, 24, 32>;
TEST_CASE("plan_family: one plan per size, arenas sized for the largest member") {
  static_assert(family::size_count == 7 && family::ok());
  static_assert(family::plan<24>.step_count() == 2 && !check_plan(family::plan<24>));
  static_assert(family::plan<24>.buffer_of<node<"h", ops::matmul, input<"x", bf16, shape<24, 512>>, parameter<"w", bf16, shape<512, 512>>>>().bytes ==
                24 * 512 * 2);
  static_assert(family::member_for(1) == 0 && family::member_for(17) == 5 && family::member_for(24) == 5 && family::member_for(33) == no_index);
  static_assert(family::arena_bytes(memory_class::device) == family::plan<32>.arena_bytes(memory_class::device));
  constexpr std::size_t separately = family::plan<1>.arena_bytes(memory_class::device) + family::plan<2>.arena_bytes(memory_class::device) +
                                     family::plan<4>.arena_bytes(memory_class::device) + family::plan<8>.arena_bytes(memory_class::device) +
                                     family::plan<16>.arena_bytes(memory_class::device) + family::plan<24>.arena_bytes(memory_class::device) +
                                     family::plan<32>.arena_bytes(memory_class::device);
  static_assert(family::arena_bytes_separately(memory_class::device) == separately);
  CHECK(family::arena_bytes(memory_class::device) < separately);
  CHECK(family::member_for(9) == 4);
}

// The same family written as values (one graph_value per batch size): the same plans as the types'.
template <std::int64_t B>
struct mlp_value_at {  // a graph type: its static member `value` is a graph_value
  static constexpr auto value = [] {
    graph_value<4> g;
    const int x = g.input("x", tensor_of(dtype_id::bf16, {B, 512}));
    g.output(g.add<ops::relu>("y", {g.add<ops::matmul>("h", {x, g.parameter("w", tensor_of(dtype_id::bf16, {512, 512}))})}));
    return g;
  }();
};
using value_family = plan_family<mlp_value_at, 1, 2, 4, 8, 16, 24, 32>;
TEST_CASE("plan_family: a family of graph values plans as its types do") {
  static_assert(value_family::ok() && !check_plan(value_family::plan<24>));
  static_assert(value_family::arena_bytes(memory_class::device) == family::arena_bytes(memory_class::device));
  static_assert(value_family::arena_bytes_separately(memory_class::device) == family::arena_bytes_separately(memory_class::device));
  static_assert(value_family::plan<24>.buffer(value_family::plan<24>.index_of("y")).bytes == 24 * 512 * 2);
  CHECK(value_family::graph_count() == family::graph_count());
}

// The graphs a family's executor captures (at instantiation, or each member's on its first run):
// one per member and capturable partition; a fallback region between two graphs gives two a member.
template <std::int64_t B>
using round_trip_at = graph<typename test_models::round_trip<input<"x", f32, shape<B, 64>>, parameter<"w", f32, shape<64, 64>>>::m1>;
using round_trip_family = plan_family<round_trip_at, 1, 8, 64>;
TEST_CASE("plan_family: one captured graph per member and capturable partition") {
  static_assert(family::graph_count() == family::size_count);
  static_assert(round_trip_family::plan<8>.partition_count() == 3 && round_trip_family::plan<8>.partition_count(partition_kind::capturable) == 2);
  static_assert(round_trip_family::graph_count() == 2 * round_trip_family::size_count);
  CHECK(round_trip_family::graph_count() == 6);
}

// State over a batch family: a cache [B, length, 64] and a position, shared by the members (the
// largest member's allocation; a smaller member uses the leading rows).
template <std::int64_t B, class Dtype = f32, std::int64_t Length = 8>
struct decode {
  using cache = state<"cache", Dtype, shape<B, Length, 64>>;
  using pos = state<"pos", i32, shape<1>>;
  struct write : node<"write", ops::cache_write<-2>, cache, pos, input<"x", Dtype, shape<B, 1, 64>>> {};
  using type = graph<node<"next", ops::advance<1>, pos, write>>;
};
template <std::int64_t B>
using decode_at = typename decode<B>::type;
using decode_family = plan_family<decode_at, 1, 4, 16>;
TEST_CASE("plan_family: members share state when only its outermost extent grows") {
  static_assert(decode_family::state_check().ok() && family_shares_state<decode_family>);
  static_assert(decode_family::state_bytes() == decode_family::plan<16>.state_bytes());
  static_assert(decode_family::plan<1>.state_bytes() < decode_family::state_bytes());
  CHECK(decode_family::state_check().ok());
  // What the family's check finds, run at run time on members that cannot share.
  constexpr auto& largest = decode_family::plan<16>.graph;
  constexpr auto other_dtype = make_plan<typename decode<4, bf16>::type>();
  constexpr auto inner = make_plan<typename decode<4, f32, 4>::type>();  // [4, 4, 64]: the length varies
  constexpr auto outer = make_plan<typename decode<32>::type>();
  constexpr auto no_cache = make_plan<graph<node<"next", ops::advance<1>, state<"pos", i32, shape<1>>>>>();
  const family_state_check d = detail::compare_state(other_dtype.graph, 4, largest), i = detail::compare_state(inner.graph, 4, largest),
                           o = detail::compare_state(outer.graph, 32, largest), m = detail::compare_state(no_cache.graph, 2, largest),
                           same = detail::compare_state(decode_family::plan<4>.graph, 4, largest);
  CHECK(d.fault == family_state_fault::dtype);
  CHECK(d.state == "cache");
  CHECK(d.size == 4);
  CHECK(i.fault == family_state_fault::inner_extent);
  CHECK(o.fault == family_state_fault::outer_extent);
  CHECK(m.fault == family_state_fault::missing);
  CHECK(m.state == "cache");
  CHECK(same.ok());
  static_assert(detail::compare_state(inner.graph, 4, largest).fault == family_state_fault::inner_extent);
}
}  // namespace plan_family_test
