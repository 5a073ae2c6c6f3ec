#pragma once
//! The memory planner's problem: buffers as (lifetime, bytes) intervals. Planners work on these,
//! so they can be used and measured on their own.
#include <cstddef>

#include <ctgraph/passes/flat_graph.hpp>
#include <ctgraph/passes/scratch.hpp>

namespace ctg {

struct interval {
  int first = 0;          // first step alive
  int last = 0;           // last step alive (inclusive)
  std::size_t bytes = 0;  // already aligned as the arena needs
  std::size_t offset = 0; // the planner's answer
};

namespace detail {
//! Sorts indices a[0..n) by `before`, stably; returns at once when they are sorted already (the
//! planner's intervals come in schedule order). A plain bottom-up merge sort: nvcc's front end
//! charges std::sort's layers so much more that a 4096-node plan exceeded its default budget.
template <class Before>
constexpr void sort_indices(int* a, int n, Before before) {
  bool sorted = true;
  for (int i = 1; i < n && sorted; ++i) sorted = !before(a[i], a[i - 1]);
  if (sorted) return;
  const scratch<int> spare(static_cast<std::size_t>(n));  // every pass writes all of dst
  int* src = a;
  int* dst = spare.data();
  for (int width = 1; width < n; width *= 2) {
    for (int lo = 0; lo < n; lo += 2 * width) {
      const int mid = lo + width < n ? lo + width : n, hi = lo + 2 * width < n ? lo + 2 * width : n;
      int i = lo, j = mid, k = lo;
      while (i < mid && j < hi) dst[k++] = before(src[j], src[i]) ? src[j++] : src[i++];
      while (i < mid) dst[k++] = src[i++];
      while (j < hi) dst[k++] = src[j++];
    }
    int* t = src;
    src = dst, dst = t;
  }
  if (src != a)
    for (int i = 0; i < n; ++i) a[i] = src[i];
}
}  // namespace detail

}  // namespace ctg
