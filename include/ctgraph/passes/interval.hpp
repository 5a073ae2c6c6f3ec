#pragma once
//! The memory planner's problem: buffers as (lifetime, bytes) intervals. Planners work on these,
//! so they can be used and measured on their own.
#include <cstddef>

#include <ctgraph/passes/flat_graph.hpp>

namespace ctg {

struct interval {
  int first = 0;          // first step alive
  int last = 0;           // last step alive (inclusive)
  std::size_t bytes = 0;  // already aligned as the arena needs
  std::size_t offset = 0; // the planner's answer
};

}  // namespace ctg
