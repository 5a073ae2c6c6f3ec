// The five behaviours of DESIGN.md's table, each as static_asserts (and CHECKs of the same
// expressions): out-variant vs opaque, symmetric placement, static inputs used in place,
// hoisting, DMA copies for graph inputs.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <string>

#include "../models.hpp"

namespace placement_test {
using namespace ctg;

constexpr std::int64_t tokens = 16, hidden = 4096;
using x = input<"x", bf16, shape<tokens, hidden>>;

using test_models::opaque_all_reduce;
template <class AllReduce>
using tp = test_models::tp<AllReduce, bf16, hidden>;

constexpr auto opaque = make_plan<graph<repeat<8, tp<opaque_all_reduce>::layer, x>>>();
constexpr auto out_variant = make_plan<graph<repeat<8, tp<ops::all_reduce>::layer, x>>>();

TEST_CASE("1. opaque collectives: 9 buffers (1 symmetric + 8 device), 7 reuses; out-variant: 2, 14") {
  static_assert(opaque.storage_count(memory_class::symmetric) == 1);
  static_assert(opaque.storage_count(memory_class::device) == 8);
  static_assert(opaque.storage_count() == 9 && opaque.reuse_count() == 7);
  static_assert(out_variant.storage_count(memory_class::symmetric) == 1);
  static_assert(out_variant.storage_count(memory_class::device) == 1);
  static_assert(out_variant.storage_count() == 2 && out_variant.reuse_count() == 14);
  static_assert(opaque.buffer_count() == 16 && out_variant.buffer_count() == 16);
  static_assert(opaque.arena_bytes(memory_class::device) == 0);  // opaque outputs are not planned
  CHECK(opaque.storage_count() == 9);
  CHECK(out_variant.storage_count() == 2);
  CHECK(!check_plan(opaque));
  CHECK(!check_plan(out_variant));
}

// h -> relu -> all_reduce: relu writes into symmetric memory, and so does h, whose only reader
// relu takes its buffer over in place.
struct h : node<"h", ops::matmul, x, parameter<"w", bf16, shape<hidden, hidden>>> {};
struct r : node<"r", ops::relu, h> {};
struct s : node<"s", ops::all_reduce, r> {};
constexpr auto chain = make_plan<graph<s>, plan_options{.fuse = false}>();
constexpr auto chain_fused = make_plan<graph<s>>();  // relu in h's epilogue, writing the window

TEST_CASE("2. symmetric placement: producers write straight into the symmetric arena") {
  static_assert(chain.memory_of<r>() == memory_class::symmetric);
  static_assert(chain.memory_of<h>() == memory_class::symmetric);  // propagated upstream
  static_assert(chain.buffer_of<r>().shares == chain.index_of<h>());
  static_assert(chain.copy_count() == 0);
  static_assert(chain.memory_of<s>() == memory_class::device);
  static_assert(chain_fused.fused_root_of<h>() == chain_fused.index_of<r>() && chain_fused.memory_of<r>() == memory_class::symmetric);
  static_assert(chain_fused.storage_count(memory_class::symmetric) == 1 && !check_plan(chain_fused));
  CHECK(chain.storage_count(memory_class::symmetric) == 1);
  CHECK(!check_plan(chain));
}

// A graph input, a parameter and an opaque output each need exactly one copy; two collectives
// reading the same graph input share it.
using p = parameter<"p", bf16, shape<tokens, hidden>>;
struct o : node<"o", opaque_all_reduce, ref<"cx">> {};
struct cx : node<"cx", ops::relu, x> {};
struct a1 : node<"a1", ops::all_reduce, x> {};
struct a2 : node<"a2", ops::all_reduce, x> {};
struct a3 : node<"a3", ops::all_reduce, p> {};
struct a4 : node<"a4", ops::all_reduce, o> {};
struct sum : node<"sum", ops::add, a1, a2> {};
struct sum2 : node<"sum2", ops::add, a3, a4> {};
struct total : node<"total", ops::add, sum, sum2> {};
constexpr auto copies = make_plan<graph<total, cx>>();

TEST_CASE("2. symmetric placement: one inserted copy per graph input, parameter or opaque output") {
  static_assert(copies.ok());
  static_assert(copies.copy_count() == 3);
  static_assert(copies.copy_of<x>() >= 0 && copies.copy_of<p>() >= 0 && copies.copy_of<o>() >= 0);
  static_assert(copies.copy_of<cx>() == -1);  // cx feeds o, not a collective
  static_assert(copies.node(copies.index_of<a1>()).inputs[0] == copies.copy_of<x>());
  static_assert(copies.node(copies.index_of<a2>()).inputs[0] == copies.copy_of<x>());
  static_assert(copies.buffer(copies.copy_of<x>()).memory == memory_class::symmetric);
  CHECK(copies.copy_count() == 3);
  CHECK(copies.node(copies.copy_of<o>()).op->name == "to_symmetric");
  // Each copy has its own name, so errors, dumps and NVTX ranges are unambiguous.
  static_assert(copies.node(copies.copy_of<x>()).name == "x.to_symmetric");
  static_assert(copies.index_of("x.to_symmetric") == copies.copy_of<x>() && copies.index_of("x") == copies.index_of<x>());
  CHECK(copies.node(copies.copy_of<p>()).name == "p.to_symmetric");
  // The dump lists each inserted copy with its kind and readers.
  const std::string dump = to_string(copies);
  CHECK(dump.find("inserted copies:\n") != std::string::npos);
  CHECK(dump.find("  x -> symmetric (dma copy, step ") != std::string::npos);
  CHECK(dump.find("for a1, a2\n") != std::string::npos);
  CHECK(!check_plan(copies));
}

// The same graph as a constexpr value: its copies counted and named from its records in place.
inline constexpr auto copies_value = [] {
  graph_value<16> g;
  const int in = g.input("x", tensor_of(dtype_id::bf16, {tokens, hidden}));
  const int w = g.parameter("p", tensor_of(dtype_id::bf16, {tokens, hidden}));
  const int c = g.add<ops::relu>("cx", {in});
  const int o = g.add<opaque_all_reduce>("o", {c});
  const int s = g.add<ops::add>("sum", {g.add<ops::all_reduce>("a1", {in}), g.add<ops::all_reduce>("a2", {in})});
  const int s2 = g.add<ops::add>("sum2", {g.add<ops::all_reduce>("a3", {w}), g.add<ops::all_reduce>("a4", {o})});
  g.output(g.add<ops::add>("total", {s, s2}));
  g.output(c);
  return g;
}();

TEST_CASE("2. symmetric placement: a graph_value gets the same copies, named the same") {
  constexpr auto v = make_plan<copies_value>();
  static_assert(v.ok() && v.copy_count() == 3 && !check_plan(v));
  static_assert(v.index_of("x.to_symmetric") >= 0 && v.index_of("p.to_symmetric") >= 0 && v.index_of("o.to_symmetric") >= 0);
  static_assert(v.node(v.index_of("a2")).inputs[0] == v.index_of("x.to_symmetric"));
  static_assert(v.arena_bytes(memory_class::symmetric) == copies.arena_bytes(memory_class::symmetric));
  static_assert(v.arena_bytes(memory_class::device) == copies.arena_bytes(memory_class::device));
  CHECK(v.tensor_count() == copies.tensor_count());
  CHECK(v.storage_count(memory_class::symmetric) == copies.storage_count(memory_class::symmetric));
}

TEST_CASE("3. captured partitions use symmetric buffers in place") {
  static_assert(out_variant.partition(0).static_inputs == 9);  // x and 8 weights
  static_assert(out_variant.partition(0).static_input_copies == 0);
  static_assert(copies.partition(0).static_input_copies == 0);
  CHECK(out_variant.partition(0).static_input_copies == 0);
}

// The device-copy round trip: matmul -> to_host -> host op -> to_device -> matmul.
using w = parameter<"w", bf16, shape<hidden, hidden>>;
using round_trip = test_models::round_trip<x, w>;
using m0 = round_trip::m0;
using cpu = round_trip::cpu;
using h2d = round_trip::h2d;
constexpr auto trip = make_plan<graph<round_trip::m1>>();

TEST_CASE("4. hoisting: a fallback region's buffers are owned by the partition before it") {
  static_assert(trip.partition_count() == 3);
  static_assert(trip.partition(1).kind == partition_kind::fallback);
  static_assert(trip.is_hoisted<cpu>() && trip.buffer_of<cpu>().hoisted_to == 0);
  static_assert(trip.partition(0).hoisted == 1 && trip.partition(2).hoisted == 0);
  static_assert(!trip.is_hoisted<m0>() && !trip.is_hoisted<h2d>());
  static_assert(trip.memory_of<cpu>() == memory_class::pinned_host);
  CHECK(trip.buffer_of<cpu>().hoisted_to == 0);
  CHECK(!check_plan(trip));
}

// A fallback region first: no partition before it, so its buffers are allocated at
// instantiation, with the arenas.
using hx = input<"hx", f32, shape<1024>>;
using leading = test_models::leading_fallback<hx>;
using first = leading::first;
struct after : node<"after", ops::relu, leading::up> {};
constexpr auto lead = make_plan<graph<after>>();

TEST_CASE("4. hoisting: a leading fallback region hoists to instantiation") {
  static_assert(lead.partition(0).kind == partition_kind::fallback);
  static_assert(lead.is_hoisted<first>() && lead.buffer_of<first>().hoisted_to == no_index);
  static_assert(lead.hoisted_at_instantiation() == 1);
  CHECK(lead.hoisted_at_instantiation() == 1);
  CHECK(!check_plan(lead));
}

// An opaque op in a fallback region allocates a new output every run: the next captured
// partition must copy it into memory it owns.
struct opaque_host {
  static constexpr std::string_view name = "opaque_host";
  static constexpr op_traits traits{.capturable = false, .result = op_result::opaque, .where = executes_on::host,
                                    .output_memory = memory_class::pinned_host};
  static constexpr output_result output(std::span<const tensor_desc> in) { return {in[0]}; }
};
struct oh : node<"oh", opaque_host, hx> {};
struct oh_up : node<"oh_up", ops::to_device, oh> {};
constexpr auto moving = make_plan<graph<oh_up>>();
TEST_CASE("3. static input copies count only what moves between runs") {
  static_assert(moving.partition(1).static_inputs == 1 && moving.partition(1).static_input_copies == 1);
  static_assert(!moving.is_hoisted<oh>());  // the op allocates it: nothing to hoist
  CHECK(moving.partition(1).static_input_copies == 1);
}

TEST_CASE("5. the copy for a graph input is a DMA memcpy") {
  static_assert(copies.node(copies.copy_of<x>()).op->traits.copy == copy_kind::dma);
  static_assert(ops::to_host::traits.copy == copy_kind::dma && ops::to_device::traits.copy == copy_kind::dma);
  CHECK(copies.node(copies.copy_of<p>()).op->traits.copy == copy_kind::dma);
}

TEST_CASE("one capturable partition on request") {
  constexpr auto one = make_plan<graph<repeat<8, tp<ops::all_reduce>::layer, x>>, plan_options{.one_partition = true}>();
  static_assert(one.partition_count() == 1);
  graph_builder<8> b;
  int in = b.input("x", tensor_desc{dtype_id::f32, 1, {8}});
  int cpu = b.add<ops::host_op<test_models::no_op_host>>("cpu", {in});
  b.output(b.add<ops::relu>("r", {cpu}));
  CHECK(b.build().ok());
  b.require_one_partition();
  owned_plan<8> pl = b.build();
  CHECK(pl.error().code == errc::not_capturable);
  CHECK(pl.node(pl.error().node).name == "cpu");
}

TEST_CASE("symmetric memory plans are compile-time constants, the same on every rank") {
  constexpr std::size_t window = out_variant.arena_bytes(memory_class::symmetric);
  static_assert(window == tokens * hidden * 2);
  static_assert(out_variant.buffer_of<tp<ops::all_reduce>::layer<x, 3>>().memory == memory_class::device);
  CHECK(window == out_variant.lower_bound(memory_class::symmetric));
}
}  // namespace placement_test

namespace placement_test {
// Issue 10, the cross-rank race: an all_reduce whose output feeds another collective lives in
// the symmetric window; it must not take over its own input there, because the one-shot kernel
// writes its output while peers still read that input.
struct race_h : node<"race_h", ops::matmul, x, parameter<"race_w", bf16, shape<hidden, hidden>>> {};
struct race_a : node<"race_a", ops::all_reduce, race_h> {};
struct race_b : node<"race_b", ops::all_reduce, race_a> {};
constexpr auto race = make_plan<graph<race_b>>();

TEST_CASE("collectives never write the storage their peers read") {
  static_assert(ops::all_reduce::traits.reads_peers && !ops::all_reduce::traits.in_place);
  static_assert(race.memory_of<race_a>() == memory_class::symmetric);  // it feeds race_b
  static_assert(race.memory_of<race_h>() == memory_class::symmetric);
  static_assert(race.buffer_of<race_a>().shares == -1);  // not in place of race_h
  static_assert(race.offset_of<race_a>() != race.offset_of<race_h>());
  CHECK(race.buffer_of<race_a>().shares == -1);
  CHECK(!check_plan(race));
  // The plan that used to be made: race_a in place of race_h. check_plan names the hazard.
  constexpr std::size_t n = race.graph_capacity;
  flat_graph<n> g = race.graph;
  memory_layout<n> m = race.memory;
  m.offset[race.index_of<race_a>()] = race.offset_of<race_h>();
  g.buffers[race.index_of<race_a>()].shares = race.index_of<race_h>();
  CHECK(check_plan(plan<n>{g, m}).fault == plan_fault::collective_writes_peer_input);
  // Asking for it is an error, at compile time (tests/fail) and for run-time builders.
  graph_builder<8> b;
  const int in = b.input("x", tensor_desc{dtype_id::f32, 1, {64}});
  const int r = b.add<ops::relu>("r", {in});
  b.output(b.add<ops::all_reduce>("a", {r}, /*in_place=*/true));
  CHECK(b.build().error().code == errc::in_place_not_allowed);
}

// Issue 10: a host op reading device memory used to be accepted.
TEST_CASE("a host op reads pinned host memory or the user's, never a device buffer") {
  graph_builder<8> b;
  const int in = b.input("x", tensor_desc{dtype_id::f32, 1, {64}});
  const int r = b.add<ops::relu>("r", {in});
  b.output(b.add<ops::host_op<test_models::no_op_host>>("cpu", {r}));
  const owned_plan<8> p = b.build();
  CHECK(p.error().code == errc::host_reads_device);
  CHECK(p.node(p.error().node).name == "cpu");
  CHECK(p.node(p.error().other).name == "r");
  // Through to_host it is fine; a collective reading the host op's output gets a copy.
  graph_builder<8> c;
  const int cin = c.input("x", tensor_desc{dtype_id::f32, 1, {64}});
  const int h = c.add<ops::to_host>("h", {c.add<ops::relu>("r", {cin})});
  c.output(c.add<ops::all_reduce>("a", {c.add<ops::host_op<test_models::no_op_host>>("cpu", {h})}));
  const owned_plan<8> q = c.build();
  REQUIRE(q.ok());
  CHECK(q.copy_count() == 1);
  CHECK(q.index_of("cpu.to_symmetric") >= 0);  // run-time builders name copies the same way
  CHECK(q.buffer(q.index_of("cpu")).memory == memory_class::pinned_host);
  CHECK(!check_plan(q));
}

TEST_CASE("every bad node of a graph is reported at once") {
  graph_builder<16> b;
  const tensor_desc v{dtype_id::f32, 1, {64}}, u{dtype_id::f32, 1, {32}};
  const int in = b.input("x", v), other = b.input("y", u);
  const int bad1 = b.add<ops::add>("bad1", {in, other});
  const int good = b.add<ops::relu>("good", {in});
  const int bad2 = b.add<ops::mul>("bad2", {good, other});
  const int after = b.add<ops::relu>("after", {bad1});  // reads a bad node: not judged
  const int bad3 = b.add<ops::matmul>("bad3", {in, in});
  b.output(after), b.output(bad2), b.output(bad3);
  const owned_plan<16> p = b.build();
  REQUIRE(p.error_count() == 3);
  CHECK(p.node(p.error(0).node).name == "bad1");
  CHECK(p.node(p.error(1).node).name == "bad2");
  CHECK(p.node(p.error(2).node).name == "bad3");
  CHECK(p.error(2).code == errc::shape_mismatch);
  CHECK_THROWS(p.arena_bytes(memory_class::device));
}
}  // namespace placement_test

namespace placement_test {
TEST_CASE("the dump lists every error") {
  graph_builder<8> b;
  const int in = b.input("x", tensor_desc{dtype_id::f32, 1, {64}}), y = b.input("y", tensor_desc{dtype_id::f32, 1, {8}});
  b.output(b.add<ops::add>("e1", {in, y}));
  b.output(b.add<ops::mul>("e2", {y, in}));
  CHECK(to_string(b.build()) == "plan rejected: input 1 of an elementwise op does not broadcast to input 0 in node 'e1'\n"
                                "plan rejected: input 1 of an elementwise op does not broadcast to input 0 in node 'e2'\n");
}
}  // namespace placement_test
