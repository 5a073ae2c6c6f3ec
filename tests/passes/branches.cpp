// branches: independent nodes of a capturable partition as parallel branches, and what the
// memory plan and in-place hand-overs then respect (happens-before, not the schedule's order).
// Each plan is checked at compile time (static_assert), again at run time (CHECK), and proved by
// check_plan.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include "../models.hpp"

namespace branches_test {
using namespace ctg;

using model = test_models::branches<1024, 1024>;
using m1 = model::m1;
using m2 = model::m2;
using m3 = model::m3;
using m4 = model::m4;
using sum = model::sum;

// Four independent products feeding one sum (the benchmark's branches4).
constexpr auto four = make_plan<graph<sum>>();
constexpr auto four_serial = make_plan<graph<sum>, plan_options{.branches = 1}>();
constexpr auto four_two = make_plan<graph<sum>, plan_options{.branches = 2}>();

TEST_CASE("branches: independent products run as parallel branches, joined where they are read") {
  static_assert(four.branch_count() == 4 && four.partition(0).branches == 4);
  static_assert(four.branch_of<m1>() == 0 && four.branch_of<m2>() == 1 && four.branch_of<m3>() == 2 && four.branch_of<m4>() == 3);
  static_assert(four.branch_of<sum>() == 0);  // continues the branch of m1, whose last node it reads
  static_assert(four_serial.branch_count() == 1 && four_serial.branch_of<m4>() == 0);
  // Two branches: the third product waits for the branch whose last node is oldest (m2's), the
  // fourth for the other (the first sum's).
  static_assert(four_two.branch_count() == 2 && four_two.branch_of<m3>() == 1 && four_two.branch_of<m4>() == 0);
  // The four products are alive together either way: the same memory.
  static_assert(four.arena_bytes(memory_class::device) == four_serial.arena_bytes(memory_class::device));
  static_assert(!check_plan(four) && !check_plan(four_serial) && !check_plan(four_two));
  CHECK(four.branch_count() == 4);
  CHECK(!check_plan(four));
  const std::string dump = to_string(four);
  CHECK(dump.find("4 parallel branches") != std::string::npos);
  CHECK(dump.find("branch 3") != std::string::npos);
  CHECK(to_string(four_serial).find("branch") == std::string::npos);
  const std::string dot = to_dot(four);
  CHECK(dot.find("4 parallel branches") != std::string::npos);
  CHECK(dot.find("branch 3") != std::string::npos);
}

// Two chains: in schedule order m3 could take m1's memory (m1 is read for the last time before
// m3 is written), but m3 runs on another branch, maybe while m1 is still being read.
using a2 = model::a2;
using c2 = model::c2;
using joined = model::joined;
constexpr auto chains = make_plan<graph<joined>>();
constexpr auto chains_serial = make_plan<graph<joined>, plan_options{.branches = 1}>();

TEST_CASE("branches: memory is reused only after every access happens before the next write") {
  static_assert(chains.branch_of<m1>() == 0 && chains.branch_of<a2>() == 0);
  static_assert(chains.branch_of<m3>() == 1 && chains.branch_of<c2>() == 1 && chains.branch_of<joined>() == 0);
  static_assert(chains.step_of<m3>() > chains.buffer_of<m1>().lifetime.last);  // dead in schedule order,
  static_assert(chains.buffer_of<m1>().busy_until >= chains.step_of<c2>());    // but busy while branch 1 runs
  static_assert(chains_serial.buffer_of<m1>().busy_until == chains_serial.buffer_of<m1>().lifetime.last);
  static_assert(chains_serial.offset_of<m3>() == chains_serial.offset_of<m1>());  // reused in order
  static_assert(chains.offset_of<m3>() != chains.offset_of<m1>());                // not across branches
  static_assert(chains.arena_bytes(memory_class::device) > chains_serial.arena_bytes(memory_class::device));
  static_assert(chains.arena_bytes(memory_class::device) == chains.lower_bound(memory_class::device));
  static_assert(!check_plan(chains) && !check_plan(chains_serial));
  CHECK(chains.buffer_of<m1>().busy_until >= chains.step_of<c2>());
  CHECK(!check_plan(chains));
  CHECK(to_string(chains).find("busy to") != std::string::npos);
}

// Two readers of one product: in schedule order the later one may take its storage in place, but
// not while the earlier one runs on another branch.
using f = input<"f", f32, shape<4096>>;
struct p0 : node<"p0", ops::scale<2>, f> {};
struct r1 : node<"r1", ops::relu, p0> {};
struct r2 : node<"r2", ops::gelu, p0> {};
struct both : node<"both", ops::add, r1, r2> {};
constexpr auto readers = make_plan<graph<both>, plan_options{.fuse = false}>();
constexpr auto readers_serial = make_plan<graph<both>, plan_options{.fuse = false, .branches = 1}>();

TEST_CASE("branches: no in-place hand-over while another branch may still read the input") {
  static_assert(readers.branch_of<r1>() != readers.branch_of<r2>());
  static_assert(readers_serial.buffer_of<r2>().shares == readers_serial.index_of<p0>());
  static_assert(readers.buffer_of<r2>().shares == no_index);
  static_assert(!check_plan(readers) && !check_plan(readers_serial));
  CHECK(readers.buffer_of<r2>().shares == no_index);
}

// A collective joins every branch: it waits for both, and both wait for it.
using y = input<"y", f32, shape<4096>>;
struct q1 : node<"q1", ops::relu, y> {};
struct q2 : node<"q2", ops::gelu, y> {};
struct reduced : node<"reduced", ops::all_reduce, q1> {};
struct after : node<"after", ops::add, q2, reduced> {};
constexpr auto collective = make_plan<graph<after>, plan_options{.fuse = false}>();

TEST_CASE("branches: a collective joins the branches") {
  static_assert(collective.branch_count() == 2 && collective.branch_of<q1>() != collective.branch_of<q2>());
  static_assert(collective.branch_of<reduced>() == 0 && collective.step_of<reduced>() > collective.step_of<q2>());
  static_assert(!check_plan(collective));
  CHECK(!check_plan(collective));
}

TEST_CASE("branches: the same passes at run time, from graph_builder") {
  graph_builder<16> b;
  const tensor_desc t = describe_tensor<f32>(shape<1024>{});
  const int in = b.input("in", t);
  const int u = b.add("u", "relu", op_traits{.in_place = true}, {in}, t);
  const int v = b.add("v", "relu", op_traits{.in_place = true}, {in}, t);
  const int s = b.add("s", "add", op_traits{.in_place = true}, {u, v}, t);
  b.output(s);
  const auto p = b.build();
  REQUIRE(p.ok());
  CHECK(p.branch_count() == 2);
  CHECK(p.graph.branch[u] != p.graph.branch[v]);
  CHECK(!check_plan(p));
  b.limit_branches(1);
  const auto serial = b.build();
  CHECK(serial.branch_count() == 1);
  CHECK(serial.graph.branch[v] == 0);
  CHECK(!check_plan(serial));
}

}  // namespace branches_test
