#pragma once
//! The executor of a plan family (plan/plan_family.hpp): the arenas and the cuBLASLt workspace
//! allocated once, for the largest member; each member's partitions captured into graphs of
//! their own that share them, at instantiation or (family_options::capture =
//! partition_capture::on_first_use) in the first run(n) that picks the member; `run(n)` replays
//! the smallest member that holds n rows. A size above the largest member is an error, never an
//! eager fallback.
//!
//! State tensors (ctg::state) are the family's: each one allocated once, at the largest member's
//! extents (where the bindings do not name it), zero-filled, and bound to every member, a smaller
//! member using its leading rows (plan_family::state_check); so is each position held in state,
//! which the family follows on the host across members (reset_state, position, set_position,
//! sync_position). A KV cache that the member of size 4 wrote is what the member of size 8 reads.
//!
//!   auto ex = ctg::instantiate_family<family>(stream, {ctg::bind("x", x, rows * 256), ...});
//!   ex.run(5);  // the member of size 8; rows 5..7 of every input that grows with the size are zeroed
//!   auto lazy = ctg::instantiate_family<family>(stream, bindings, {.capture = ctg::partition_capture::on_first_use});
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <ctgraph/plan/plan_family.hpp>
#include <ctgraph/runtime/executor.hpp>

namespace ctg {

//! How instantiate_family makes its executor.
struct family_options {
  //! When each member's partitions are captured: all at instantiation (start-up pays for every
  //! member), or each member's in the first run(n) that picks it (that run pays for its member
  //! alone; members never run are never captured). Arenas, state and the nodes' prepare
  //! (a matmul's kernel choice) are the family's from instantiation either way.
  partition_capture capture = partition_capture::at_instantiation;
};

template <class Family, class... Members>
class family_executor {
 public:
  static constexpr int member_count = int(sizeof...(Members));

  //! Members of the family, by index: their plans, data and captured graphs.
  template <int I>
  const auto& member() const noexcept { return std::get<I>(members_); }

  //! Replays the smallest member that holds n rows. The rows of the inputs that grow with the
  //! size, from n up to the member's size, are set to zero first (padding of defined contents).
  //! Where the member refuses the run (a write past a state's end: executor::run), it launches
  //! nothing, though the padding rows may have been zeroed.
  void run(std::int64_t n) {
    const int m = Family::member_for(n);
    if (n < 1 || m < 0)
      throw runtime_error("plan family", "run", std::to_string(n) + " rows asked for; the family's members hold 1 to " +
                                                    std::to_string(Family::sizes[member_count - 1]) + ". Add a larger size to the family");
    if (m != holder_) {  // the family's positions: those of the member that ran or moved them last
      visit(m, [&](auto& e) { visit(holder_, [&](const auto& h) { e.follow_positions(h); }); });
      holder_ = m;
    }
    for (const padding& p : padding_[std::size_t(m)])
      if (n < Family::sizes[m])
        CTG_CHECK(p.name, cudaMemsetAsync(static_cast<std::byte*>(p.data) + std::size_t(n) * p.row_bytes, 0,
                                          std::size_t(Family::sizes[m] - n) * p.row_bytes, stream_));
    visit(m, [](auto& e) { e.run(); });
    last_ = m;
  }

  //! Zero-fills every state tensor (bound ones too) at the largest member's extents, on the
  //! stream, and sets every position held in state to 0.
  void reset_state() {
    visit(member_count - 1, [](auto& e) { e.reset_state(); });  // its state spans every member's
    holder_ = member_count - 1;
  }
  //! The position held in state tensor `name` (without a name: the one position), as the family
  //! follows it across its members' runs (executor::position).
  std::int64_t position(std::string_view name = {}) const {
    std::int64_t n = 0;
    visit(holder_, [&](const auto& e) { n = e.position(name); });
    return n;
  }
  //! Writes n into the position state (on the stream) for every member.
  void set_position(std::int64_t n, std::string_view name = {}) {
    visit(holder_, [&](auto& e) { e.set_position(n, name); });
  }
  //! Waits for the stream and reads the position state from the device (executor::sync_position).
  void sync_position(std::string_view name = {}) {
    visit(holder_, [&](auto& e) { e.sync_position(name); });
  }

  //! Waits for the stream, then asks every member what its runs found on the device
  //! (executor::check: a position out of range that the host could not follow): throws for the
  //! first member that found something, and clears it.
  void check() const {
    for (int m = 0; m < member_count; ++m) visit(m, [](const auto& e) { e.check(); });
  }

  //! Where tensor `name` is in the member that ran last (the first member before any run).
  void* data(std::string_view name) const {
    void* p = nullptr;
    visit(last_, [&](const auto& e) { p = e.data(name); });
    return p;
  }
  //! How many members have their partitions captured (all of them, but under
  //! partition_capture::on_first_use: those run so far).
  int captured_member_count() const {
    int n = 0;
    for (int m = 0; m < member_count; ++m) visit(m, [&](const auto& e) { n += e.captured(); });
    return n;
  }
  //! The member that ran last, and its size.
  int last_member() const noexcept { return last_; }
  std::int64_t last_size() const noexcept { return Family::sizes[last_]; }

  family_executor(cudaStream_t stream, const std::vector<binding>& bindings, family_options options = {})
      : stream_(stream),
        options_(options),
        memory_{allocation(allocation_kind::device, Family::arena_bytes(memory_class::device), "family device arena"),
                allocation(allocation_kind::pinned_host, Family::arena_bytes(memory_class::pinned_host), "family pinned host arena"),
                allocation(allocation_kind::device, matmul_workspace_bytes * std::size_t(Family::branch_count()), "family cuBLASLt workspace"),
                allocation()},
        members_(make_members(with_state(bindings), std::make_index_sequence<sizeof...(Members)>{})) {
    // Inputs that grow with the size: bytes proportional to it in every member. Not state: its
    // rows beyond n hold what earlier runs wrote.
    padding_.resize(std::size_t(member_count));
    for (const binding& b : bindings) {
      std::size_t row = 0;
      bool grows = true;
      for (int m = 0; m < member_count; ++m) {
        std::size_t bytes = 0;
        visit(m, [&](const auto& e) {
          const int v = e.plan_of().index_of(b.name);
          bytes = v >= 0 && e.plan_of().node(v).kind != tensor_kind::state ? e.plan_of().node(v).out.bytes() : 0;
        });
        if (m == 0) row = bytes / std::size_t(Family::sizes[0]);
        grows = grows && bytes != 0 && bytes == row * std::size_t(Family::sizes[m]);
      }
      if (!grows || member_count == 1 || row == 0) continue;
      for (int m = 0; m < member_count; ++m) padding_[std::size_t(m)].push_back({std::string(b.name), b.data, row});
    }
  }

 private:
  struct padding {
    std::string name;
    void* data;
    std::size_t row_bytes;
  };

  //! The bindings, and the state tensors they do not name: one allocation for them all, at the
  //! largest member's extents, zero-filled before any member is made, bound to every member.
  std::vector<binding> with_state(const std::vector<binding>& bindings) {
    std::vector<binding> all = bindings;
    for (const binding& b : detail::allocate_state(Family::template plan<Family::largest>, bindings, stream_, memory_.state, "family state"))
      all.push_back(b);
    return all;
  }

  template <std::size_t... I>
  std::tuple<Members...> make_members(const std::vector<binding>& bindings, std::index_sequence<I...>) {
    const shared_memory shared{memory_.device.bytes(), memory_.pinned.bytes(), memory_.workspace.bytes()};
    return std::tuple<Members...>(make_member<I>(bindings, shared)...);
  }
  template <std::size_t I>
  auto make_member(const std::vector<binding>& bindings, const shared_memory& shared) {
    constexpr std::int64_t size = Family::sizes[I];
    using G = typename Family::template graph_at<size>;
    constexpr auto& p = Family::template plan<size>;
    return std::tuple_element_t<I, std::tuple<Members...>>(p, hooks_of<G>(p), stream_, bindings, communicator{}, &shared, options_.capture);
  }

  template <class Fn>
  void visit(int m, Fn&& fn) const { visit_in(*this, m, fn, std::make_index_sequence<sizeof...(Members)>{}); }
  template <class Fn>
  void visit(int m, Fn&& fn) { visit_in(*this, m, fn, std::make_index_sequence<sizeof...(Members)>{}); }
  template <class Self, class Fn, std::size_t... I>
  static void visit_in(Self& self, int m, Fn& fn, std::index_sequence<I...>) {
    ((int(I) == m ? (void)fn(std::get<I>(self.members_)) : (void)0), ...);
  }

  struct memory {
    allocation device, pinned, workspace, state;
  };
  cudaStream_t stream_ = nullptr;
  family_options options_;
  memory memory_;  // before the members, which use it
  std::tuple<Members...> members_;
  std::vector<std::vector<padding>> padding_;  // by member
  int last_ = 0;
  int holder_ = 0;  // the member whose followed positions are the family's
};

namespace detail {
template <class Family, std::size_t... I>
auto family_executor_type(std::index_sequence<I...>)
    -> family_executor<Family, executor<std::remove_cvref_t<decltype(Family::template plan<Family::sizes[I]>)>::graph_capacity>...>;
}  // namespace detail

//! The executor of plan family Family: `ctg::instantiate_family<family>(stream, {ctg::bind(...), ...})`,
//! with each input bound to memory for the largest member;
//! `{.capture = ctg::partition_capture::on_first_use}` captures each member in its first run.
template <class Family>
auto instantiate_family(cudaStream_t stream, const std::vector<binding>& bindings, family_options options = {}) {
  static_assert(Family::ok(), "ctgraph: a member of this plan family was rejected; its errors are reported above.");
  if constexpr (!Family::ok() || !family_shares_state<Family>) {
    return;  // reported above: by the member's plan, or by family_shares_state
  } else {
    using E = decltype(detail::family_executor_type<Family>(std::make_index_sequence<std::size_t(Family::size_count)>{}));
    return E(stream, bindings, options);
  }
}
template <class Family>
auto instantiate_family(cudaStream_t stream, std::initializer_list<binding> bindings, family_options options = {}) {
  return instantiate_family<Family>(stream, std::vector<binding>(bindings), options);
}

}  // namespace ctg
