// State tensors (ctg::state) and the ops that write them: never placed, never reused, never in an
// arena slot; a write's output is the state; the dump shows them; the ordering rule
// (passes/state.hpp) and the ops' output rules, at compile time and at run time.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <string>

#include "../models.hpp"

namespace state_test {
using namespace ctg;

using step = test_models::decode_step<bf16, 64, 4, 64>;
constexpr auto p = make_plan<step::graph>();

//! Whether no buffer the memory plan places is, or holds, a state tensor's storage.
template <std::size_t N>
constexpr bool state_never_planned(const plan<N>& q) {
  const auto& g = q.graph;
  for (int v = 0; v < g.tensor_count; ++v) {
    const bool state = detail::state_of(g.nodes, v) >= 0;
    if (state && (is_planned(g, v) || g.buffers[g.owner[v]].memory != memory_class::external)) return false;
    if (is_planned(g, v) && (g.nodes[g.owner[v]].kind == tensor_kind::state || state)) return false;
    if (g.buffers[v].shares >= 0 && detail::state_of(g.nodes, g.buffers[v].shares) >= 0) return false;
  }
  return true;
}

TEST_CASE("state: never placed, never reused, in no arena slot") {
  static_assert(p.state_count() == 2 && p.state_write_count() == 2);
  static_assert(p.state_bytes() == 64 * 4 * 64 * 2 + arena_alignment);  // the cache, and the position rounded up
  static_assert(p.memory_of<step::cache>() == memory_class::external && p.memory_of<step::pos>() == memory_class::external);
  // A write's output is the state itself: its buffer is the state's, which no arena holds.
  static_assert(p.is_state<step::write>() && p.is_state<step::whole>() && p.is_state<step::pos_next>());
  static_assert(!p.is_state<step::k>() && !p.is_state<step::seen>() && !p.is_state<step::x>());
  static_assert(p.buffer_of<step::write>().node == p.index_of<step::cache>());
  static_assert(p.buffer_of<step::pos_next>().node == p.index_of<step::pos>());
  static_assert(p.offset_of<step::write>() == 0 && !p.buffer_of<step::write>().opaque);
  static_assert(state_never_planned(p));
  // The arena holds k and seen only (seen reuses k's slot): the 32 KiB cache is not in it.
  static_assert(p.buffer_count() == 2 && p.reuse_count() == 1);
  static_assert(p.arena_bytes(memory_class::device) == 64 * 256 * 2);
  static_assert(p.arena_bytes(memory_class::device) == p.lower_bound(memory_class::device));
  // The write runs before the cache is read, and the position moves last.
  static_assert(p.step_of<step::write>() < p.step_of<step::whole>() && p.step_of<step::seen>() < p.step_of<step::pos_next>());
  static_assert(p.partition_count() == 1);  // one captured graph replays every step
  static_assert(!check_plan(p));
  CHECK(state_never_planned(p));
  CHECK(!check_plan(p));
}

TEST_CASE("state: the dump shows state, its writes and its views") {
  const std::string d = to_string(p);
  INFO(d);
  CHECK(d.find("  write            cache_write  bf16[64,4,64]        state                -      32768  across runs writes state 'cache'\n") != std::string::npos);
  CHECK(d.find("  whole            reshape      bf16[64,256]         state                -      32768  across runs view of 'cache'\n") != std::string::npos);
  CHECK(d.find("  pos_next         advance      i32[1]               state                -          4  across runs writes state 'pos' output\n") != std::string::npos);
  CHECK(d.find("arenas:\n  device             32768 bytes, lower bound        32768 (1.00x)\n"
               "state (kept across runs; never placed or reused by the planner):\n"
               "  cache            bf16[64,4,64]             32768 bytes  written by 'write'\n"
               "  pos              i32[1]                        4 bytes  written by 'pos_next'\n"
               "  2 state tensors, 33024 bytes: allocated once, zero-filled, where not bound\n") != std::string::npos);
  // A plan without state has no state section.
  CHECK(to_string(make_plan<graph<node<"r", ops::relu, step::x>>>()).find("state") == std::string::npos);
}

TEST_CASE("state: the ops' output rules") {
  static constexpr tensor_desc cache{dtype_id::bf16, 3, {16, 4, 64}}, pos{dtype_id::i32, 1, {1}}, rows{dtype_id::bf16, 3, {2, 4, 64}};
  static constexpr tensor_desc ok[] = {cache, pos, rows};
  CHECK(ops::cache_write<0>::output(ok).out == cache);
  CHECK(ops::cache_write<-3>::output(ok).out == cache);
  const tensor_desc all_rows[] = {cache, pos, cache};  // as many rows as the state: one write fills it
  CHECK(ops::cache_write<0>::output(all_rows).error == errc::ok);
  const tensor_desc i64_pos[] = {cache, tensor_desc{dtype_id::i64, 2, {1, 1}}, rows};
  CHECK(ops::cache_write<0>::output(i64_pos).error == errc::ok);
  const tensor_desc too_many[] = {cache, pos, tensor_desc{dtype_id::bf16, 3, {17, 4, 64}}};
  CHECK(ops::cache_write<0>::output(too_many).error == errc::shape_mismatch);
  const tensor_desc other_extent[] = {cache, pos, tensor_desc{dtype_id::bf16, 3, {1, 4, 32}}};
  CHECK(ops::cache_write<0>::output(other_extent).error == errc::shape_mismatch);
  CHECK(ops::cache_write<2>::output(other_extent).error == errc::shape_mismatch);  // dimension 0 differs then
  const tensor_desc along_last[] = {cache, pos, tensor_desc{dtype_id::bf16, 3, {16, 4, 1}}};
  CHECK(ops::cache_write<-1>::output(along_last).error == errc::ok);
  const tensor_desc other_rank[] = {cache, pos, tensor_desc{dtype_id::bf16, 2, {4, 64}}};
  CHECK(ops::cache_write<0>::output(other_rank).error == errc::shape_mismatch);
  CHECK(ops::cache_write<3>::output(ok).error == errc::shape_mismatch);  // no dimension 3
  const tensor_desc two_positions[] = {cache, tensor_desc{dtype_id::i32, 1, {2}}, rows};
  CHECK(ops::cache_write<0>::output(two_positions).error == errc::shape_mismatch);
  const tensor_desc float_pos[] = {cache, tensor_desc{dtype_id::f32, 1, {1}}, rows};
  CHECK(ops::cache_write<0>::output(float_pos).error == errc::dtype_mismatch);
  const tensor_desc other_dtype[] = {cache, pos, tensor_desc{dtype_id::f16, 3, {2, 4, 64}}};
  CHECK(ops::cache_write<0>::output(other_dtype).error == errc::dtype_mismatch);
  CHECK(ops::cache_write<0>::output(std::span<const tensor_desc>(ok, 2)).error == errc::wrong_arity);
  constexpr position_use use = ops::cache_write<0>::position(ok);
  static_assert(use.input == 1 && use.extent == 2 && use.limit == 16 && use.advance == 0);

  CHECK(ops::advance<1>::output(std::span<const tensor_desc>(&pos, 1)).out == pos);
  const tensor_desc waits[] = {pos, cache, rows};  // inputs after the first are only waited for
  CHECK(ops::advance<-2>::output(waits).error == errc::ok);
  CHECK(ops::advance<1>::output(std::span<const tensor_desc>()).error == errc::wrong_arity);
  CHECK(ops::advance<1>::output(std::span<const tensor_desc>(&cache, 1)).error == errc::dtype_mismatch);
  const tensor_desc wide{dtype_id::i64, 1, {2}};
  CHECK(ops::advance<1>::output(std::span<const tensor_desc>(&wide, 1)).error == errc::shape_mismatch);
  static_assert(ops::advance<3>::position({}).advance == 3 && ops::advance<3>::position({}).input == 0);
}

//! A graph with a cache, a position and a row, built at run time.
struct built {
  graph_builder<32> b;
  int cache, pos, x;
  built() {
    cache = b.state("cache", tensor_desc{dtype_id::f32, 2, {8, 16}});
    pos = b.state("pos", tensor_desc{dtype_id::i32, 1, {1}});
    x = b.input("x", tensor_desc{dtype_id::f32, 2, {1, 16}});
  }
  //! The plan's first error, and the names of its node and other.
  std::string error() {
    auto q = b.build();
    if (q.ok()) return "ok";
    const status e = q.error();
    return std::string(describe(e.code)) + " in '" + std::string(q.node(e.node).name) + "'" +
           (e.other >= 0 ? " (other '" + std::string(q.node(e.other).name) + "')" : "");
  }
};

TEST_CASE("state: every reader of a state runs before the write that replaces it") {
  const std::string unordered(describe(errc::state_read_unordered));
  {  // the decode step: the position moves after everything that reads it
    built t;
    const int w = t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, t.x});
    const int r = t.b.add<ops::relu>("r", {w});
    t.b.output(r);
    t.b.output(t.b.add<ops::advance<1>>("next", {t.pos, r}));
    CHECK(t.error() == "ok");
    CHECK(!check_plan(t.b.build()));
  }
  {  // advance without waiting: the write may read the position after it moved
    built t;
    const int w = t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, t.x});
    t.b.output(t.b.add<ops::relu>("r", {w}));
    t.b.output(t.b.add<ops::advance<1>>("next", {t.pos}));
    CHECK(t.error() == unordered + " in 'next' (other 'w')");
  }
  {  // reading the cache itself beside its write, even through a view
    built t;
    const int w = t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, t.x});
    const int v = t.b.add<ops::reshape<shape<128>>>("v", {t.cache});
    t.b.output(t.b.add<ops::relu>("old", {v}));
    t.b.output(w);
    CHECK(t.error() == unordered + " in 'w' (other 'old')");
  }
  {  // ... which is fine where that reader leads to the write: it reads the state before
    built t;
    const int old = t.b.add<ops::relu>("old", {t.cache});
    const int sum = t.b.add<ops::add>("sum", {t.x, t.b.add<ops::reshape<shape<1, 16>>>("first", {t.b.add<ops::slice<0, 0, 1>>("row", {old})})});
    t.b.output(t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, sum}));
    CHECK(t.error() == "ok");
  }
  {  // two writes into one version of the state: chain them instead
    built t;
    const int w1 = t.b.add<ops::cache_write<0>>("w1", {t.cache, t.pos, t.x});
    const int w2 = t.b.add<ops::cache_write<0>>("w2", {t.cache, t.pos, t.x});
    t.b.output(w1), t.b.output(w2);
    CHECK(t.error() == unordered + " in 'w1' (other 'w2')");
  }
  {  // chained: the second writes into the first's output; a reader of the first's output must
     // lead to the second
    built t;
    const int w1 = t.b.add<ops::cache_write<0>>("w1", {t.cache, t.pos, t.x});
    const int mid = t.b.add<ops::relu>("mid", {w1});
    const int w2 = t.b.add<ops::cache_write<0>>("w2", {w1, t.pos, t.x});
    t.b.output(mid), t.b.output(w2);
    CHECK(t.error() == unordered + " in 'w2' (other 'mid')");
    built u;
    const int u1 = u.b.add<ops::cache_write<0>>("w1", {u.cache, u.pos, u.x});
    const int row = u.b.add<ops::reshape<shape<1, 16>>>("row", {u.b.add<ops::slice<0, 0, 1>>("first", {u1})});
    const int u2 = u.b.add<ops::cache_write<0>>("w2", {u1, u.pos, u.b.add<ops::relu>("mid", {row})});
    u.b.output(u2);
    CHECK(u.error() == "ok");
    auto q = u.b.build();
    CHECK(q.graph.owner[u2] == u.cache);
    CHECK(!check_plan(q));
  }
  {  // a write that reads the state it writes in another input
    built t;
    const int first = t.b.add<ops::slice<0, 0, 1>>("first", {t.cache});
    t.b.output(t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, first}));
    CHECK(t.error() == unordered + " in 'w' (other 'w')");
  }
  {  // writing into a tensor that is no state
    built t;
    const int buf = t.b.add<ops::relu>("buf", {t.b.input("y", tensor_desc{dtype_id::f32, 2, {8, 16}})});
    t.b.output(t.b.add<ops::cache_write<0>>("w", {buf, t.pos, t.x}));
    CHECK(t.error() == std::string(describe(errc::state_write_target)) + " in 'w' (other 'buf')");
    built u;
    u.b.output(u.b.add<ops::advance<1>>("next", {u.b.input("p", tensor_desc{dtype_id::i32, 1, {1}})}));
    CHECK(u.error() == std::string(describe(errc::state_write_target)) + " in 'next' (other 'p')");
  }
}

TEST_CASE("state: no in place over state, no host op on it, collectives copy it") {
  {  // asked for: refused; allowed but not asked for: not taken
    built t;
    const int w = t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, t.x});
    t.b.output(t.b.add<ops::relu>("r", {w}, /*in_place=*/true));
    CHECK(t.error() == std::string(describe(errc::in_place_conflict)) + " in 'r' (other 'w')");
    built u;
    const int uw = u.b.add<ops::cache_write<0>>("w", {u.cache, u.pos, u.x});
    const int r = u.b.add<ops::relu>("r", {uw});
    u.b.output(r);
    auto q = u.b.build();
    REQUIRE(q.ok());
    CHECK(q.buffer(r).shares == no_index);
    CHECK(is_planned(q.graph, r));
  }
  {  // a host op dereferences its input on the host: state is on the device
    built t;
    const int w = t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, t.x});
    t.b.output(t.b.add<ops::host_op<test_models::no_op_host>>("cpu", {w}));
    CHECK(t.error() == std::string(describe(errc::host_reads_device)) + " in 'cpu' (other 'w')");
  }
  {  // a collective reads a copy of it in the window
    built t;
    const int w = t.b.add<ops::cache_write<0>>("w", {t.cache, t.pos, t.x});
    t.b.output(t.b.add<ops::all_reduce>("sum", {w}));
    auto q = t.b.build();
    REQUIRE(q.ok());
    CHECK(q.copy_count() == 1);
    CHECK(q.node(q.node(q.index_of("sum")).inputs[0]).name == "w.to_symmetric");
    CHECK(!check_plan(q));
  }
}

// A prefill step writes 4 rows at once and advances by 4; rows along the last dimension too.
using cache = state<"kv", f16, shape<2, 32, 64>>;  // [kv heads, length, head dim]
using pos = state<"at", i64, shape<1>>;
using rows = input<"rows", f16, shape<2, 4, 64>>;
struct fill : node<"fill", ops::cache_write<1>, cache, pos, rows> {};
struct moved : node<"moved", ops::advance<4>, pos, fill> {};
constexpr auto prefill = make_plan<graph<moved>>();

TEST_CASE("state: a prefill step, and a state only read") {
  static_assert(prefill.state_count() == 2 && prefill.buffer_count() == 0 && prefill.arena_bytes(memory_class::device) == 0);
  static_assert(prefill.is_state<fill>() && prefill.output_of<fill>() == static_desc<cache>);
  static_assert(!check_plan(prefill));
  using table = state<"table", f32, shape<16>>;  // kept across runs, written by no node of this graph
  constexpr auto read_only = make_plan<graph<node<"t", ops::relu, table>>>();
  static_assert(read_only.state_count() == 1 && read_only.state_write_count() == 0 && !check_plan(read_only));
  CHECK(to_string(read_only).find("  table            f32[16]                      64 bytes  read only\n") != std::string::npos);
}

}  // namespace state_test
