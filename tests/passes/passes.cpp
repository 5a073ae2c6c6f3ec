// Each pass on small graphs whose answer is known, at compile time (static_assert) and the same
// expression checked at run time (CHECK).
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include "../models.hpp"

namespace passes_test {
using namespace ctg;

using x = input<"x", f32, shape<256, 256>>;
using w = parameter<"w", f32, shape<256, 256>>;

// Skip edge through a ref: "c" reads "a" by name.
struct a : node<"a", ops::matmul, x, w> {};
struct b : node<"b", ops::relu, a> {};
struct c : node<"c", ops::add, b, ref<"a">> {};
constexpr auto skip = make_plan<graph<c>>();

TEST_CASE("flatten: post order, each tensor once, refs resolved") {
  static_assert(skip.tensor_count() == 5);
  static_assert(skip.node(skip.index_of<c>()).inputs[1] == skip.index_of<a>());
  CHECK(skip.tensor_count() == 5);
  CHECK(skip.index_of("nope") == -1);
}

TEST_CASE("schedule: topological and deterministic") {
  static_assert(skip.step_of<a>() == 0 && skip.step_of<b>() == 1 && skip.step_of<c>() == 2);
  static_assert(skip.graph.step[skip.index_of<x>()] == -1);
  CHECK(skip.step_count() == 3);
}

// A forward ref: "first" is reached only through "second"'s ref, so post order alone is wrong.
struct p0 : node<"p0", ops::relu, x> {};
struct p1 : node<"p1", ops::add, ref<"p2">, p0> {};
struct p2 : node<"p2", ops::gelu, p0> {};
constexpr auto fwd = make_plan<graph<p1, p2>>();
TEST_CASE("schedule: orders nodes reached by ref") {
  static_assert(fwd.ok());
  static_assert(fwd.step_of<p2>() < fwd.step_of<p1>());
  CHECK(!check_plan(fwd));
}

// Partition: device, device, host, host, device -> capturable, fallback, capturable.
using test_models::no_op_host;
struct d0 : node<"d0", ops::matmul, x, w> {};
struct d1 : node<"d1", ops::to_host, d0> {};
struct d2 : node<"d2", ops::host_op<no_op_host>, d1> {};
struct d3 : node<"d3", ops::host_op<no_op_host>, d2> {};
struct d4 : node<"d4", ops::to_device, d3> {};
struct d5 : node<"d5", ops::matmul, d4, w> {};
constexpr auto trip = make_plan<graph<d5>>();
TEST_CASE("partition: maximal runs of capturable and fallback nodes") {
  static_assert(trip.partition_count() == 3);
  static_assert(trip.partition(0).kind == partition_kind::capturable && trip.partition(0).node_count() == 2);
  static_assert(trip.partition(1).kind == partition_kind::fallback && trip.partition(1).node_count() == 2);
  static_assert(trip.partition_of<d5>() == 2);
  static_assert(trip.partition_count(partition_kind::fallback) == 1);
  CHECK(trip.partition_count() == 3);
  CHECK(!check_plan(trip));
}

TEST_CASE("lifetimes: memory classes, reads, outputs, views, in place") {
  static_assert(trip.memory_of<d1>() == memory_class::pinned_host);
  static_assert(trip.memory_of<d2>() == memory_class::pinned_host);
  static_assert(trip.memory_of<d4>() == memory_class::device);
  static_assert(trip.memory_of<x>() == memory_class::external);
  static_assert(trip.buffer_of<d0>().lifetime == lifetime{0, 1});
  static_assert(trip.buffer_of<d5>().lifetime == lifetime{5, 5});
  // b = relu(a) takes a's storage: a's last read is b.
  static_assert(skip.buffer_of<b>().shares == -1);  // a is read later by c
  CHECK(skip.buffer_of<a>().lifetime == lifetime{0, 2});
  CHECK(trip.buffer_of<d0>().lifetime == lifetime{0, 1});
}

struct v0 : node<"v0", ops::relu, x> {};
struct v1 : node<"v1", ops::reshape<shape<65536>>, v0> {};
struct v2 : node<"v2", ops::gelu, v1> {};
struct v3 : node<"v3", ops::reshape<shape<256, 256>>, v2> {};
struct v4 : node<"v4", ops::matmul, v3, w> {};
constexpr auto views = make_plan<graph<v4>>();
TEST_CASE("lifetimes: a view shares its source's buffer and extends its lifetime") {
  static_assert(views.buffer_of<v1>().node == views.index_of<v0>());
  static_assert(views.buffer_of<v0>().lifetime == lifetime{0, 2});
  static_assert(views.buffer_of<v3>().node == views.index_of<v2>());
  static_assert(views.buffer_count() == 3);
  CHECK(views.buffer_of<v2>().lifetime == lifetime{2, 4});
  CHECK(!check_plan(views));
}

struct i0 : node<"i0", ops::matmul, x, w> {};
struct i1 : node<"i1", in_place<ops::relu>, i0> {};
struct i2 : node<"i2", ops::gelu, i1> {};
constexpr auto inpl = make_plan<graph<i2>>();
TEST_CASE("lifetimes: in-place outputs take over their input's storage") {
  static_assert(inpl.buffer_of<i1>().shares == inpl.index_of<i0>());
  static_assert(inpl.offset_of<i1>() == inpl.offset_of<i0>());
  static_assert(inpl.buffer_of<i2>().shares == inpl.index_of<i1>());  // automatic where allowed
  static_assert(inpl.arena_bytes(memory_class::device) == 256 * 256 * 4);
  CHECK(inpl.reuse_count() == 2);
  CHECK(!check_plan(inpl));
}

TEST_CASE("offsets and lower bound on plain intervals") {
  // Three buffers; the first and third never meet, so they share memory.
  constexpr auto plan3 = [] {
    interval xs[] = {{0, 1, 512, 0}, {1, 2, 256, 0}, {2, 3, 512, 0}};
    std::size_t arena = assign_offsets(xs);
    return std::pair{arena, lower_bound(xs)};
  }();
  static_assert(plan3.first == 768 && plan3.second == 768);
  CHECK(plan3.first == plan3.second);
  interval none[1]{};
  CHECK(assign_offsets(std::span<interval>(none, 0)) == 0);
}

TEST_CASE("offsets: a chain of 1000 steps reaches the lower bound") {
  std::vector<interval> xs;
  for (int i = 0; i < 1000; ++i) xs.push_back({i, i + 1, std::size_t(256 * (1 + i % 7)), 0});
  std::size_t arena = assign_offsets(xs);
  CHECK(arena == lower_bound(xs));
  for (std::size_t i = 0; i < xs.size(); ++i)
    for (std::size_t j = i + 1; j < xs.size() && xs[j].first <= xs[i].last; ++j)
      CHECK((xs[i].offset + xs[i].bytes <= xs[j].offset || xs[j].offset + xs[j].bytes <= xs[i].offset));
}
}  // namespace passes_test
