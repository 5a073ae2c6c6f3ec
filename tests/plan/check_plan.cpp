// check_plan as an independent proof:
//  - 10,000 random graphs (real ops with their output rules on multi-dimensional tensors of
//    every dtype, matmuls, reshape views, in place requested, collectives, host round trips,
//    fallback regions, opaque ops, writes into state at a position held in state, and nodes with
//    random traits) plan soundly. The seed is printed (CTG_SEED=<seed> replays a run); failing
//    seeds go into `regressions`.
//  - the mutation test: every test and example plan and random plans, corrupted in 26 ways,
//    each rejected with its own reason. Prints "mutation score: R/T".
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include <cstdlib>
#include <deque>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "../models.hpp"

namespace check_plan_test {
using namespace ctg;
using test_models::no_op_host;

constexpr std::size_t cap = 96;

//! Seeds of graphs that once failed; they run first, every time (none yet).
const std::vector<std::uint32_t> regressions = {};

struct random_graph {
  graph_builder<cap> b;
  std::vector<tensor_desc> out;   // per tensor, as the op rules give it
  std::vector<int> readers;       // per tensor: nodes so far that read it
  std::vector<bool> movable;      // a planned out-variant device buffer of its own (not a view)
  std::vector<bool> opaque;       // its storage is an opaque op's
  std::vector<bool> consumed;     // taken over in place: nothing may read it later
  std::vector<bool> is_node;
  int ops[10]{};                  // nodes per kind, for the summary
  int pos = -1;                   // the position state the graph's writes share, once one writes
  std::vector<int> writes;        // the writes into state, which the final advance waits for
};

struct gen {
  std::mt19937 rng;
  bool coin(double p) { return std::uniform_real_distribution<double>(0, 1)(rng) < p; }
  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); }

  tensor_desc tensor(dtype_id t) {
    tensor_desc d{t, pick(1, 3), {}};
    for (int i = 0; i < d.rank; ++i) d.dims[i] = coin(0.2) ? pick(1, 4096) : std::int64_t(1) << pick(0, 6);
    return d;
  }
  dtype_id any_dtype() { return dtype_id(pick(0, dtype_count - 1)); }
  static bool floating(dtype_id t) { return t == dtype_id::f32 || t == dtype_id::f16 || t == dtype_id::bf16; }

  //! A graph input or parameter; or a state, which only the ops that write it read.
  int leaf(random_graph& r, tensor_desc t, bool state = false) {
    const std::string name = "l" + std::to_string(r.out.size());
    const int id = state ? r.b.state(name, t) : coin(0.5) ? r.b.input(name, t) : r.b.parameter(name, t);
    note(r, id, t, false, false);
    r.is_node.back() = false;
    r.consumed.back() = state;
    return id;
  }
  int note(random_graph& r, int id, tensor_desc t, bool movable, bool opaque) {
    r.out.push_back(t);
    r.readers.push_back(0);
    r.movable.push_back(movable);
    r.opaque.push_back(opaque);
    r.consumed.push_back(false);
    r.is_node.push_back(true);
    return id;
  }
  //! A tensor a new node may read (recent ones more often).
  int any(random_graph& r) {
    for (;;) {
      const int have = int(r.out.size());
      const int t = coin(0.7) ? pick(std::max(0, have - 4), have - 1) : pick(0, have - 1);
      if (!r.consumed[std::size_t(t)]) return t;
    }
  }
  std::string next_name(const random_graph& r) { return "n" + std::to_string(r.out.size()); }
  template <class Op>
  int node(random_graph& r, int kind, std::initializer_list<int> in, tensor_desc out, bool movable, bool in_place = false) {
    const int id = r.b.template add<Op>(next_name(r), in, in_place);
    for (int i : in) ++r.readers[std::size_t(i)];
    ++r.ops[kind];
    return note(r, id, out, movable, false);
  }

  void make(random_graph& r) {
    const int leaves = pick(1, 3), nodes = pick(1, 36);
    for (int i = 0; i < leaves; ++i) leaf(r, tensor(any_dtype()));
    for (int i = 0; i < nodes && int(r.out.size()) < int(cap) / 2 - 4; ++i) {
      const int t = any(r);
      const tensor_desc d = r.out[std::size_t(t)];
      switch (pick(0, 10)) {
        case 0: {  // unary elementwise, in place requested where it is legal
          const bool in_place = r.movable[std::size_t(t)] && r.readers[std::size_t(t)] == 0 && coin(0.5);
          const int k = pick(0, 2);
          if (k == 0) node<ops::relu>(r, 0, {t}, d, true, in_place);
          else if (k == 1) node<ops::gelu>(r, 0, {t}, d, true, in_place);
          else node<ops::scale<1, 8>>(r, 0, {t}, d, true, in_place);
          if (in_place) r.consumed[std::size_t(t)] = true;
          break;
        }
        case 1: {  // binary elementwise on two tensors of one description, or input 1 broadcast
          int u = t;
          for (int j = int(r.out.size()) - 1; j >= 0; --j)
            if (!r.consumed[std::size_t(j)] && r.out[std::size_t(j)] == d && j != t && coin(0.5)) { u = j; break; }
          if (u == t && d.rank > 1 && coin(0.3)) {  // a new leaf of d's trailing extents, e.g. a bias
            tensor_desc s{d.dtype, d.rank - 1, {}};
            for (int i = 1; i < d.rank; ++i) s.dims[i - 1] = d.dims[i];
            u = leaf(r, s);
          }
          if (coin(0.5)) node<ops::add>(r, 1, {t, u}, d, true);
          else node<ops::mul>(r, 1, {t, u}, d, true);
          break;
        }
        case 2: {  // matmul against a new parameter
          tensor_desc a = d;
          int ta = t;
          if (a.rank != 2) {
            a = tensor_desc{d.dtype, 2, {std::int64_t(1) << pick(0, 5), std::int64_t(1) << pick(0, 8)}};
            ta = leaf(r, a);
          }
          const tensor_desc w{a.dtype, 2, {a.dims[1], std::int64_t(1) << pick(0, 8)}};
          const int tw = leaf(r, w);
          node<ops::matmul>(r, 2, {ta, tw}, tensor_desc{a.dtype, 2, {a.dims[0], w.dims[1]}}, true);
          break;
        }
        case 3: {  // a view: reshape to one or two dimensions
          if (r.opaque[std::size_t(t)]) break;
          const std::int64_t e = d.elements();
          tensor_desc v{d.dtype, 1, {e}};
          if (e % 2 == 0 && coin(0.5)) v = tensor_desc{d.dtype, 2, {2, e / 2}};
          const int id = r.b.add(next_name(r), "reshape", ops::reshape<shape<1>>::traits, {t}, v);
          ++r.readers[std::size_t(t)];
          ++r.ops[3];
          note(r, id, v, false, false);
          break;
        }
        case 4: {  // collectives on floating tensors
          if (!floating(d.dtype)) break;
          const int k = pick(0, 2);
          if (k == 0) node<ops::all_reduce>(r, 4, {t}, d, true);
          else if (k == 1 && d.dims[0] % 2 == 0) {
            tensor_desc o = d;
            o.dims[0] /= 2;
            node<ops::reduce_scatter<2>>(r, 4, {t}, o, true);
          } else {
            tensor_desc o = d;
            o.dims[0] *= 2;
            node<ops::all_gather<2>>(r, 4, {t}, o, true);
          }
          break;
        }
        case 5: {  // a host round trip: fallback region
          const int h = node<ops::to_host>(r, 5, {t}, d, false);
          const int f = node<ops::host_op<no_op_host>>(r, 5, {h}, d, false);
          if (coin(0.7)) node<ops::to_device>(r, 5, {f}, d, true);
          break;
        }
        case 6: {  // an opaque op (allocates its own output)
          const tensor_desc o = tensor(d.dtype);
          const int id = r.b.add(next_name(r), "opaque", op_traits{.result = op_result::opaque}, {t}, o);
          ++r.readers[std::size_t(t)];
          ++r.ops[6];
          note(r, id, o, false, true);
          break;
        }
        case 7: {  // a device op that cannot be captured
          const tensor_desc o = tensor(d.dtype);
          const int id = r.b.add(next_name(r), "uncapturable", op_traits{.capturable = false}, {t}, o);
          ++r.readers[std::size_t(t)];
          ++r.ops[7];
          note(r, id, o, true, false);
          break;
        }
        case 9: {  // a write of d's rows into a new state, at a position held in state
          if (r.writes.size() == 3) break;
          tensor_desc st = d;
          st.dims[0] += pick(0, 8);
          const int cache = leaf(r, st, true);
          if (r.pos < 0) r.pos = leaf(r, tensor_desc{coin(0.5) ? dtype_id::i32 : dtype_id::i64, 1, {1}}, true);
          r.writes.push_back(node<ops::cache_write<0>>(r, 9, {cache, r.pos, t}, st, false));
          break;
        }
        default: {  // random traits (the planner's corners)
          op_traits tr{};
          tr.capturable = coin(0.75);
          tr.in_place = coin(0.5);
          tr.result = coin(0.1) ? op_result::opaque : op_result::out_variant;
          tr.output_memory = coin(0.8) ? memory_class::device : memory_class::pinned_host;
          tr.view = !r.opaque[std::size_t(t)] && coin(0.1);
          tr.symmetric_inputs = tr.reads_peers = !tr.view && floating(d.dtype) && coin(0.1);
          int ins[max_inputs]{t};
          const int count = tr.symmetric_inputs ? 1 : pick(1, 3);
          for (int k = 1; k < count; ++k) ins[k] = any(r);
          const tensor_desc o = (tr.view || coin(0.5)) ? d : tensor(any_dtype());
          const int id = r.b.add(next_name(r), "random", tr, ins, count, o);
          for (int k = 0; k < count; ++k) ++r.readers[std::size_t(ins[k])];
          ++r.ops[8];
          note(r, id, o, false, tr.result == op_result::opaque);
          break;
        }
      }
    }
    // Writes into state: the position moves once they have all read it.
    if (r.pos >= 0 && coin(0.8)) {
      int ins[max_inputs]{r.pos};
      for (std::size_t k = 0; k < r.writes.size(); ++k) ins[k + 1] = r.writes[k], ++r.readers[std::size_t(r.writes[k])];
      const int id = r.b.add<ops::advance<1>>(next_name(r), ins, int(r.writes.size()) + 1);
      ++r.ops[9];
      note(r, id, r.out[std::size_t(r.pos)], false, false);
    }
    // Outputs: the last tensor (if it is a node) and a few others.
    bool any_output = false;
    for (int i = 0; i < int(r.out.size()); ++i) {
      if (r.is_node[std::size_t(i)] && !r.consumed[std::size_t(i)] && (i + 1 == int(r.out.size()) || coin(0.1))) r.b.output(i), any_output = true;
    }
    if (!any_output) {  // a graph of leaves only gets one node
      const int id = r.b.add(next_name(r), "random", op_traits{}, {0}, r.out[0]);
      r.b.output(id);
      note(r, id, r.out[0], false, false);
    }
  }
};

std::uint32_t base_seed() {
  if (const char* s = std::getenv("CTG_SEED")) return std::uint32_t(std::strtoul(s, nullptr, 10));
  return std::random_device{}();
}

//! Every other seed plans fused groups too.
owned_plan<cap> random_plan(std::uint32_t seed, random_graph& r) {
  gen g{std::mt19937(seed)};
  g.make(r);
  if (seed % 2) r.b.fuse_elementwise();
  return r.b.build();
}

TEST_CASE("check_plan: 10,000 random graphs plan soundly") {
  const std::uint32_t base = base_seed();
  MESSAGE("random graphs from seed " << base << " (CTG_SEED=" << base << " replays them)");
  int planned = 0, at_bound = 0, copies = 0, hoisted = 0, shared = 0, nodes = 0, fused = 0, branched = 0;
  int ops[10]{};
  double worst = 1;
  std::vector<std::uint32_t> seeds = regressions;
  for (std::uint32_t i = 0; i < 10000; ++i) seeds.push_back(base + i);
  for (const std::uint32_t seed : seeds) {
    random_graph r;
    const owned_plan<cap> p = random_plan(seed, r);
    if (!p.ok()) FAIL("seed " << seed << ": rejected: " << to_string(p));
    const plan_violation v = check_plan(p);
    if (v) FAIL("seed " << seed << ": " << v.what() << " (node " << v.node << ", other " << v.other << ")\n" << to_string(p));
    copies += p.copy_count();
    nodes += p.step_count();
    fused += p.fused_node_count();
    for (int k = 0; k < 10; ++k) ops[k] += r.ops[k];
    for (int t = 0; t < p.tensor_count(); ++t)
      hoisted += p.graph.buffers[t].hoisted, shared += p.graph.buffers[t].shares >= 0, branched += p.graph.branch[t] > 0;
    for (int c = 0; c < 3; ++c) {
      const std::size_t a = p.arena_bytes(memory_class(c)), lb = p.lower_bound(memory_class(c));
      if (lb == 0) continue;
      ++planned;
      at_bound += a == lb;
      worst = std::max(worst, double(a) / double(lb));
    }
  }
  MESSAGE(nodes << " nodes (elementwise " << ops[0] + ops[1] << ", matmul " << ops[2] << ", views " << ops[3]
                << ", collectives " << ops[4] << ", host round trips " << ops[5] << ", opaque " << ops[6]
                << ", uncapturable " << ops[7] << ", random traits " << ops[8] << ", state writes " << ops[9]
                << "); arenas at the lower bound: "
                << at_bound << " of " << planned << ", worst " << worst << "; inserted copies " << copies
                << ", hoisted " << hoisted << ", in place " << shared << ", fused into groups " << fused
                << ", on parallel branches " << branched);
  CHECK(planned > 10000);
  CHECK(copies > 1000);
  CHECK(hoisted > 1000);
  CHECK(shared > 1000);
  CHECK(fused > 100);
  CHECK(branched > 1000);
  for (int k = 0; k < 10; ++k) CHECK(ops[k] > 500);
}

// ---------------------------------------------------------------------------------------------
// The mutation test.

//! A plan the mutations may corrupt: its own graph and memory layout, seen as a plan.
struct mutable_plan {
  flat_graph<cap> graph{};
  memory_layout<cap> memory{};
  operator plan<cap>() const { return {graph, memory}; }
};
plan_violation check(const mutable_plan& p) { return check_plan(plan<cap>(p)); }

//! One corruption: applies itself to a plan where it can, and names the reason it must get.
struct mutation {
  const char* name;
  plan_fault expect;
  // Returns false where the plan has no place for it.
  std::function<bool(mutable_plan&, std::mt19937&)> apply;
};

bool is_state(const plan<cap>& p, int v) { return detail::state_of(p.graph.nodes, v) >= 0; }
bool planned(const plan<cap>& p, int v) {
  const auto& g = p.graph;
  return g.nodes[v].kind == tensor_kind::node && g.owner[v] == v && !g.buffers[v].opaque && !detail::is_fused_member(g, v) &&
         g.buffers[v].memory != memory_class::external;
}
int storage(const plan<cap>& p, int v) { return p.graph.owner[v]; }
bool reads_storage_of_class(const plan<cap>& p, int y, memory_class m) {
  bool found = false;  // what y reads when it runs (a fused root: its group's leaves)
  detail::for_each_read(p.graph, y, [&](int u) {
    found = found || (planned(p, storage(p, u)) && p.graph.buffers[storage(p, u)].memory == m);
  });
  return found;
}
//! Calls f on candidates in a random order until one applies.
template <class F>
bool first_of(const plan<cap>& p, std::mt19937& rng, F f) {
  std::vector<int> order(std::size_t(p.graph.tensor_count));
  for (int i = 0; i < p.graph.tensor_count; ++i) order[std::size_t(i)] = i;
  std::shuffle(order.begin(), order.end(), rng);
  for (int v : order)
    if (f(v)) return true;
  return false;
}
bool read_by(const plan<cap>& p, int storage_of, bool (*pred)(const node_desc&)) {
  for (int v = 0; v < p.graph.tensor_count; ++v) {
    const node_desc& d = p.graph.nodes[v];
    for (int k = 0; k < d.input_count; ++k)
      if (storage(p, d.inputs[k]) == storage_of && pred(d)) return true;
  }
  return false;
}

//! Moves a node's output onto its first input's storage: for an op that allows in place, only
//! where that input is read later (in place too early); otherwise for an op that does not.
bool onto_input(mutable_plan& p, std::mt19937& rng, bool in_place_op) {
  auto& g = p.graph;
  return first_of(p, rng, [&](int y) {
    const node_desc& d = g.nodes[y];
    if (!planned(p, y) || d.input_count == 0 || d.op->traits.in_place != in_place_op || d.op->traits.reads_peers) return false;
    const int x = storage(p, d.inputs[0]);
    if (!planned(p, x) || g.buffers[x].memory != g.buffers[y].memory) return false;
    if (in_place_op && g.buffers[x].lifetime.last <= g.step[y]) return false;
    if (p.memory.offset[x] + d.out.bytes() > p.memory.arena_bytes[int(g.buffers[x].memory)]) return false;
    p.memory.offset[y] = p.memory.offset[x];
    return true;
  });
}

const std::vector<mutation>& mutations() {
  static const std::vector<mutation> all = {
    {"shrink a buffer", plan_fault::buffer_too_small, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         if (!planned(p, v) || p.graph.buffers[v].bytes < 2) return false;
         p.graph.buffers[v].bytes -= 1;
         return true;
       });
     }},
    {"overlap two live buffers", plan_fault::overlap, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int y) {
         if (!planned(p, y) || reads_storage_of_class(p, y, g.buffers[y].memory)) return false;
         for (int x = 0; x < g.tensor_count; ++x) {
           if (x == y || !planned(p, x) || g.buffers[x].memory != g.buffers[y].memory) continue;
           const auto &bx = g.buffers[x], &by = g.buffers[y];
           if (!(bx.lifetime.first < by.lifetime.first && by.lifetime.first <= bx.lifetime.last)) continue;
           if (p.memory.offset[x] + g.nodes[y].out.bytes() > p.memory.arena_bytes[int(bx.memory)]) continue;
           p.memory.offset[y] = p.memory.offset[x];
           return true;
         }
         return false;
       });
     }},
    {"re-home a view", plan_fault::view_rehomed, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (g.owner[v] == v || is_state(p, v)) return false;  // a view (of state: its own mutation)
         for (int o = 0; o < g.tensor_count; ++o)
           if (o != g.owner[v] && planned(p, o)) return g.owner[v] = o, true;
         return false;
       });
     }},
    {"wrong memory class", plan_fault::wrong_memory, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (!planned(p, v) || g.buffers[v].memory != memory_class::device) return false;
         if (read_by(p, v, [](const node_desc& d) { return d.op->traits.where == executes_on::host || d.op->traits.symmetric_inputs; }))
           return false;
         g.buffers[v].memory = memory_class::pinned_host;
         return true;
       });
     }},
    {"a collective input outside the window", plan_fault::collective_not_symmetric, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (!g.nodes[v].op->traits.symmetric_inputs) return false;
         g.buffers[storage(p, g.nodes[v].inputs[0])].memory = memory_class::device;
         return true;
       });
     }},
    {"a host op on device memory", plan_fault::host_reads_device, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (g.nodes[v].op->traits.where != executes_on::host || g.nodes[v].input_count == 0) return false;
         g.buffers[storage(p, g.nodes[v].inputs[0])].memory = memory_class::device;
         return true;
       });
     }},
    {"a schedule that breaks a dependency", plan_fault::not_topological, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         const int s = g.step[v];
         if (s <= 0) return false;
         const int u = g.schedule[s - 1];
         bool depends = false;
         for (int k = 0; k < g.nodes[v].input_count; ++k) depends = depends || g.nodes[v].inputs[k] == u;
         if (!depends) return false;
         std::swap(g.schedule[s - 1], g.schedule[s]);
         std::swap(g.step[u], g.step[v]);
         return true;
       });
     }},
    {"a non-capturable node inside a captured partition", plan_fault::uncapturable_in_graph, [](mutable_plan& p, std::mt19937&) {
       auto& g = p.graph;
       for (int i = 0; i < g.partition_count; ++i)
         if (g.partitions[i].kind == partition_kind::fallback) return g.partitions[i].kind = partition_kind::capturable, true;
       return false;
     }},
    {"an unhoisted fallback buffer", plan_fault::not_hoisted, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (!planned(p, v) || g.partitions[g.partition_of[v]].kind != partition_kind::fallback) return false;
         g.buffers[v].hoisted = false;
         return true;
       });
     }},
    {"in place before the last read", plan_fault::in_place_early,
     [](mutable_plan& p, std::mt19937& rng) { return onto_input(p, rng, true); }},
    {"in place where the op does not allow it", plan_fault::in_place_not_allowed,
     [](mutable_plan& p, std::mt19937& rng) { return onto_input(p, rng, false); }},
    {"a collective writing what peers read", plan_fault::collective_writes_peer_input, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int y) {
         const node_desc& d = g.nodes[y];
         if (!d.op->traits.reads_peers || !planned(p, y) || d.op->traits.output_memory != memory_class::device) return false;
         const int x = storage(p, d.inputs[0]);
         if (!planned(p, x) || p.memory.offset[x] + d.out.bytes() > p.memory.arena_bytes[int(memory_class::symmetric)]) return false;
         g.buffers[y].memory = memory_class::symmetric;
         p.memory.offset[y] = p.memory.offset[x];
         return true;
       });
     }},
    {"an offset past the arena", plan_fault::outside_arena, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         if (!planned(p, v)) return false;
         p.memory.offset[v] = align_up(p.memory.arena_bytes[int(p.graph.buffers[v].memory)]);
         return true;
       });
     }},
    {"a misaligned offset", plan_fault::misaligned, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         if (!planned(p, v)) return false;
         p.memory.offset[v] += 16;
         return true;
       });
     }},
    {"a lifetime that ends early", plan_fault::wrong_lifetime, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         auto& l = p.graph.buffers[v].lifetime;
         if (!planned(p, v) || l.last == l.first) return false;
         --l.last;
         return true;
       });
     }},
    {"a node's output that is not its op's", plan_fault::wrong_output, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         node_desc& d = p.graph.nodes[v];
         if (d.kind != tensor_kind::node || d.op->output == nullptr) return false;
         d.out.dims[0] += 1;
         return true;
       });
     }},
    {"a fused member that is a graph output", plan_fault::fused_read_outside, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         if (p.graph.fused_root[v] < 0 || p.graph.fused_root[v] == v) return false;
         return p.graph.is_output[v] = true, true;
       });
     }},
    {"a node fused that is not elementwise", plan_fault::bad_fusion, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       int root = no_index;
       for (int v = 0; v < g.tensor_count; ++v)
         if (g.fused_root[v] == v) root = v;
       if (root < 0) return false;
       return first_of(p, rng, [&](int v) {
         // Not a product either (one could be read as an epilogue group's first member).
         if (g.nodes[v].kind != tensor_kind::node || g.nodes[v].op->traits.elementwise || g.nodes[v].op->epilogue_output != nullptr ||
             g.step[v] >= g.step[root])
           return false;
         return g.fused_root[v] = root, true;
       });
     }},
    {"a prologue on a node that does not read it", plan_fault::bad_fusion, [](mutable_plan& p, std::mt19937& rng) {
       return first_of(p, rng, [&](int v) {
         auto& g = p.graph;
         if (g.nodes[v].kind != tensor_kind::node || g.prologue[v] != no_index) return false;
         for (int u = 0; u < g.tensor_count; ++u)
           if (g.in_prologues[u]) return g.prologue[v] = u, true;
         return false;
       });
     }},
    {"a branch outside its partition's", plan_fault::bad_branches, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (g.nodes[v].kind != tensor_kind::node) return false;
         return g.branch[v] = g.partitions[g.partition_of[v]].branches, true;
       });
     }},
    {"reuse memory that another branch may still use", plan_fault::overlap, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int y) {
         if (!planned(p, y) || reads_storage_of_class(p, y, g.buffers[y].memory)) return false;
         for (int x = 0; x < g.tensor_count; ++x) {
           const auto &bx = g.buffers[x], &by = g.buffers[y];
           if (x == y || !planned(p, x) || bx.memory != by.memory || p.memory.offset[x] == p.memory.offset[y]) continue;
           if (!(bx.lifetime.last < by.lifetime.first && by.lifetime.first <= bx.busy_until)) continue;  // busy only
           bool taken = false;
           for (int t = 0; t < g.tensor_count; ++t) taken = taken || g.buffers[t].shares == x;
           if (taken || p.memory.offset[x] + g.nodes[y].out.bytes() > p.memory.arena_bytes[int(bx.memory)]) continue;
           p.memory.offset[y] = p.memory.offset[x];
           return true;
         }
         return false;
       });
     }},
    {"hand over in place while another branch may still read", plan_fault::in_place_concurrent, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       if (plan<cap>(p).branch_count() == 1) return false;
       const auto clock = detail::branch_clocks(g);
       return first_of(p, rng, [&](int y) {
         const node_desc& d = g.nodes[y];
         if (!planned(p, y) || !d.op->traits.in_place || d.op->traits.reads_peers || d.op->traits.view || g.buffers[y].shares >= 0) return false;
         const int source = detail::in_place_source(g, y);
         if (source < 0) return false;
         const int x = storage(p, source), s = g.step[y];
         if (!planned(p, x) || g.buffers[x].memory != g.buffers[y].memory || g.buffers[x].lifetime.last != s ||
             align_up(g.buffers[x].bytes) != align_up(g.buffers[y].bytes))
           return false;
         for (int o = 0; o < g.tensor_count; ++o)
           if (g.is_output[o] && storage(p, o) == x) return false;
         bool unordered = false;  // an access of x that y's step does not wait for
         for (int t = 0; t < g.step_count; ++t) {
           const int a = g.schedule[t];
           bool touches = a == x;
           detail::for_each_read(g, a, [&](int u) { touches = touches || storage(p, u) == x; });
           unordered = unordered || (touches && clock[std::size_t(s * max_branches + g.branch[a])] < t);
         }
         if (!unordered) return false;
         return p.memory.offset[y] = p.memory.offset[x], true;
       });
     }},
    {"a state placed in an arena", plan_fault::state_placed, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (g.nodes[v].kind != tensor_kind::state) return false;
         g.buffers[v].memory = memory_class::device;  // at offset 0, over whatever the arena holds there
         return true;
       });
     }},
    {"a write into state given storage of its own", plan_fault::state_placed, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {
         if (!g.nodes[v].op->traits.writes_state || g.nodes[v].kind != tensor_kind::node) return false;
         g.owner[v] = v;
         g.buffers[v] = buffer_desc{v, memory_class::device, g.nodes[v].out.bytes(), {g.step[v], g.step[v]}};
         return true;
       });
     }},
    {"a state handed over in place", plan_fault::state_handed_over, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       int state = no_index;
       for (int v = 0; v < g.tensor_count; ++v)
         if (g.nodes[v].kind == tensor_kind::state) state = v;
       if (state < 0) return false;
       return first_of(p, rng, [&](int y) {
         if (!planned(p, y)) return false;
         g.buffers[y].shares = state;
         return true;
       });
     }},
    {"a state read no longer before the write that replaces it", plan_fault::state_unordered, [](mutable_plan& p, std::mt19937& rng) {
       auto& g = p.graph;
       return first_of(p, rng, [&](int v) {  // an advance that waits for the nodes reading its position
         const node_desc& d = g.nodes[v];
         if (d.op->name != ops::advance<1>::name || d.kind != tensor_kind::node || d.input_count < 2) return false;
         bool read_before = false;
         for (int r = 0; r < g.tensor_count; ++r)
           for (int k = 0; r != v && g.nodes[r].kind == tensor_kind::node && k < g.nodes[r].input_count; ++k)
             read_before = read_before || storage(p, g.nodes[r].inputs[k]) == storage(p, d.inputs[0]);
         if (!read_before) return false;
         g.nodes[v].input_count = 1;  // drops the edges that kept them before it
         return true;
       });
     }},
    {"a sibling product that its lead's chain lists but that names no lead", plan_fault::bad_fusion, [](mutable_plan& p, std::mt19937&) {
       for (int v = 0; v < p.graph.tensor_count; ++v)
         if (p.graph.sibling_lead[v] >= 0) return p.graph.sibling_lead[v] = no_index, true;
       return false;
     }},
    {"a sibling product written at its own step, after its lead wrote it", plan_fault::wrong_lifetime, [](mutable_plan& p, std::mt19937&) {
       for (int v = 0; v < p.graph.tensor_count; ++v)
         if (p.graph.sibling_lead[v] >= 0) return p.graph.buffers[v].lifetime.first = p.graph.step[v], true;
       return false;
     }},
    {"a cache write said to run in the launch of a node that is not the attention reading it", plan_fault::bad_fusion,
     [](mutable_plan& p, std::mt19937&) {
       for (int v = 0; v < p.graph.tensor_count; ++v)
         if (p.graph.writes_in[v] >= 0) return p.graph.writes_in[v] = p.graph.nodes[v].inputs[1], true;  // its position
       return false;
     }},
    {"a lower bound that is not the peak", plan_fault::wrong_lower_bound, [](mutable_plan& p, std::mt19937&) {
       for (int c = 0; c < memory_class_count; ++c)
         if (p.memory.lower_bound[c] > 0) return p.memory.lower_bound[c] += arena_alignment, true;
       return false;
     }},
    {"a lower bound for a memory class with nothing placed", plan_fault::wrong_lower_bound, [](mutable_plan& p, std::mt19937&) {
       for (int c = 0; c < memory_class_count; ++c)
         if (memory_class(c) != memory_class::external && p.memory.lower_bound[c] == 0 && p.memory.arena_bytes[c] == 0)
           return p.memory.lower_bound[c] = arena_alignment, true;
       return false;
     }},
  };
  return all;
}

//! Widens a compile-time plan to the test's capacity, so one set of mutations serves all plans.
template <std::size_t N>
mutable_plan widen_plan(const plan<N>& from) {
  static_assert(N <= cap);
  mutable_plan p{};
  auto& g = p.graph;
  const auto& f = from.graph;
  g.tensor_count = f.tensor_count, g.one_partition = f.one_partition, g.fuse = f.fuse, g.siblings = f.siblings, g.step_count = f.step_count;
  g.cache_writes = f.cache_writes;
  g.branch_limit = f.branch_limit;
  g.partition_count = f.partition_count, g.error = f.error, g.error_count = f.error_count;
  g.hoisted_at_instantiation = f.hoisted_at_instantiation;
  for (int i = 0; i < f.tensor_count; ++i) {
    g.nodes[i] = f.nodes[i], g.is_output[i] = f.is_output[i], g.schedule[i] = f.schedule[i], g.step[i] = f.step[i];
    g.partitions[i] = f.partitions[i], g.partition_of[i] = f.partition_of[i], g.owner[i] = f.owner[i];
    g.buffers[i] = f.buffers[i], g.memory[i] = f.memory[i], g.fused_root[i] = f.fused_root[i], g.branch[i] = f.branch[i];
    g.prologue[i] = f.prologue[i], g.in_prologues[i] = f.in_prologues[i];
    g.sibling_lead[i] = f.sibling_lead[i], g.sibling_next[i] = f.sibling_next[i], g.writes_in[i] = f.writes_in[i];
    p.memory.offset[i] = from.memory.offset[i];
  }
  for (int c = 0; c < memory_class_count; ++c)
    p.memory.arena_bytes[c] = from.memory.arena_bytes[c], p.memory.lower_bound[c] = from.memory.lower_bound[c];
  return p;
}

// The test and example plans: the README graph, the 8-layer MLP (example 02), the round trip
// (example 03), the tensor-parallel MLP (example 05, opaque and out-variant), chained
// collectives, inserted copies, a leading fallback region, and a decode step writing state.
using x = input<"x", bf16, shape<16, 256>>;
using mlp = test_models::mlp<bf16, 256>;
using tp = test_models::tp<ops::all_reduce, bf16, 256>;
using tp_opaque = test_models::tp<test_models::opaque_all_reduce, bf16, 256>;
using w = parameter<"w", bf16, shape<256, 256>>;
using trip = test_models::round_trip<x, w>;
using m0 = trip::m0;
struct r1 : node<"r1", ops::gelu, trip::m1> {};
struct c0 : node<"c0", ops::relu, m0> {};
struct c1 : node<"c1", ops::all_reduce, c0> {};
struct c2 : node<"c2", ops::all_reduce, c1> {};
struct c3 : node<"c3", ops::all_reduce, x> {};
struct c4 : node<"c4", ops::add, c2, c3> {};
struct lead_host : node<"lead_host", ops::host_op<no_op_host>, node<"lead_copy", ops::to_host, x>> {};
struct lead_dev : node<"lead_dev", ops::to_device, lead_host> {};
struct lead_out : node<"lead_out", in_place<ops::relu>, lead_dev> {};

struct f1 : node<"f1", ops::gelu, m0> {};
struct f2 : node<"f2", ops::add, f1, x> {};
struct f3 : node<"f3", ops::scale<0.5f>, f2> {};
constexpr auto readme_plan = make_plan<graph<node<"r0", ops::relu, node<"h0", ops::matmul, x, w>>>>();
constexpr auto mlp_plan = make_plan<graph<repeat<8, mlp::layer, x>>>();
constexpr auto trip_plan = make_plan<graph<r1>>();
constexpr auto tp_plan = make_plan<graph<repeat<8, tp::layer, x>>>();
constexpr auto tp_opaque_plan = make_plan<graph<repeat<8, tp_opaque::layer, x>>>();
constexpr auto collective_plan = make_plan<graph<c4>>();
constexpr auto lead_plan = make_plan<graph<lead_out, r1>>();
constexpr auto fused_plan = make_plan<graph<f3>>();
using decode = test_models::decode_step<bf16, 16, 2, 64>;
constexpr auto state_plan = make_plan<decode::graph>();
// A norm in the prologues of two projections, one with a residual.
using ph = input<"h", bf16, shape<1, 256>>;
struct pn0 : node<"n0", ops::rms_norm<1e-5f>, ph, parameter<"g", bf16, shape<256>>> {};
struct pq0 : node<"q0", ops::linear<true>, pn0, w> {};
struct pk0 : node<"k0", ops::linear<true>, pn0, w, ph> {};
constexpr auto prologue_plan = make_plan<graph<pq0, pk0>>();
// Three products of that norm (sibling products: one gemv launch).
struct sv0 : node<"v0", ops::linear<true>, pn0, w> {};
struct sk0 : node<"k1", ops::linear<true>, pn0, parameter<"wk", bf16, shape<64, 256>>> {};
constexpr auto sibling_plan = make_plan<graph<pq0, sv0, sk0, pk0>>();
// An attention that runs the writes to its caches, the key write's rotary with it.
using ap = state<"ap", i32, shape<1>>;
constexpr auto attention_plan = make_plan<graph<node<"after", ops::relu, test_models::cache_step<1, ap>::attn>>>();

TEST_CASE("check_plan: the mutation test rejects every corruption with its own reason") {
  static_assert(!check_plan(readme_plan) && !check_plan(mlp_plan) && !check_plan(trip_plan) && !check_plan(tp_plan));
  static_assert(!check_plan(tp_opaque_plan) && !check_plan(collective_plan) && !check_plan(lead_plan) && !check_plan(fused_plan));
  static_assert(fused_plan.fused_group_count() == 2);  // m0 + gelu (an epilogue), f2 + f3
  static_assert(!check_plan(state_plan) && state_plan.state_count() == 2);
  static_assert(!check_plan(prologue_plan) && prologue_plan.prologue_count() == 1);
  static_assert(!check_plan(sibling_plan) && sibling_plan.sibling_count() == 2);
  static_assert(!check_plan(attention_plan) && attention_plan.written_in_attention_count() == 2);
  std::vector<mutable_plan> corpus = {widen_plan(readme_plan), widen_plan(mlp_plan), widen_plan(trip_plan), widen_plan(tp_plan),
                                   widen_plan(tp_opaque_plan), widen_plan(collective_plan), widen_plan(lead_plan),
                                   widen_plan(fused_plan), widen_plan(state_plan), widen_plan(prologue_plan),
                                   widen_plan(sibling_plan), widen_plan(attention_plan)};
  const std::uint32_t base = base_seed();
  std::deque<random_graph> builders;  // a builder keeps the names and ops its plan points to
  for (std::uint32_t i = 0; i < 400; ++i) {
    const owned_plan<cap> q = random_plan(base + i, builders.emplace_back());
    corpus.push_back({q.graph, q.memory});
  }
  std::mt19937 rng(base);
  int total = 0, rejected = 0;
  std::vector<int> applied(mutations().size());
  for (std::size_t c = 0; c < corpus.size(); ++c) {
    REQUIRE_MESSAGE(!check(corpus[c]), "plan " << c << " (seed " << base << ") is not sound to begin with");
    for (std::size_t m = 0; m < mutations().size(); ++m) {
      mutable_plan p = corpus[c];
      if (!mutations()[m].apply(p, rng)) continue;
      ++total, ++applied[m];
      const plan_violation v = check(p);
      if (v.fault == mutations()[m].expect) ++rejected;
      else FAIL_CHECK("plan " << c << " (seed " << base << "), '" << std::string(mutations()[m].name) << "': got '" << v.what() << "'");
    }
  }
  std::printf("mutation score: %d/%d\n", rejected, total);
  MESSAGE("mutation score: " << rejected << "/" << total << " over " << corpus.size() << " plans, "
                             << mutations().size() << " kinds of corruption");
  CHECK(rejected == total);
  for (std::size_t m = 0; m < mutations().size(); ++m) CHECK_MESSAGE(applied[m] > 0, std::string(mutations()[m].name) << " never applied");
}

TEST_CASE("check_plan: a rejected graph has no plan a static_assert can pass") {
  graph_builder<8> b;
  const int in = b.input("x", tensor_desc{dtype_id::f32, 1, {64}});
  const int r = b.add<ops::relu>("r", {in});
  const int bad = b.add<ops::add>("bad", {r, b.input("y", tensor_desc{dtype_id::f32, 1, {32}})});
  b.output(bad);
  const owned_plan<8> p = b.build();
  CHECK(!p.ok());
  CHECK(check_plan(p).fault == plan_fault::carries_error);
  CHECK_THROWS(p.step_count());  // every query refuses a rejected plan
}
}  // namespace check_plan_test
