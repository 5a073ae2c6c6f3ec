#pragma once
//! The pass order, written once: make_plan runs `plan_structure`, `plan_lifetimes` and
//! `lay_out_memory` in constant evaluations of their own (each its own compiler budget); run-time
//! builders call `run_passes`.
//! The flat graph's capacity must hold the copies that insert_copies adds.
//!
//! pass             reads                                         writes
//! insert_copies    nodes (traits, inputs)                        nodes (+ copies, inputs rewired)
//! find_readers     nodes (inputs)                                a reader_lists of its own (not kept)
//! schedule         nodes, readers                                schedule, step, step_count
//! validate         schedule, nodes (output rules, traits)        nodes[].out (inferred)
//! check_state_writes  schedule, nodes (writes_state, view)       errors only (the state rules)
//! place_symmetric  nodes, is_output, readers                     memory (a decision; traits untouched)
//! partition        schedule, nodes (capturable)                  partitions, partition_of
//! view_owners      schedule, nodes (view)                        owner
//! fuse             schedule, nodes, readers, partition_of,       fused_root, prologue, in_prologues,
//!                  is_output                                     sibling_lead, sibling_next, writes_in
//! branches         schedule, nodes, partitions, branch_limit,    branch, partitions[].branches
//!                  sibling_lead
//! lifetimes        schedule, step, owner, memory, is_output,     buffers (memory, bytes, opaque, lifetime,
//!                  fused_root, in_prologues, sibling_lead/next,  busy_until)
//!                  writes_in, branch, partitions
//! hand_over        schedule, owner, buffers, is_output,          buffers[].shares (in place)
//!                  fused_root, in_prologues, writes_in, branch, partitions
//! hoist            partitions, schedule, owner, buffers,         buffers[].hoisted(_to), partitions[] counts
//!                  fused_root, in_prologues
//! lay_out_memory   schedule, owner, buffers (lifetime.first,     a memory_layout of its own (offset by node,
//!                  busy_until, memory, bytes, shares)            arena_bytes, lower_bound)
//! Every pass reads and writes `error` / `errors` and does nothing after an earlier error.
#include <ctgraph/passes/branches.hpp>
#include <ctgraph/passes/fuse.hpp>
#include <ctgraph/passes/hand_over.hpp>
#include <ctgraph/passes/hoist.hpp>
#include <ctgraph/passes/lifetimes.hpp>
#include <ctgraph/passes/memory_plan.hpp>
#include <ctgraph/passes/partition.hpp>
#include <ctgraph/passes/placement.hpp>
#include <ctgraph/passes/readers.hpp>
#include <ctgraph/passes/schedule.hpp>
#include <ctgraph/passes/state.hpp>
#include <ctgraph/passes/validate.hpp>
#include <ctgraph/passes/view_owners.hpp>

namespace ctg {

//! What runs, where and how: the copies, readers, the schedule, validation, placement,
//! partitions, views and fusion. `copy_names` (optional) names the inserted copies by source.
template <std::size_t N>
constexpr status plan_structure(flat_graph<N>& g, const std::string_view* copy_names = nullptr) {
  insert_copies(g, copy_names);
  reader_lists<N> readers;
  find_readers(g, readers);
  schedule(g, readers);
  validate(g);
  check_state_writes(g);
  place_symmetric(g, readers);
  partition(g);
  view_owners(g);
  return fuse(g, readers);
}

//! What the buffers live through: branches, lifetimes, in-place hand-over, hoisting. Apart from
//! plan_structure so that make_plan can give each its own constant evaluation (together, g++
//! needs 33.1 M operations at 4,096 nodes, 1 % under its default budget: too close).
template <std::size_t N>
constexpr status plan_lifetimes(flat_graph<N>& g) {
  branches(g);
  lifetimes(g);
  hand_over(g);
  return hoist(g);
}

//! Every pass: the graph's sections, and the memory plan returned beside it.
template <std::size_t N>
constexpr memory_layout<N> run_passes(flat_graph<N>& g, const std::string_view* copy_names = nullptr) {
  plan_structure(g, copy_names);
  plan_lifetimes(g);
  return lay_out_memory(g);
}

}  // namespace ctg
