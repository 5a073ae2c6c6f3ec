#pragma once
//! schedule: a topological order of the nodes. Deterministic: among ready nodes the one with
//! the lowest index (post order from the outputs) runs first. Reads the nodes and the reader
//! lists (find_readers); writes `schedule`, `step` and `step_count`.
#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/passes/readers.hpp>

namespace ctg {

template <std::size_t N>
constexpr status schedule(flat_graph<N>& g, const reader_lists<N>& readers) {
  if (g.error.code != errc::ok) return g.error;
  const int n = g.tensor_count;
  // Kahn's algorithm with a binary min-heap of ready indices.
  int pending[N]{};
  int heap[N]{};
  int size = 0;
  auto push = [&](int v) {
    int i = size++;
    heap[i] = v;
    while (i > 0 && heap[(i - 1) / 2] > heap[i]) {
      int p = (i - 1) / 2, t = heap[p];
      heap[p] = heap[i], heap[i] = t, i = p;
    }
  };
  auto pop = [&] {
    int top = heap[0];
    heap[0] = heap[--size];
    for (int i = 0;;) {
      int l = 2 * i + 1, r = l + 1, m = i;
      if (l < size && heap[l] < heap[m]) m = l;
      if (r < size && heap[r] < heap[m]) m = r;
      if (m == i) break;
      int t = heap[m];
      heap[m] = heap[i], heap[i] = t, i = m;
    }
    return top;
  };
  for (int i = 0; i < n; ++i) {
    g.step[i] = no_index;
    pending[i] = g.nodes[i].input_count;
    if (pending[i] == 0) push(i);
  }
  g.step_count = 0;
  int done = 0;
  while (size > 0) {
    int v = pop();
    ++done;
    if (g.nodes[v].kind == tensor_kind::node) {
      g.step[v] = g.step_count;
      g.schedule[g.step_count++] = v;
    }
    for (int i = readers.begin[v]; i < readers.begin[v + 1]; ++i)
      if (--pending[readers.list[i]] == 0) push(readers.list[i]);
  }
  if (done != n) {  // the first node left waiting names the cycle
    for (int i = 0; i < n; ++i)
      if (pending[i] > 0) return report(g, {errc::cycle, i});
  }
  return g.error;
}

}  // namespace ctg
