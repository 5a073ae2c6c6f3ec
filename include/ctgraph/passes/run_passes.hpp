#pragma once
//! All passes after flatten, in order, on one flat graph: what `make_plan` does at compile time
//! (there each pass gets its own constant evaluation) and what run-time builders call.
#include <ctgraph/passes/lifetimes.hpp>
#include <ctgraph/passes/memory_plan.hpp>
#include <ctgraph/passes/partition.hpp>
#include <ctgraph/passes/schedule.hpp>
#include <ctgraph/passes/validate.hpp>

namespace ctg {

template <std::size_t N>
constexpr status run_passes(flat_graph<N>& g) {
  schedule(g);
  validate(g);
  partition(g);
  lifetimes(g);
  return plan_memory(g);
}

}  // namespace ctg
