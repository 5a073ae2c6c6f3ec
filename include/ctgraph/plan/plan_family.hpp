#pragma once
//! A plan family: the plans of one graph over a list of sizes of one dimension (a batch, a
//! sequence length), each a constexpr plan, sharing arenas sized for the largest member.
//! `Model<S>` is the graph at size S:
//!
//!   template <std::int64_t B> using mlp_at = ctg::graph<...B...>;
//!   using family = ctg::plan_family<mlp_at, 1, 2, 4, 8, 16>;
//!   static_assert(family::plan<4>.ok());
//!   static_assert(family::arena_bytes(memory_class::device) == family::plan<16>.arena_bytes(memory_class::device));
#include <cstddef>
#include <cstdint>

#include <ctgraph/plan/make_plan.hpp>

namespace ctg {

template <template <std::int64_t> class Model, std::int64_t... Sizes>
struct plan_family {
  static_assert(sizeof...(Sizes) > 0, "ctgraph: a plan family needs at least one size. List them: ctg::plan_family<model, 1, 2, 4, 8>.");
  static constexpr std::int64_t sizes[sizeof...(Sizes) + 1] = {Sizes...};  // + 1: no empty array when there are none
  static constexpr int size_count = int(sizeof...(Sizes));
  static constexpr bool ascending = [] {
    for (int i = 1; i < size_count; ++i)
      if (sizes[i] <= sizes[i - 1]) return false;
    return size_count == 0 || sizes[0] > 0;
  }();
  static_assert(ascending, "ctgraph: the sizes of a plan family must be positive and ascending, each once. Sort them: ctg::plan_family<model, 1, 2, 4, 8>.");

  //! The graph and the plan of the member of size S (one of Sizes).
  template <std::int64_t S>
  using graph_at = Model<S>;
  template <std::int64_t S>
  static constexpr auto plan = make_plan<Model<S>>();

  //! The smallest size that holds n rows (the member that runs n), or no_index above the largest.
  static constexpr int member_for(std::int64_t n) {
    for (int i = 0; i < size_count; ++i)
      if (sizes[i] >= n) return i;
    return no_index;
  }
  //! What the family allocates for memory class c: the largest member's arena, not the sum.
  static constexpr std::size_t arena_bytes(memory_class c) {
    std::size_t most = 0;
    ((most = plan<Sizes>.arena_bytes(c) > most ? plan<Sizes>.arena_bytes(c) : most), ...);
    return most;
  }
  //! What as many separate plans would allocate.
  static constexpr std::size_t arena_bytes_separately(memory_class c) { return (plan<Sizes>.arena_bytes(c) + ...); }
  //! The most parallel branches of any member's partitions.
  static constexpr int branch_count() {
    int most = 1;
    ((most = plan<Sizes>.branch_count() > most ? plan<Sizes>.branch_count() : most), ...);
    return most;
  }
  //! Whether every member planned.
  static constexpr bool ok() { return (plan<Sizes>.ok() && ...); }
};

}  // namespace ctg
