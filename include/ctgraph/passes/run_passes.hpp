#pragma once
//! All passes after flatten, in order, on one flat graph (its capacity must hold the copies
//! that insert_copies adds): what `make_plan` does at compile time
//! (there each pass gets its own constant evaluation) and what run-time builders call.
#include <ctgraph/passes/hoist.hpp>
#include <ctgraph/passes/lifetimes.hpp>
#include <ctgraph/passes/memory_plan.hpp>
#include <ctgraph/passes/partition.hpp>
#include <ctgraph/passes/placement.hpp>
#include <ctgraph/passes/schedule.hpp>
#include <ctgraph/passes/validate.hpp>

namespace ctg {

template <std::size_t N>
constexpr status run_passes(flat_graph<N>& g) {
  insert_copies(g);
  schedule(g);
  validate(g);
  place_symmetric(g);
  partition(g);
  lifetimes(g);
  hoist(g);
  return plan_memory(g);
}

}  // namespace ctg
