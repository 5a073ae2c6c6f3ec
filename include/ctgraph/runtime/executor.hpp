#pragma once
//! The executor: turns a plan into arenas allocated once, user tensors bound by name, and one
//! CUDA graph captured per capturable partition; `run()` replays them, with fallback regions
//! launched eagerly in between. It only reads the plan; it re-derives nothing.
//!
//! Per run: one cudaGraphLaunch per capturable partition, no allocation, no host
//! synchronisation except before a host op (which needs its input on the host).
//!
//! State tensors (ctg::state) live across runs: the executor allocates the ones not bound once, in
//! one allocation of their own outside every arena, zero-filled; `reset_state()` zero-fills them
//! all again. It follows each position held in state on the host (what its runs advanced it by),
//! so `run()` refuses a write past a state's end before it launches anything.
#include <cuda_runtime.h>
#include <nvtx3/nvtx3.hpp>

#include <boost/hana/for_each.hpp>
#include <boost/hana/tuple.hpp>

#include <algorithm>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include <ctgraph/plan/make_plan.hpp>
#include <ctgraph/plan/plan.hpp>
#include <ctgraph/runtime/binding.hpp>
#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/handles.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>
#include <ctgraph/runtime/communicator.hpp>
#include <ctgraph/runtime/node_hook.hpp>
#include <ctgraph/runtime/nccl/available.hpp>
#if CTGRAPH_NCCL
#include <ctgraph/runtime/nccl/symmetric_collectives.hpp>
#endif
// What the built-in ops' hooks call:
#include <ctgraph/runtime/ops/argmax.cuh>
#include <ctgraph/runtime/ops/attention.cuh>
#include <ctgraph/runtime/ops/cache_attention.cuh>
#include <ctgraph/runtime/ops/copy.hpp>
#include <ctgraph/runtime/ops/elementwise.cuh>
#include <ctgraph/runtime/ops/embedding.cuh>
#include <ctgraph/runtime/ops/host_call.hpp>
#include <ctgraph/runtime/ops/matmul.hpp>
#include <ctgraph/runtime/ops/norm.cuh>
#include <ctgraph/runtime/ops/rotary.cuh>
#include <ctgraph/runtime/ops/softmax.cuh>
#include <ctgraph/runtime/ops/state.cuh>
#include <ctgraph/runtime/ops/strided_copy.cuh>

namespace ctg {

//! cuBLASLt workspace per executor and parallel branch (matmuls on two branches may run at once).
inline constexpr std::size_t matmul_workspace_bytes = std::size_t{32} << 20;

namespace detail {
template <std::size_t N>
constexpr bool has_collectives(const plan<N>& p) {
  for (int v = 0; v < p.tensor_count(); ++v)
    if (p.node(v).op->traits.symmetric_inputs) return true;
  return false;
}

//! The state tensors of `p` that no binding names, in one allocation (`state`) outside every arena
//! (the planner never places state), each at an aligned offset, zero-filled on `stream` and waited
//! for (the runs come on a stream that need not be ordered after it); a binding for each.
template <std::size_t N>
std::vector<binding> allocate_state(const plan<N>& p, const std::vector<binding>& bound, cudaStream_t stream, allocation& state,
                                    std::string_view what) {
  auto unbound = [&](int v) {
    if (p.node(v).kind != tensor_kind::state) return false;
    for (const binding& b : bound)
      if (b.name == p.node(v).name) return false;
    return true;
  };
  std::size_t bytes = 0;
  for (int v = 0; v < p.tensor_count(); ++v)
    if (unbound(v)) bytes += align_up(p.node(v).out.bytes());
  std::vector<binding> r;
  if (bytes == 0) return r;
  state = allocation(allocation_kind::device, bytes, what);
  CTG_CHECK(what, cudaMemsetAsync(state.get(), 0, bytes, stream));
  CTG_CHECK(what, cudaStreamSynchronize(stream));
  for (int v = 0, at = 0; v < p.tensor_count(); ++v)
    if (unbound(v)) {
      r.push_back({p.node(v).name, state.bytes() + at, p.node(v).out.dtype, p.node(v).out.bytes()});
      at += int(align_up(p.node(v).out.bytes()));
    }
  return r;
}
}  // namespace detail

//! When an executor captures its capturable partitions: at instantiation (the default), or in
//! its first run() (a plan family's member that is never run is never captured:
//! `ctg::instantiate_family<family>(stream, bindings, {.capture = ctg::partition_capture::on_first_use})`).
//! Either way the arenas are allocated and every node prepared at instantiation; a capture on
//! first use costs that run one capture and one cudaGraphInstantiate per partition.
enum class partition_capture {
  at_instantiation,
  on_first_use,
};

//! Arenas and a cuBLASLt workspace that several executors share (a plan family's members, which
//! run one at a time): each at least as large as every sharer's.
struct shared_memory {
  std::byte* device = nullptr;
  std::byte* pinned_host = nullptr;
  std::byte* workspace = nullptr;
};

template <std::size_t N>
class executor {
 public:
  //! Allocates the arenas, binds every graph input and parameter (and the state tensors bound),
  //! allocates the other state tensors (zero-filled), prepares every node (its op's `prepare`
  //! hook), captures each capturable partition (or, with partition_capture::on_first_use, leaves
  //! that to the first run()). `hooks[v]` runs node v (`hooks_of<G>`;
  //! inserted copies need none). With `shared`, it uses those arenas and workspace instead of its
  //! own (not its state: bind state that executors share). Throws ctg::runtime_error (naming the
  //! node and call) and leaks nothing.
  executor(const plan<N>& p, std::vector<node_hook> hooks, cudaStream_t stream, const std::vector<binding>& bindings,
           communicator comm = {}, const shared_memory* shared = nullptr, partition_capture when = partition_capture::at_instantiation)
      : plan_(std::make_unique<const owned_plan<N>>(p)), stream_(stream), hooks_(std::move(hooks)) {
    // Captures run on a stream of the executor's own: the legacy default stream (0) that users
    // may run on cannot be captured, and the graphs it makes replay on any stream.
    cudaStream_t cs = nullptr;
    CTG_CHECK("instantiate", cudaStreamCreateWithFlags(&cs, cudaStreamNonBlocking));
    capture_stream_ = owned_stream(cs);
    const plan<N>& g = *plan_;
    if (!plan_->ok()) throw runtime_error("instantiate", "make_plan", "the plan carries an error");
#if !CTGRAPH_NCCL
    (void)comm;
    if (detail::has_collectives(*plan_))
      throw runtime_error("instantiate", "collectives", "this plan has collectives, but ctgraph was built without NCCL >= 2.28.9 (CTGRAPH_NCCL is 0)");
#endif
    if (shared) {
      memory_ = *shared;
    } else {
      device_ = allocation(allocation_kind::device, plan_->arena_bytes(memory_class::device), "device arena");
      pinned_ = allocation(allocation_kind::pinned_host, plan_->arena_bytes(memory_class::pinned_host), "pinned host arena");
      workspace_ = allocation(allocation_kind::device, matmul_workspace_bytes * std::size_t(g.branch_count()), "cuBLASLt workspace");
      memory_ = {device_.bytes(), pinned_.bytes(), workspace_.bytes()};
    }
    cublasLtHandle_t h = nullptr;
    CTG_CHECK("instantiate", cublasLtCreate(&h));
    lt_ = cublas_lt(h);
#if CTGRAPH_NCCL
    collectives_ = symmetric_collectives(*plan_, comm);
#endif
    hooks_.resize(std::size_t(g.tensor_count()));
    pointers_.assign(std::size_t(g.tensor_count()), nullptr);
    for (const binding& b : bindings) bind_one(b);
    for (const binding& b : detail::allocate_state(g, bindings, capture_stream_.get(), state_, "state")) bind_one(b);
    for (int v = 0; v < g.tensor_count(); ++v) {
      const node_desc& d = g.node(v);
      if (d.kind != tensor_kind::node) {
        if (!pointers_[std::size_t(v)]) throw runtime_error(d.name, "instantiate", "this graph input or parameter is not bound; pass ctg::bind(\"" + std::string(d.name) + "\", ptr, count)");
        continue;
      }
      if (g.fused_away(v)) continue;  // computed inside its fused group's kernel: no launch, no buffer
      if (g.fused_root_of(v) == v && !hooks_[std::size_t(v)].runs_group())
        throw runtime_error(d.name, "instantiate", "this node is a fused group's root, but its hook runs its own op only (graph_builder's hooks run one node each: plan without fuse_elementwise())");
      if (d.inserted && !hooks_[std::size_t(v)]) hooks_[std::size_t(v)] = hook_of<ops::to_symmetric>();
      if (runs(v) && !hooks_[std::size_t(v)]) throw runtime_error(d.name, "instantiate", "no launch hook for this node's op '" + std::string(d.op->name) + "'");
      if (g.view_owner_of(v) != v) continue;  // a view: resolved below, in schedule order
      const buffer_desc& b = g.buffer(v);
      if (b.opaque) {
        opaque_.emplace_back(allocation_kind::device, b.bytes, d.name);  // the op's own output, fixed
        pointers_[std::size_t(v)] = opaque_.back().get();
      } else {
        std::byte* base = b.memory == memory_class::pinned_host ? memory_.pinned_host
                          : b.memory == memory_class::symmetric ? symmetric_arena_base()
                                                                : memory_.device;
        pointers_[std::size_t(v)] = base + g.offset_of(v);
      }
    }
    for (int s = 0; s < g.step_count(); ++s) {
      const int v = g.node_at(s);
      if (g.view_owner_of(v) != v) pointers_[std::size_t(v)] = view_pointer(v);
    }
    for (int s = 0; s < g.step_count(); ++s)
      if (runs(g.node_at(s))) prepare(g.node_at(s));
    guard_positions();
    for (int i = 0; i < g.partition_count(); ++i)
      names_.push_back("ctgraph " + std::string(g.partition(i).kind == partition_kind::capturable ? "partition " : "fallback region ") + std::to_string(i));
    execs_.resize(std::size_t(g.partition_count()));
    graphs_.resize(std::size_t(g.partition_count()));
    if (when == partition_capture::at_instantiation) capture_partitions();
  }

  executor(const executor&) = delete;
  executor& operator=(const executor&) = delete;
  executor(executor&&) noexcept = default;
  executor& operator=(executor&&) noexcept = default;

  //! Replays the plan once on the stream (asynchronous, like a kernel launch). Where the graph
  //! writes state at a position it holds in state, first checks on the host that every write of
  //! this run stays inside its state: if not, throws ctg::runtime_error naming the node and
  //! launches nothing (the executor and its state stay as they were).
  void run() {
    check_positions();
    if (!captured_) capture_partitions();  // partition_capture::on_first_use
    const plan<N>& g = *plan_;
    for (int i = 0; i < g.partition_count(); ++i) {
      nvtx3::scoped_range r{names_[std::size_t(i)].c_str()};
      const partition_desc& q = g.partition(i);
      if (q.kind == partition_kind::capturable) {
        CTG_CHECK(names_[std::size_t(i)], cudaGraphLaunch(execs_[std::size_t(i)].get(), stream_));
      } else {
        for (int s = q.first_step; s <= q.last_step; ++s) {
          if (!runs(g.node_at(s))) continue;
          nvtx3::scoped_range n{std::string(g.node(g.node_at(s)).name).c_str()};
          launch(g.node_at(s), stream_);
        }
      }
    }
    for (const position_guard& p : guards_) positions_[std::size_t(p.state)] += p.use.advance;
  }

  //! Captures each capturable partition unless that is done (at instantiation, by an earlier
  //! call, or by the first run()): one capture and one cudaGraphInstantiate per partition, once.
  void capture_partitions() {
    if (captured_) return;
    const plan<N>& g = *plan_;
    for (int i = 0; i < g.partition_count(); ++i)
      if (g.partition(i).kind == partition_kind::capturable) execs_[std::size_t(i)] = capture(i, nullptr);
    captured_ = true;
  }
  //! Whether the capturable partitions are captured (always, but under partition_capture::on_first_use
  //! before the first run() or capture_partitions()).
  bool captured() const noexcept { return captured_; }

  //! One node's share of a run, as `profile` measures it.
  struct node_time {
    std::string_view name, op_name;
    double us;  // mean GPU time per run, from the end of the node before to its own end
  };
  //! Where a run's time goes: runs the plan `replays` more times, as run() does (positions checked
  //! and advanced, state written), but with each capturable partition captured once more with an
  //! event after each node, nodes one after another in schedule order (no parallel branches, and
  //! no programmatic launch across an event), and fallback regions launched with events between;
  //! returns each launching node's mean time in schedule order. A node's time includes its
  //! kernel's launch latency in the graph, which PDL hides in run(): the sum is above run()'s time.
  std::vector<node_time> profile(int replays = 10) {
    const plan<N>& g = *plan_;
    std::vector<owned_event> events;
    auto record = [&](cudaStream_t s, std::vector<int>& at, int v) {
      cudaEvent_t raw = nullptr;
      CTG_CHECK("profile", cudaEventCreate(&raw));
      events.emplace_back(raw);
      at.push_back(v);
      CTG_CHECK("profile", cudaEventRecordWithFlags(raw, s, capture_intact(s) ? cudaEventRecordExternal : cudaEventRecordDefault));
    };
    std::vector<int> at;  // the node whose end each event marks (no_index: a partition's start)
    std::vector<graph_exec> execs(std::size_t(g.partition_count()));
    std::vector<graph_owner> keep;
    for (int i = 0; i < g.partition_count(); ++i) {
      const partition_desc& q = g.partition(i);
      if (q.kind != partition_kind::capturable) continue;
      cudaStream_t cs = capture_stream_.get();
      keep.push_back(ctg::capture(cs, "profile", [&] {
        record(cs, at, no_index);
        for (int s = q.first_step; s <= q.last_step; ++s)
          if (runs(g.node_at(s))) launch(g.node_at(s), cs), record(cs, at, g.node_at(s));
      }));
      execs[std::size_t(i)] = instantiate_graph(keep.back(), "profile");
    }
    const std::size_t captured = events.size();
    std::vector<double> total(std::size_t(g.tensor_count()), 0.0);
    for (int r = 0; r < replays; ++r) {
      check_positions();
      events.resize(captured), at.resize(captured);
      for (int i = 0; i < g.partition_count(); ++i) {
        const partition_desc& q = g.partition(i);
        if (q.kind == partition_kind::capturable) {
          CTG_CHECK("profile", cudaGraphLaunch(execs[std::size_t(i)].get(), stream_));
          continue;
        }
        record(stream_, at, no_index);
        for (int s = q.first_step; s <= q.last_step; ++s)
          if (runs(g.node_at(s))) launch(g.node_at(s), stream_), record(stream_, at, g.node_at(s));
      }
      for (const position_guard& p : guards_) positions_[std::size_t(p.state)] += p.use.advance;
      CTG_CHECK("profile", cudaStreamSynchronize(stream_));
      for (std::size_t e = 1; e < events.size(); ++e) {
        if (at[e] == no_index) continue;
        float ms = 0;
        CTG_CHECK("profile", cudaEventElapsedTime(&ms, events[e - 1].get(), events[e].get()));
        total[std::size_t(at[e])] += 1000.0 * ms / replays;
      }
    }
    std::vector<node_time> out;
    for (int s = 0; s < g.step_count(); ++s)
      if (const int v = g.node_at(s); runs(v)) out.push_back({g.node(v).name, g.node(v).op->name, total[std::size_t(v)]});
    return out;
  }

  //! Zero-fills every state tensor of the graph (bound ones too) on the stream, and sets every
  //! position held in state to 0.
  void reset_state() {
    const plan<N>& g = *plan_;
    for (int v = 0; v < g.tensor_count(); ++v)
      if (g.node(v).kind == tensor_kind::state)
        CTG_CHECK(g.node(v).name, cudaMemsetAsync(pointers_[std::size_t(v)], 0, g.node(v).out.bytes(), stream_));
    for (const position_guard& p : guards_) positions_[std::size_t(p.state)] = 0;
  }

  //! The position held in state tensor `name` as the host follows it: its value when it was bound
  //! or allocated (0), plus what every run since advanced it by (ops::advance), or what
  //! set_position or sync_position said. Without a name: the graph's one position state.
  std::int64_t position(std::string_view name = {}) const { return positions_[std::size_t(position_state(name, "position"))]; }
  //! Writes n into the position state (on the stream) and follows it from there.
  void set_position(std::int64_t n, std::string_view name = {}) {
    const int v = position_state(name, "set_position");
    const node_desc& d = plan_->node(v);
    const std::int32_t n32 = std::int32_t(n);
    const void* from = d.out.dtype == dtype_id::i32 ? static_cast<const void*>(&n32) : static_cast<const void*>(&n);
    if (d.out.dtype == dtype_id::i32 && std::int64_t(n32) != n) throw runtime_error(d.name, "set_position", std::to_string(n) + " does not fit its i32");
    // From pageable memory: copied out before the call returns, so the locals may go.
    CTG_CHECK(d.name, cudaMemcpyAsync(pointers_[std::size_t(v)], from, size_of(d.out.dtype), cudaMemcpyHostToDevice, stream_));
    positions_[std::size_t(v)] = n;
  }
  //! Waits for the stream and reads the position state's value from the device, where something
  //! else moved it (another executor bound to the same state, your own copy).
  void sync_position(std::string_view name = {}) {
    const int v = position_state(name, "sync_position");
    CTG_CHECK("sync_position", cudaStreamSynchronize(stream_));
    positions_[std::size_t(v)] = read_position(v);
  }
  //! Follows the positions that `other` follows (its position states of the same names) from
  //! here on, without touching the device or waiting: for executors that share their state and
  //! run one after another on one stream (a plan family's members), where sync_position would wait.
  template <std::size_t M>
  void follow_positions(const executor<M>& other) {
    for (const position_guard& p : guards_) {
      const std::string_view n = plan_->node(p.state).name;
      for (const auto& q : other.guards_)
        if (other.plan_->node(q.state).name == n) {
          positions_[std::size_t(p.state)] = other.positions_[std::size_t(q.state)];
          break;
        }
    }
  }

  //! Waits for the stream, then asks every node whose op can find bad input on the device (an
  //! embedding's out-of-range token id) what the runs so far found: throws ctg::runtime_error naming
  //! the first such node and what it saw, and clears it, so the executor stays usable.
  void check() const {
    CTG_CHECK("check", cudaStreamSynchronize(stream_));
    const plan<N>& g = *plan_;
    for (int s = 0; s < g.step_count(); ++s)
      if (runs(g.node_at(s))) hooks_[std::size_t(g.node_at(s))].check(context(g.node_at(s), stream_));
  }

  //! Points a graph input, parameter or state tensor at new memory (a rebound position state is
  //! read from it). The nodes that read it are prepared again,
  //! and the captured partitions that read it captured again and their executables updated in
  //! place (cudaGraphExecUpdate): a one-time cost of one capture per such partition; `run()`
  //! stays one launch per partition.
  void rebind(const binding& b) {
    const int v = bind_one(b);
    const plan<N>& g = *plan_;
    for (int s = 0; s < g.step_count(); ++s) {  // views of the rebound tensor follow it
      const int w = g.node_at(s);
      if (g.view_owner_of(w) != w) pointers_[std::size_t(w)] = view_pointer(w);
    }
    for (int s = 0; s < g.step_count(); ++s)
      if (runs(g.node_at(s)) && g.launch_reads(g.node_at(s), v)) prepare(g.node_at(s));
    for (int i = 0; i < g.partition_count(); ++i) {
      const partition_desc& q = g.partition(i);
      if (q.kind != partition_kind::capturable || !captured_ || !reads(q, v)) continue;  // else captured at the first run
      execs_[std::size_t(i)] = capture(i, &execs_[std::size_t(i)]);
    }
    for (const position_guard& p : guards_)
      if (p.state == v) positions_[std::size_t(v)] = read_position(v);
  }

  //! Device (or pinned host) address of a tensor's data.
  void* data(std::string_view name) const {
    const int i = plan_->index_of(name);
    if (i < 0) throw runtime_error(name, "data", "no tensor of this name in the plan");
    if (plan_->fused_away(i))
      throw runtime_error(name, "data", "this tensor is computed inside another node's kernel (its fused group's, or its readers' prologues) and has no storage; make it a graph output, or plan with plan_options{.fuse = false}");
    return pointers_[std::size_t(i)];
  }
  template <class T>
  T* data(std::string_view name) const { return static_cast<T*>(data(name)); }

  //! A binding of each state tensor to this executor's memory: bind them into another executor
  //! (`instantiate<decode>(stream, weights.bindings(prefill.state_bindings()))`) and the two share
  //! one K/V cache and position, as a prefill plan and a decode plan of one model do.
  std::vector<binding> state_bindings() const {
    const plan<N>& g = *plan_;
    std::vector<binding> out;
    for (int v = 0; v < g.tensor_count(); ++v)
      if (g.node(v).kind == tensor_kind::state)
        out.push_back({g.node(v).name, pointers_[std::size_t(v)], g.node(v).out.dtype, g.node(v).out.bytes()});
    return out;
  }

  //! What node `name`'s op prepared (its `prepare` hook's result, made at instantiation and again
  //! when a rebind moves one of its inputs), e.g. a matmul's `ctg::matmul_state`, which says which
  //! kernel runs the node and what each took: `ex.prepared_state<ctg::matmul_state>("fc").kernel`.
  //! Throws when the node prepared nothing of type State.
  template <class State>
  const State& prepared_state(std::string_view name) const {
    const int i = plan_->index_of(name);
    if (i < 0) throw runtime_error(name, "prepared_state", "no tensor of this name in the plan");
    const State* s = hooks_[std::size_t(i)].template state<State>();
    if (s == nullptr) throw runtime_error(name, "prepared_state", "this node's op prepared no state of the type asked for");
    return *s;
  }

  //! The graph captured for partition `i` (null for a fallback region, or before capture), to inspect what was
  //! captured (cudaGraphGetNodes, cudaGraphDebugDotPrint). The executor owns it.
  cudaGraph_t captured_graph(int i) const {
    if (i < 0 || i >= plan_->partition_count()) throw runtime_error("captured_graph", "captured_graph", "no partition " + std::to_string(i));
    return graphs_[std::size_t(i)].get();
  }

  const plan<N>& plan_of() const noexcept { return *plan_; }
  cudaStream_t stream() const noexcept { return stream_; }

 private:
  template <std::size_t>
  friend class executor;  // follow_positions reads another's

  int bind_one(const binding& b) {
    const plan<N>& g = *plan_;
    const int v = plan_->index_of(b.name);
    if (v < 0) throw runtime_error(b.name, "bind", "no graph input or parameter has this name");
    const node_desc& d = g.node(v);
    if (d.kind == tensor_kind::node) throw runtime_error(b.name, "bind", "this tensor is a node's output, not a graph input, parameter or state tensor");
    if (b.dtype != d.out.dtype)
      throw runtime_error(b.name, "bind", "dtype " + std::string(name_of(b.dtype)) + " bound to a " + std::string(name_of(d.out.dtype)) + " tensor");
    if (b.bytes < d.out.bytes())
      throw runtime_error(b.name, "bind", std::to_string(b.bytes) + " bytes bound to a tensor of " + std::to_string(d.out.bytes()) + " bytes");
    if (reinterpret_cast<std::uintptr_t>(b.data) % 16 != 0)
      throw runtime_error(b.name, "bind", "the pointer is not 16-byte aligned (kernels use 16-byte vector loads)");
    // The plan lets a host op read a graph input or parameter directly: that memory must be the host's.
    for (int w = 0; w < g.tensor_count(); ++w) {
      const node_desc& r = g.node(w);
      if (r.kind != tensor_kind::node || r.op->traits.where != executes_on::host) continue;
      for (int k = 0; k < r.input_count; ++k) {
        if (g.view_owner_of(r.inputs[k]) != v) continue;
        cudaPointerAttributes a{};
        CTG_CHECK(b.name, cudaPointerGetAttributes(&a, b.data));
        if (a.type == cudaMemoryTypeDevice)
          throw runtime_error(b.name, "bind", "host op '" + std::string(r.name) + "' reads this tensor on the host, but device memory was bound; bind host memory (pinned or not)");
      }
    }
    pointers_[std::size_t(v)] = b.data;
    return v;
  }


  //! The nodes whose op says what it does with a position (`position_use`), where that position
  //! is held in state the host can follow; each position's value read once.
  void guard_positions() {
    const plan<N>& g = *plan_;
    positions_.assign(std::size_t(g.tensor_count()), 0);
    for (int s = 0; s < g.step_count(); ++s) {
      const int v = g.node_at(s);
      const node_hook::position_fn f = hooks_[std::size_t(v)].position();
      if (!f || g.fused_away(v)) continue;  // a cache write its attention runs is guarded still
      tensor_desc in[max_inputs]{};
      const position_use use = f(g.rule_inputs(v, in));
      if (use.input < 0 || use.input >= g.node(v).input_count) continue;
      const int p = g.view_owner_of(g.node(v).inputs[use.input]);
      if (g.node(p).kind != tensor_kind::state) continue;  // a graph input: the device checks it
      guards_.push_back({v, p, use});
    }
    moved_.assign(std::size_t(g.tensor_count()), 0);
    if (guards_.empty()) return;
    CTG_CHECK("instantiate", cudaDeviceSynchronize());  // what bound state holds, written on any stream
    for (const position_guard& p : guards_) positions_[std::size_t(p.state)] = read_position(p.state);
  }

  std::int64_t read_position(int v) const {
    const node_desc& d = plan_->node(v);
    std::int64_t n = 0;
    std::int32_t n32 = 0;
    void* to = d.out.dtype == dtype_id::i32 ? static_cast<void*>(&n32) : static_cast<void*>(&n);
    CTG_CHECK(d.name, cudaMemcpy(to, pointers_[std::size_t(v)], size_of(d.out.dtype), cudaMemcpyDeviceToHost));
    return d.out.dtype == dtype_id::i32 ? std::int64_t(n32) : n;
  }

  //! The state tensor `name` names (or the graph's one position state), which must hold a
  //! position that some node uses.
  int position_state(std::string_view name, std::string_view call) const {
    int found = no_index;
    for (const position_guard& p : guards_) {
      const std::string_view n = plan_->node(p.state).name;
      if (!name.empty() && n != name) continue;
      if (found >= 0 && found != p.state)
        throw runtime_error("executor", call, "the graph holds several positions in state ('" + std::string(plan_->node(found).name) + "', '" + std::string(n) + "'): name one");
      found = p.state;
    }
    if (found < 0)
      throw runtime_error(name.empty() ? std::string_view("executor") : name, call, name.empty() ? "the graph holds no position in state (no ops::cache_write or ops::advance reads one)" : "no position held in state has this name");
    return found;
  }

  //! Before a run: each write (or read) at a position held in state, at the position it will see
  //! (the advances before it in this run counted), stays inside its state; else throws naming it.
  void check_positions() {
    for (const position_guard& p : guards_) moved_[std::size_t(p.state)] = 0;
    for (const position_guard& p : guards_) {
      const std::int64_t at = positions_[std::size_t(p.state)] + moved_[std::size_t(p.state)];
      if (p.use.extent > 0 && (at < 0 || at > p.use.limit - p.use.extent)) {
        const plan<N>& g = *plan_;
        const int cache = g.view_owner_of(p.node);  // what a write writes; a read names itself
        throw runtime_error(g.node(p.node).name, "run",
                            "this run would use " + std::to_string(p.use.extent) + " row(s) from position " + std::to_string(at) + " of " +
                                (cache != p.node ? "'" + std::string(g.node(cache).name) + "', which holds " : std::string("a cache of ")) +
                                std::to_string(p.use.limit) + " (position '" + std::string(g.node(p.state).name) +
                                "'); nothing was launched. Call reset_state() or set_position(n) to go on");
      }
      moved_[std::size_t(p.state)] += p.use.advance;
    }
  }

  //! Where view v starts: in its owner's storage, at its offset there (a multi-output node's
  //! later outputs).
  void* view_pointer(int v) const {
    std::byte* base = static_cast<std::byte*>(pointers_[std::size_t(plan_->view_owner_of(v))]);
    return base ? base + plan_->offset_in_buffer(v) : nullptr;
  }

  //! Whether node v runs a launch of its own (plan::launches).
  bool runs(int v) const { return plan_->launches(v); }
  //! Whether a launch of partition q reads tensor v's storage.
  bool reads(const partition_desc& q, int v) const {
    for (int s = q.first_step; s <= q.last_step; ++s)
      if (runs(plan_->node_at(s)) && plan_->launch_reads(plan_->node_at(s), v)) return true;
    return false;
  }

  //! What node v's hooks see, launching on `stream`: its launch as the plan describes it, with
  //! this executor's pointers.
  launch_context context(int v, cudaStream_t stream) const {
    const plan<N>& g = *plan_;
    const launch_desc l = g.launch(v);
    launch_context c;
    c.stream = stream;
    c.node = &g.node(v);
    for (int k = 0; k < l.read_count; ++k) {  // a fused root reads its group's leaves
      c.input_fixed[k] = l.read_fixed[k];
      c.inputs[k] = pointers_[std::size_t(l.reads[k])];
      c.input_desc[k] = g.node(l.reads[k]).out;
    }
    c.input_count = l.read_count;
    c.output = pointers_[std::size_t(v)];
    for (int k = 0; k < l.cache_write_count; ++k) {  // the cache writes it runs: their rows
      const launch_desc::cache_write& w = l.cache_writes[k];
      cache_write_launch& x = c.cache_writes[c.cache_write_count++];
      x = {&g.node(w.node), pointers_[std::size_t(w.rows)], g.node(w.rows).out, nullptr, {}, pointers_[std::size_t(w.node)]};
      if (w.rotary_positions >= 0)
        x.rotary_positions = pointers_[std::size_t(w.rotary_positions)], x.rotary_positions_desc = g.node(w.rotary_positions).out;
    }
    for (int k = 0; k < l.sibling_count; ++k) {  // a lead computes its siblings' outputs too
      const int x = l.siblings[k].node, w = g.node(x).inputs[1];
      c.siblings[c.sibling_count++] = {&g.node(x), pointers_[std::size_t(w)], g.node(w).out, l.siblings[k].w_fixed, pointers_[std::size_t(x)]};
    }
    c.cublas_lt = lt_.get();
    c.workspace = memory_.workspace + std::size_t(g.branch_of(v)) * matmul_workspace_bytes;  // its branch's
    c.workspace_bytes = matmul_workspace_bytes;
#if CTGRAPH_NCCL
    c.collectives = &collectives_;
#endif
    return c;
  }

  void prepare(int v) { hooks_[std::size_t(v)].prepare(context(v, stream_)); }
  void launch(int v, cudaStream_t stream) const { hooks_[std::size_t(v)].launch(context(v, stream)); }

  std::byte* symmetric_arena_base() const noexcept {
#if CTGRAPH_NCCL
    return collectives_.arena();
#else
    return nullptr;  // no collectives, so no symmetric buffers
#endif
  }

  //! Captures partition i into a new executable, or updates `update` in place when it can; keeps
  //! the captured graph. With parallel branches, each node's work depends on the work of the
  //! nodes it reads and of the node before it on its branch (of every branch, for a node that
  //! joins them), as the plan's happens-before order says (passes/branches.hpp), and on nothing
  //! else; a node that launches nothing passes its dependencies on.
  graph_exec capture(int i, graph_exec* update) {
    const plan<N>& g = *plan_;
    const partition_desc& q = g.partition(i);
    cudaStream_t cs = capture_stream_.get();
    const std::string& what = names_[std::size_t(i)];
    const bool parallel = q.branches > 1;
    std::vector<std::vector<cudaGraphNode_t>> work(parallel ? std::size_t(q.node_count()) : 0);  // by step in q
    int tail[max_branches];
    for (int& t : tail) t = no_index;
    auto depend = [&](int v) {
      std::vector<cudaGraphNode_t> deps;
      auto add = [&](int t) {
        if (t < q.first_step) return;  // an earlier partition, finished before this graph starts
        for (cudaGraphNode_t n : work[std::size_t(t - q.first_step)])
          if (std::find(deps.begin(), deps.end(), n) == deps.end()) deps.push_back(n);
      };
      if (detail::joins_branches(g.node(v))) {
        for (int b = 0; b < q.branches; ++b) add(tail[b]);
      } else {
        for (int k = 0; k < g.node(v).input_count; ++k) add(g.step_of(g.node(v).inputs[k]));
        if (g.sibling_lead_of(v) >= 0) add(g.step_of(g.sibling_lead_of(v)));  // its lead's launch computes it
        add(tail[g.branch_of(v)]);
      }
      set_capture_frontier(cs, deps, what);
    };
    graph_owner graph = ctg::capture(cs, what, [&] {
      for (int s = q.first_step; s <= q.last_step; ++s) {
        const int v = g.node_at(s);
        if (parallel) depend(v);
        if (runs(v)) {
          launch(v, cs);
          if (!capture_intact(cs))
            throw runtime_error(g.node(v).name, "capture",
                                "the op broke stream capture (it synchronises or allocates). Mark it not capturable: op_traits::capturable = false");
        }
        if (!parallel) continue;
        work[std::size_t(s - q.first_step)] = capture_frontier(cs, what);
        if (detail::joins_branches(g.node(v))) {
          for (int& t : tail) t = s;
        } else {
          tail[g.branch_of(v)] = s;
        }
      }
    });
    if (update && update->get()) {
      cudaGraphExecUpdateResultInfo info{};
      if (cudaGraphExecUpdate(update->get(), graph.get(), &info) == cudaSuccess) {
        graphs_[std::size_t(i)] = std::move(graph);
        return std::move(*update);
      }
      (void)cudaGetLastError();  // clear the failed update; instantiate afresh below
    }
    graph_exec exec = instantiate_graph(graph, names_[std::size_t(i)]);
    graphs_[std::size_t(i)] = std::move(graph);
    return exec;
  }

  // Declaration order is teardown order, reversed: graph executables and graphs first, then the
  // collectives (device communicator, window deregistration, its memory: NCCL's required order).
  std::unique_ptr<const owned_plan<N>> plan_;  // its own copy: a builder's plan may not outlive it
  cudaStream_t stream_ = nullptr;
  owned_stream capture_stream_;
  allocation device_, pinned_, workspace_, state_;
  shared_memory memory_;  // the arenas above, or a plan family's
  std::vector<allocation> opaque_;
  cublas_lt lt_;
  std::vector<node_hook> hooks_;  // after lt_: prepared state goes before the handle it was made with
#if CTGRAPH_NCCL
  symmetric_collectives collectives_;
#endif
  std::vector<void*> pointers_;
  //! A node that uses a position held in state tensor `state`, in schedule order.
  struct position_guard {
    int node, state;
    position_use use;
  };
  std::vector<position_guard> guards_;
  std::vector<std::int64_t> positions_;  // by tensor: each position state's value, as the host follows it
  std::vector<std::int64_t> moved_;      // by tensor: check_positions' scratch (run() allocates nothing)
  std::vector<std::string> names_;
  std::vector<graph_owner> graphs_;
  std::vector<graph_exec> execs_;
  bool captured_ = false;  // capture_partitions() has run
};

//! The executor of graph G: `auto ex = ctg::instantiate<g>(stream, {ctg::bind("x", x, n), ...});`
//! Graphs with collectives also take a `ctg::communicator{comm}`.
template <class G, plan_options Options = plan_options{}>
auto instantiate(cudaStream_t stream, const std::vector<binding>& bindings, communicator comm = {}) {
  static constexpr auto p = make_plan<G, Options>();
  static_assert(CTGRAPH_NCCL || !detail::has_collectives(p), "ctgraph: this plan has collectives, which need NCCL >= 2.28.9, and this build has none (CTGRAPH_NCCL is 0). Build with NCCL 2.28.9 or newer (CMake finds it through NCCL_ROOT), or plan without collectives.");
  return executor<std::remove_cvref_t<decltype(p)>::graph_capacity>(p, hooks_of<G, Options>(p), stream, bindings, comm);
}
template <class G, plan_options Options = plan_options{}>
auto instantiate(cudaStream_t stream, std::initializer_list<binding> bindings, communicator comm = {}) {
  return instantiate<G, Options>(stream, std::vector<binding>(bindings), comm);
}

namespace detail {
//! One static_assert per cause for binding B of graph G.
template <auto& G, class B, class... All>
constexpr bool check_binding() {
  constexpr int v = G.index_of(B::name.view());
  constexpr int times = ((All::name.view() == B::name.view() ? 1 : 0) + ...);
  if constexpr (v < 0) {
    static_assert(v >= 0, "ctgraph: this binding names no tensor of the graph (its name is in named_binding<\"...\"> above). Check the name, or bind a tensor type: ctg::bind<T>(ptr).");
    return false;
  } else if constexpr (G.nodes[v].kind == tensor_kind::node) {
    static_assert(G.nodes[v].kind != tensor_kind::node, "ctgraph: this binding names a node's output (named_binding<\"...\"> above); only graph inputs and parameters are bound.");
    return false;
  } else if constexpr (G.nodes[v].out.dtype != dtype_of<typename B::element>()) {
    static_assert(G.nodes[v].out.dtype == dtype_of<typename B::element>(), "ctgraph: the pointer's element type is not the dtype of the graph input or parameter it binds (named_binding<\"...\", T> above). Pass a pointer to its dtype.");
    return false;
  } else if constexpr (times > 1) {
    static_assert(times == 1, "ctgraph: this graph input or parameter is bound twice (named_binding<\"...\"> above). Bind each once.");
    return false;
  } else {
    return true;
  }
}

template <fixed_string Name>
struct unbound_tensor {
  static_assert(Name.size() == 0 && Name.size() != 0, "ctgraph: a graph input or parameter is not bound (its name is in unbound_tensor<\"...\"> above). Bind it: ctg::bind<T>(ptr) or ctg::bind<\"name\">(ptr).");
};

//! The graph inputs and parameters of G that no binding names (state tensors may be left
//! unbound: the executor allocates them).
template <auto& G, class... B>
constexpr auto unbound() {
  struct list {
    int count = 0;
    int index[std::remove_cvref_t<decltype(G)>::capacity]{};
  } r;
  for (int v = 0; v < G.tensor_count; ++v)
    if ((G.nodes[v].kind == tensor_kind::input || G.nodes[v].kind == tensor_kind::parameter) &&
        ((B::name.view() != G.nodes[v].name) && ...))
      r.index[r.count++] = v;
  return r;
}
template <auto& G, class... B, std::size_t... U>
constexpr bool all_bound(std::index_sequence<U...>) {
  constexpr auto missing = unbound<G, B...>();
  return ((sizeof(unbound_tensor<name_at<G, missing.index[U]>()>) > 0) && ... && true);
}
}  // namespace detail

//! The executor of graph G with bindings checked at compile time:
//! `ctg::instantiate<g>(stream, ctg::bindings(ctg::bind<x>(dx), ctg::bind<w>(dw)))`. Each binding
//! must name a graph input, parameter or state tensor of G with the pointer's dtype, once; no
//! graph input or parameter may be left out (a state tensor left out is allocated).
template <class G, plan_options Options = plan_options{}, class... B>
auto instantiate(cudaStream_t stream, const boost::hana::tuple<B...>& bound, communicator comm = {}) {
  constexpr auto& g = detail::planner<G, Options>::lived;
  std::vector<binding> list;
  // A check that fails has asserted already (one error per mistake); the unbound ones are
  // looked for only when every binding names a tensor.
  constexpr bool valid = g.error.code == errc::ok && (detail::check_binding<g, B, B...>() && ... && true);
  if constexpr (valid) {
    static_assert(detail::all_bound<g, B...>(std::make_index_sequence<std::size_t(detail::unbound<g, B...>().count)>{}));
    boost::hana::for_each(bound, [&](const auto& b) {
      constexpr int v = g.index_of(std::remove_cvref_t<decltype(b)>::name.view());
      list.push_back({g.nodes[v].name, b.data, g.nodes[v].out.dtype, g.nodes[v].out.bytes()});
    });
  }
  return instantiate<G, Options>(stream, list, comm);
}

//! The executor of graph_value V (graph/graph_value.hpp), which lists its ops
//! (`graph_value<N, op_list<...>>`): `auto ex = ctg::instantiate<v>(stream, {ctg::bind("x", x, n), ...});`
//! or with bindings checked at compile time, as for a graph of types.
template <auto& V, plan_options Options = plan_options{}>
  requires requires { V.tensor_count(); }
auto instantiate(cudaStream_t stream, const std::vector<binding>& bindings, communicator comm = {}) {
  return instantiate<detail::value_graph<V>, Options>(stream, bindings, comm);
}
template <auto& V, plan_options Options = plan_options{}>
  requires requires { V.tensor_count(); }
auto instantiate(cudaStream_t stream, std::initializer_list<binding> bindings, communicator comm = {}) {
  return instantiate<detail::value_graph<V>, Options>(stream, std::vector<binding>(bindings), comm);
}
template <auto& V, plan_options Options = plan_options{}, class... B>
  requires requires { V.tensor_count(); }
auto instantiate(cudaStream_t stream, const boost::hana::tuple<B...>& bound, communicator comm = {}) {
  return instantiate<detail::value_graph<V>, Options>(stream, bound, comm);
}

}  // namespace ctg
