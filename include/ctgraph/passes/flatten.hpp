#pragma once
//! flatten: node types -> flat_graph, by one walk over type-erased handles (no per-node
//! recursive templates). Nodes come out in post order, so inputs precede their readers except
//! through refs, which `schedule` orders.
#include <cstdint>
#include <string_view>
#include <vector>

#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

namespace detail {

constexpr std::uint32_t name_hash(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ std::uint8_t(c)) * 16777619u;
  return h;
}

//! Open addressing from name to index, sized for `n` names.
struct name_table {
  std::vector<int> slots;
  std::uint32_t mask = 0;
  constexpr explicit name_table(std::size_t n) {
    std::size_t cap = 16;
    while (cap < 2 * n) cap *= 2;
    slots.assign(cap, -1);
    mask = std::uint32_t(cap - 1);
  }
  //! The slot holding `name`, or the empty slot where it would go.
  template <class NameOf>
  constexpr std::uint32_t find(std::string_view name, NameOf&& name_of) const {
    std::uint32_t h = name_hash(name) & mask;
    while (slots[h] >= 0 && name_of(slots[h]) != name) h = (h + 1) & mask;
    return h;
  }
};

struct collected {
  std::vector<node_desc> nodes;
  std::vector<int> outputs;
  status error{};
};

//! Walks the graph from its outputs; each tensor type is described exactly once.
template <class G>
constexpr collected collect() {
  collected c;
  std::vector<const tensor_handle*> handle;  // by index
  struct frame {
    const tensor_handle* h;
    tensor_handle::record r;
    int next;
  };
  std::vector<frame> stack;
  // The table grows with the graph; rehashing is rare (doubling).
  name_table table(64);
  auto name_of = [&](int i) { return c.nodes[std::size_t(i)].name; };
  auto lookup_or_visit = [&](const tensor_handle* h) -> int {  // index, or -1 after pushing it
    tensor_handle::record r = h->describe();
    std::uint32_t s = table.find(r.desc.name, name_of);
    if (table.slots[s] >= 0) {
      int i = table.slots[s];
      if (handle[std::size_t(i)] != h && c.error.code == errc::ok) c.error = {errc::duplicate_name, i};
      return i;
    }
    stack.push_back({h, r, 0});
    return -1;
  };
  for (int o = 0; G::output_handles[o] != nullptr; ++o) {
    int idx = lookup_or_visit(G::output_handles[o]);
    while (!stack.empty()) {
      frame& f = stack.back();
      if (f.next < f.r.desc.input_count) {
        int k = f.next++;
        if (f.r.in[k] == nullptr) continue;  // ref<>, resolved below
        int i = lookup_or_visit(f.r.in[k]);
        if (i >= 0) stack.back().r.desc.inputs[k] = i;  // nothing was pushed
        continue;
      }
      // All inputs done: the node gets the next index.
      int id = int(c.nodes.size());
      frame done = stack.back();
      stack.pop_back();
      c.nodes.push_back(done.r.desc);
      handle.push_back(done.h);
      if (c.nodes.size() * 2 > table.slots.size()) {
        table = name_table(c.nodes.size() * 2);
        for (int i = 0; i < id; ++i) table.slots[table.find(c.nodes[std::size_t(i)].name, name_of)] = i;
      }
      table.slots[table.find(done.r.desc.name, name_of)] = id;
      if (!stack.empty()) {
        frame& parent = stack.back();
        parent.r.desc.inputs[parent.next - 1] = id;
      } else {
        idx = id;
      }
    }
    c.outputs.push_back(idx);
  }
  // Resolve refs by name.
  for (std::size_t n = 0; n < c.nodes.size(); ++n) {
    node_desc& d = c.nodes[n];
    for (int k = 0; k < d.input_count; ++k) {
      if (d.input_names[k].empty() || d.inputs[k] >= 0) continue;
      int i = table.slots[table.find(d.input_names[k], name_of)];
      if (i < 0) {
        if (c.error.code == errc::ok) c.error = {errc::unknown_tensor, int(n)};
      } else {
        d.inputs[k] = i;
      }
    }
  }
  return c;
}

}  // namespace detail

//! The number of tensors reachable from G's outputs.
template <class G>
constexpr std::size_t tensor_count = detail::collect<G>().nodes.size();

//! The flat graph of G.
template <class G>
constexpr auto flatten() {
  detail::collected c = detail::collect<G>();
  flat_graph<tensor_count<G> == 0 ? 1 : tensor_count<G>> g{};
  g.node_count = int(c.nodes.size());
  for (std::size_t i = 0; i < c.nodes.size(); ++i) g.nodes[i] = c.nodes[i];
  for (int o : c.outputs) g.is_output[o] = true;
  g.error = c.error;
  return g;
}

//! The same graph with room for M tensors (the copies placement inserts); passes not yet run.
template <std::size_t M, std::size_t N>
constexpr flat_graph<M> widen(const flat_graph<N>& from) {
  static_assert(M >= N);
  flat_graph<M> g{};
  g.node_count = from.node_count;
  g.one_partition = from.one_partition;
  g.error = from.error;
  for (int i = 0; i < from.node_count; ++i) g.nodes[i] = from.nodes[i], g.is_output[i] = from.is_output[i];
  return g;
}

}  // namespace ctg
