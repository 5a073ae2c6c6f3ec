#pragma once
//! What an executor needs to run a plan's collectives: the communicator checked against the
//! plan, the symmetric arena (allocated and registered as a window once) and the device
//! communicator, and the launch of each collective. Needs NCCL >= 2.28.9.
#include <cstddef>
#include <string>

#include <ctgraph/plan/plan.hpp>
#include <ctgraph/runtime/communicator.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/nccl/all_reduce.cuh>
#include <ctgraph/runtime/nccl/collectives.hpp>
#include <ctgraph/runtime/nccl/device_comm.hpp>
#include <ctgraph/runtime/nccl/symmetric_arena.hpp>

namespace ctg {

class symmetric_collectives {
 public:
  symmetric_collectives() = default;

  //! Checks the communicator against the plan's collectives (size, rank), then allocates and
  //! registers the symmetric arena and creates the device communicator. Registration is a
  //! collective call: every rank makes it here, in the same order, with the same (compile-time)
  //! size, outside capture; the device communicator probes support.
  template <std::size_t N>
  symmetric_collectives(const plan<N>& p, communicator comm) : comm_(comm) {
    for (int v = 0; v < p.tensor_count(); ++v) {
      const node_desc& d = p.node(v);
      if (!d.op->traits.symmetric_inputs) continue;
      if (!comm_.comm)
        throw runtime_error(d.name, "instantiate", "this plan has collectives: pass a ctg::communicator with an initialised ncclComm_t");
      if (ranks_ == 0) CTG_CHECK(d.name, ncclCommCount(comm_.comm, &ranks_));
    }
    if (comm_.comm && comm_.rank) {
      int rank = 0;
      CTG_CHECK("instantiate", ncclCommUserRank(comm_.comm, &rank));
      if (rank != *comm_.rank)
        throw runtime_error("instantiate", "communicator", "rank " + std::to_string(*comm_.rank) + " was given, but the communicator is rank " + std::to_string(rank));
    }
    if (p.arena_bytes(memory_class::symmetric) > 0) {
      symmetric_ = symmetric_arena(comm_.comm, p.arena_bytes(memory_class::symmetric));
      device_comm_ = device_comm(comm_.comm);
    }
  }

  //! The symmetric arena's first byte (null when the plan has none).
  std::byte* arena() const noexcept { return static_cast<std::byte*>(symmetric_.get()); }

  //! The communicator's rank count (0 for a plan without collectives).
  int ranks() const noexcept { return ranks_; }

  //! The collectives' launches on `c.stream`. All-reduce runs the one-shot kernel up to the
  //! communicator's size limit (or as it says), NCCL's all-reduce above.
  void all_reduce(const launch_context& c) const {
    const collective_context cc = context_of(c);
    const bool one_shot = comm_.all_reduce == communicator::all_reduce_algorithm::one_shot ||
                          (comm_.all_reduce == communicator::all_reduce_algorithm::automatic && c.output_desc().bytes() <= comm_.one_shot_max_bytes);
    if (one_shot) runtime_ops::launch_all_reduce_one_shot(c, cc);
    else runtime_ops::launch_all_reduce_nccl(c, cc);
  }
  void reduce_scatter(const launch_context& c) const { runtime_ops::launch_reduce_scatter_nccl(c, context_of(c)); }
  void all_gather(const launch_context& c) const { runtime_ops::launch_all_gather_nccl(c, context_of(c)); }

 private:
  collective_context context_of(const launch_context& c) const {
    collective_context cc;
    cc.comm = comm_.comm;
    cc.ranks = ranks_;
    cc.window = symmetric_.window();
    cc.input_offset = std::size_t(static_cast<const std::byte*>(c.inputs[0]) - arena());
    cc.dev = device_comm_.get();
    return cc;
  }

  // Declaration order is teardown order, reversed: the device communicator, then the window's
  // deregistration and its memory (NCCL's required order).
  communicator comm_;
  int ranks_ = 0;
  symmetric_arena symmetric_;
  device_comm device_comm_;
};

//! The collective ops' hooks (graph/ops/collectives.hpp) land here.
namespace detail {
inline const symmetric_collectives& collectives_of(const launch_context& c) {
  if (c.collectives == nullptr) throw runtime_error(c.node->name, "launch", "a collective outside an executor with a communicator");
  return *c.collectives;
}
}  // namespace detail

//! At instantiation: a collective planned for `ranks` ranks (0: any) needs a communicator of as many.
inline void check_ranks(const launch_context& c, int ranks) {
  const int has = detail::collectives_of(c).ranks();
  if (ranks != 0 && ranks != has)
    throw runtime_error(c.node->name, "communicator", "planned for " + std::to_string(ranks) + " ranks, but the communicator has " + std::to_string(has));
}
inline void launch_all_reduce(const launch_context& c) { detail::collectives_of(c).all_reduce(c); }
inline void launch_reduce_scatter(const launch_context& c) { detail::collectives_of(c).reduce_scatter(c); }
inline void launch_all_gather(const launch_context& c) { detail::collectives_of(c).all_gather(c); }

}  // namespace ctg
