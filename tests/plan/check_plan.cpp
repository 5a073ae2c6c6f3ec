// Property test: 10,000 random graphs (random DAGs, sizes, capturable, in-place, view, opaque,
// collective and memory-class flags) through every pass, each plan proven by check_plan; and
// check_plan itself must catch broken plans.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <random>
#include <string>

namespace check_plan_test {
using namespace ctg;

struct no_op_host {
  void operator()(const host_args&) const {}
};

constexpr std::size_t cap = 48;

struct random_graph {
  graph_builder<cap> builder;
  int tensors = 0;
};

void make_random(std::mt19937& rng, random_graph& r) {
  auto coin = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; };
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  auto bytes = [&] { return tensor_desc{dtype_id::f32, 1, {std::int64_t(pick(1, 1 << pick(2, 16)))}}; };
  std::vector<tensor_desc> out;
  std::vector<bool> opaque;  // a view of an opaque output is rejected: avoid it
  // Leave room for the copies placement inserts (at most one per tensor).
  const int leaves = pick(1, 3), nodes = pick(1, (int(cap) - leaves) / 2);
  for (int i = 0; i < leaves; ++i) {
    tensor_desc t = bytes();
    (coin(0.5) ? r.builder.input(std::string("in").append(std::to_string(i)), t) : r.builder.parameter(std::string("p").append(std::to_string(i)), t));
    out.push_back(t);
    opaque.push_back(false);
  }
  for (int i = 0; i < nodes; ++i) {
    const int have = int(out.size());
    int ins[max_inputs]{};
    const int count = pick(1, 3);
    for (int k = 0; k < count; ++k) ins[k] = coin(0.7) ? pick(std::max(0, have - 4), have - 1) : pick(0, have - 1);
    op_traits t{};
    t.capturable = coin(0.75);
    t.in_place = coin(0.5);
    t.result = coin(0.1) ? op_result::opaque : op_result::out_variant;
    t.output_memory = coin(0.8) ? memory_class::device : memory_class::pinned_host;
    t.view = !opaque[std::size_t(ins[0])] && coin(0.1);
    t.symmetric_inputs = !t.view && coin(0.1);  // a collective
    tensor_desc o = (t.view || coin(0.5)) ? out[std::size_t(ins[0])] : bytes();
    r.builder.add(std::string("n").append(std::to_string(i)), "random", t, ins, count, o);  // (not "n" + s: g++ 12 -Wrestrict false positive)
    out.push_back(o);
    opaque.push_back(t.result == op_result::opaque);
    if (coin(0.1)) r.builder.output(have);
  }
  r.builder.output(int(out.size()) - 1);
  r.tensors = int(out.size());
}

TEST_CASE("check_plan: 10,000 random graphs plan soundly") {
  std::mt19937 rng(20261125);
  int planned = 0, at_bound = 0, copies = 0, hoisted = 0;
  double worst = 1;
  for (int i = 0; i < 10000; ++i) {
    random_graph r;
    make_random(rng, r);
    plan<cap> p = r.builder.build();
    if (!p.ok()) FAIL("graph " << i << " rejected: " << to_string(p));
    plan_violation v = check_plan(p);
    if (v) FAIL_CHECK("graph " << i << ": " << v.what << " (node " << v.node << ", other " << v.other << ")");
    copies += p.copy_count();
    for (int v = 0; v < p.node_count(); ++v) hoisted += p.graph.buffers[v].hoisted;
    for (int c = 0; c < 3; ++c) {
      std::size_t a = p.arena_bytes(memory_class(c)), lb = p.lower_bound(memory_class(c));
      if (lb == 0) continue;
      ++planned;
      at_bound += a == lb;
      worst = std::max(worst, double(a) / double(lb));
    }
  }
  MESSAGE("arenas at the lower bound: " << at_bound << " of " << planned << ", worst ratio " << worst
                                         << "; inserted copies " << copies << ", hoisted buffers " << hoisted);
  CHECK(planned > 10000);
  CHECK(copies > 1000);
  CHECK(hoisted > 1000);
}

TEST_CASE("check_plan: catches broken plans") {
  graph_builder<8> b;
  tensor_desc v{dtype_id::f32, 1, {1024}};
  int x = b.input("x", v);
  int m = b.add<ops::relu>("m", {x});
  int n = b.add<ops::to_host>("n", {m});
  int o = b.add<ops::add>("o", {m, m});
  int q = b.add<ops::to_device>("q", {n});
  int s = b.add<ops::add>("s", {o, q});
  b.output(s);
  const plan<8> good = b.build();
  REQUIRE(good.ok());
  CHECK(!check_plan(good));

  plan<8> p = good;
  p.graph.buffers[q].offset = p.graph.buffers[o].offset;  // q is alive with o: overlap
  CHECK(std::string(check_plan(p).what) == "two buffers alive at one step overlap in memory");

  p = good;
  p.graph.arena_bytes[int(memory_class::device)] = 256;
  CHECK(check_plan(p));

  p = good;
  p.graph.buffers[m].offset += 4;
  CHECK(check_plan(p));

  p = good;
  std::swap(p.graph.schedule[0], p.graph.schedule[1]);
  std::swap(p.graph.step[m], p.graph.step[n]);
  CHECK(std::string(check_plan(p).what) == "the schedule is not topological");

  p = good;
  p.graph.partition_of[m] = 1;
  CHECK(check_plan(p));

  p = good;
  p.graph.buffers[m].lifetime.last = p.graph.step[m];
  CHECK(check_plan(p));

  p = good;
  p.graph.lower_bound[int(memory_class::device)] += 256;
  CHECK(check_plan(p));

  // A collective reading device memory, a fallback buffer not hoisted.
  graph_builder<8> c;
  int cx = c.input("x", v);
  int cr = c.add<ops::relu>("r", {cx});
  int ca = c.add<ops::all_reduce>("a", {cr});
  int ch = c.add<ops::to_host>("h", {ca});
  int cf = c.add<ops::host_op<no_op_host>>("f", {ch});
  c.output(cf);
  plan<8> pc = c.build();
  REQUIRE(pc.ok());
  CHECK(!check_plan(pc));
  pc.graph.buffers[cr].memory = memory_class::device;
  CHECK(std::string(check_plan(pc).what) == "a collective reads memory that is not symmetric");
  pc = c.build();
  pc.graph.buffers[cf].hoisted = false;
  CHECK(std::string(check_plan(pc).what) == "a buffer written in a fallback region is not hoisted to the partition before it");
}
}  // namespace check_plan_test
