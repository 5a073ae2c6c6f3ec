#pragma once
//! flatten: node types -> flat_graph, by one walk over type-erased handles (no per-node
//! recursive templates). Nodes come out in post order, so inputs precede their readers except
//! through refs, which `schedule` orders. A graph_value's records are copied as they were added
//! (no walk: they are flat already).
#include <cstdint>
#include <string_view>

#include <ctgraph/graph/graph_value.hpp>
#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/passes/placement.hpp>

namespace ctg {

namespace detail {

constexpr std::uint32_t name_hash(std::string_view s) {
  std::uint32_t h = 2166136261u;
  const char* c = s.data();  // by pointer: a string_view's iterator is a call per character for constant evaluators
  for (std::size_t i = 0, n = s.size(); i < n; ++i) h = (h ^ std::uint8_t(c[i])) * 16777619u;
  return h;
}

//! A growable array on raw storage: compilers' constant evaluators charge much more for
//! std::vector's layers than for a plain loop.
template <class T>
struct grow_array {
  T* data = nullptr;
  int size = 0, capacity = 0;
  constexpr grow_array() = default;
  grow_array(const grow_array&) = delete;
  constexpr ~grow_array() { delete[] data; }
  constexpr T& push(const T& v) {
    if (size == capacity) {
      capacity = capacity ? 2 * capacity : 256;
      T* bigger = new T[std::size_t(capacity)];
      for (int i = 0; i < size; ++i) bigger[i] = data[i];
      delete[] data;
      data = bigger;
    }
    data[size] = v;
    return data[size++];
  }
  //! Makes it `n` default elements (the old ones gone).
  constexpr void reset(int n) {
    delete[] data;
    data = new T[std::size_t(n > 0 ? n : 1)];
    size = capacity = n;
  }
};

//! The walk's result: every tensor's record in post order, its inputs as post-order indices.
struct walked {
  grow_array<node_desc> nodes;
  grow_array<int> outputs;
  grow_array<status> errors;  // node (and other) as post-order indices
};

//! A graph_value's mistake as the walk of types reports a graph's: the first made while adding,
//! no output, or two tensors of one name (the first tensor of the name is the one reported).
template <class V>
constexpr status value_error(const V& v) {
  if (v.error().code != errc::ok) return v.error();
  const int n = v.tensor_count();
  bool output = false;
  for (int i = 0; i < n && !output; ++i) output = v.is_output(i);
  if (!output) return {errc::value_output};
  std::uint32_t mask = 255;
  while (std::uint32_t(n) * 2 > mask + 1) mask = mask * 2 + 1;
  int* slots = new int[mask + 1];
  for (std::uint32_t i = 0; i <= mask; ++i) slots[i] = no_index;
  status e{};
  for (int i = 0; i < n && e.code == errc::ok; ++i) {
    const std::string_view name = v.name(i);
    std::uint32_t h = name_hash(name) & mask;
    while (slots[h] >= 0 && v.name(slots[h]) != name) h = (h + 1) & mask;
    if (slots[h] < 0) slots[h] = i;
    else e = {errc::duplicate_name, slots[h], i};
  }
  delete[] slots;
  return e;
}

//! Walks the graph from its outputs with an explicit stack; each tensor type is visited once
//! (found again by name through a hash table; two types with one name are an error) and
//! described once, by its handle's one virtual call.
template <class G>
constexpr void walk_types(walked& w) {
  struct visit_rec {
    const tensor_handle* handle;
    tensor_handle::edges e;
    int next, post;
  };
  grow_array<visit_rec> rec;   // by discovery
  grow_array<node_desc> desc;  // by discovery; inputs as discovery ids until the end
  grow_array<int> stack;       // discovery ids
  grow_array<int> order;       // post-order index -> discovery id
  std::uint32_t mask = 255;
  int* slots = new int[mask + 1];
  for (std::uint32_t i = 0; i <= mask; ++i) slots[i] = no_index;
  auto find = [&](std::string_view name) {
    std::uint32_t h = name_hash(name) & mask;
    while (slots[h] >= 0 && rec.data[slots[h]].e.name != name) h = (h + 1) & mask;
    return h;
  };
  auto visit = [&](const tensor_handle* h) {  // the discovery id; a new tensor is pushed
    tensor_handle::record r = h->describe();
    std::uint32_t s = find(r.e.name);
    if (slots[s] >= 0) {
      const int d = slots[s];
      if (rec.data[d].handle != h) {  // once per name, however often the second type is read
        bool known = false;
        for (int i = 0; i < w.errors.size; ++i) known = known || (w.errors.data[i].code == errc::duplicate_name && w.errors.data[i].node == d);
        if (!known) w.errors.push({errc::duplicate_name, d});
      }
      return d;
    }
    const int d = rec.size;
    rec.push(visit_rec{h, r.e, 0, -1});
    for (int k = 0; k < max_inputs; ++k) r.d.inputs[k] = no_index;
    desc.push(r.d);
    if (std::uint32_t(rec.size) * 2 > mask + 1) {  // grow and rehash
      delete[] slots;
      mask = mask * 2 + 1;
      slots = new int[mask + 1];
      for (std::uint32_t i = 0; i <= mask; ++i) slots[i] = no_index;
      for (int i = 0; i < d; ++i) slots[find(rec.data[i].e.name)] = i;
      s = find(r.e.name);
    }
    slots[s] = d;
    stack.push(d);
    return d;
  };
  for (int o = 0; G::output_handles[o] != nullptr; ++o) {
    w.outputs.push(visit(G::output_handles[o]));
    while (stack.size > 0) {
      const int d = stack.data[stack.size - 1];
      if (rec.data[d].next < rec.data[d].e.count) {
        const int k = rec.data[d].next++;
        if (const tensor_handle* h = rec.data[d].e.in[k]) {
          const int i = visit(h);  // may grow `desc`: index it again afterwards
          desc.data[d].inputs[k] = i;
        }
        continue;
      }
      --stack.size;
      rec.data[d].post = order.size;
      order.push(d);
    }
  }
  // Refs by name.
  for (int d = 0; d < rec.size; ++d)
    for (int k = 0; k < rec.data[d].e.count; ++k) {
      if (rec.data[d].e.in[k] != nullptr || rec.data[d].e.ref == nullptr) continue;  // no ref: an ill-formed node, reported
      const int i = slots[find(rec.data[d].e.ref[k])];
      if (i < 0) {
        w.errors.push({errc::unknown_tensor, d});
      } else {
        desc.data[d].inputs[k] = i;
      }
    }
  delete[] slots;
  // Everything in post order.
  const int n = order.size;
  w.nodes.reset(n);
  node_desc* out = w.nodes.data;
  for (int p = 0; p < n; ++p) {
    node_desc& d = out[p];
    d = desc.data[order.data[p]];
    for (int k = 0; k < max_inputs; ++k)
      if (d.inputs[k] >= 0) d.inputs[k] = rec.data[d.inputs[k]].post;
  }
  for (int i = 0; i < w.outputs.size; ++i) w.outputs.data[i] = rec.data[w.outputs.data[i]].post;
  for (int i = 0; i < w.errors.size; ++i) w.errors.data[i].node = rec.data[w.errors.data[i].node].post;
}

//! Whether G is a graph_value's stand-in (value_graph), read in place rather than walked.
template <class G>
concept value_graph_type = requires { G::value.tensor_count(); };

//! What sizes the compile-time plan: the tensors reachable from the outputs and the copies that
//! insert_copies will add (with their names' characters).
struct graph_size {
  int tensors = 0;
  int copies = 0;
  std::size_t copy_chars = 0;
};

//! The copies insert_copies will add to tensors `nodes[0, n)` (each named by `name(u)`).
template <class Name>
constexpr graph_size count_copies(const node_desc* nodes, int n, Name name) {
  graph_size s{n};
  bool* source = new bool[std::size_t(n) + 1]{};  // (std::vector<bool> here crashes nvcc 13's front end)
  for (int v = 0; v < n; ++v) {
    if (!nodes[v].op->traits.symmetric_inputs) continue;
    for (int k = 0; k < nodes[v].input_count; ++k) {
      const int u = nodes[v].inputs[k];
      if (u >= 0 && needs_copy(nodes, u) && !source[u]) {
        source[u] = true, ++s.copies;
        s.copy_chars += name(u).size() + copy_suffix.size();
      }
    }
  }
  delete[] source;
  return s;
}

template <class G>
constexpr graph_size measure() {
  if constexpr (value_graph_type<G>) {
    constexpr auto& v = G::value;
    if (v.error().code != errc::ok) return {v.tensor_count()};
    return count_copies(v.records(), v.tensor_count(), [&](int u) { return v.name(u); });
  } else {
    walked w;
    walk_types<G>(w);
    if (w.errors.size > 0 || w.nodes.size == 0) return {w.nodes.size};
    const node_desc* nodes = w.nodes.data;
    return count_copies(nodes, w.nodes.size, [&](int u) { return nodes[u].name; });
  }
}

template <class G>
inline constexpr graph_size size_of = measure<G>();

}  // namespace detail

//! The number of tensors reachable from G's outputs.
template <class G>
constexpr std::size_t tensor_count = std::size_t(detail::size_of<G>.tensors);

//! Flattens G into `g` (capacity at least tensor_count<G>); the passes have not run.
//! A graph_value's records are copied once each, as added (no walk).
template <class G, std::size_t N>
constexpr void flatten_into(flat_graph<N>& g) {
  if constexpr (detail::value_graph_type<G>) {
    constexpr auto& v = G::value;
    g.tensor_count = v.tensor_count();
    const node_desc* records = v.records();
    for (int i = 0; i < g.tensor_count; ++i) {
      g.nodes[i] = records[i];
      g.nodes[i].name = v.name(i);
      g.is_output[i] = v.is_output(i);
    }
    if (const status e = detail::value_error(v); e.code != errc::ok) report(g, e);
  } else {
    detail::walked w;
    detail::walk_types<G>(w);
    g.tensor_count = w.nodes.size;
    const node_desc* nodes = w.nodes.data;
    for (int i = 0; i < g.tensor_count; ++i) g.nodes[i] = nodes[i];
    for (int i = 0; i < w.outputs.size; ++i) g.is_output[w.outputs.data[i]] = true;
    for (int i = 0; i < w.errors.size; ++i) report(g, w.errors.data[i]);
  }
}

//! The flat graph of G: every tensor type described once.
template <class G>
constexpr auto flatten() {
  flat_graph<tensor_count<G> == 0 ? 1 : tensor_count<G>> g{};
  flatten_into<G>(g);
  return g;
}

//! The same graph with room for M tensors (the copies placement inserts); passes not yet run.
template <std::size_t M, std::size_t N>
constexpr flat_graph<M> widen(const flat_graph<N>& from) {
  static_assert(M >= N);
  flat_graph<M> g{};
  g.tensor_count = from.tensor_count;
  g.one_partition = from.one_partition;
  g.fuse = from.fuse;
  g.siblings = from.siblings;
  g.cache_writes = from.cache_writes;
  g.branch_limit = from.branch_limit;
  g.error = from.error;
  g.error_count = from.error_count;
  for (int e = 0; e < from.error_count; ++e) g.errors[e] = from.errors[e];
  for (int i = 0; i < from.tensor_count; ++i) g.nodes[i] = from.nodes[i], g.is_output[i] = from.is_output[i];
  return g;
}

}  // namespace ctg
