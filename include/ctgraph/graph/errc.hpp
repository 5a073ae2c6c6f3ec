#pragma once
//! Why a graph is rejected. Passes return a `status`; only `make_plan` turns it into a
//! static_assert, so the same passes also run at run time.
#include <cstdint>
#include <string_view>

namespace ctg {

enum class errc : std::uint8_t {
  ok,
  empty_graph,         // no node to run
  duplicate_name,      // two different tensors with one name
  unknown_tensor,      // ref<"name"> names no tensor of the graph
  cycle,               // refs close a loop
  wrong_arity,         // op got the wrong number of inputs
  dtype_mismatch,      // inputs' dtypes do not fit the op
  shape_mismatch,      // inputs' shapes do not fit the op
  inner_dim_mismatch,  // matmul: A[M,K] x B[K',N] with K != K'
  element_count_mismatch,  // reshape changes the number of elements
  in_place_not_allowed,    // in-place requested, op does not allow it
  in_place_conflict,       // in-place requested, but the input is read later or not planned
  collective_dtype,        // a collective's dtype has no NCCL symmetric kernel
  view_of_opaque,          // a view of an opaque op's output
  not_capturable,          // a non-capturable node where the user asked for one capturable partition
  capacity,                // a run-time builder has no room for the inserted copies
  host_reads_device,       // a host op reads a tensor that is not in pinned host memory
  ill_formed,              // the node's type was rejected by a static_assert already
};

//! A pass result: what went wrong and at which node (index into the flat graph).
struct status {
  errc code = errc::ok;
  int node = -1;
  int other = -1;  // a second node involved (the earlier tensor of a duplicate name, a later reader)
  constexpr explicit operator bool() const { return code == errc::ok; }
};

constexpr std::string_view describe(errc e) {
  switch (e) {
    case errc::ok: return "ok";
    case errc::empty_graph: return "the graph has no node to run";
    case errc::duplicate_name: return "two different tensors have the same name";
    case errc::unknown_tensor: return "a ref<> names no tensor of the graph";
    case errc::cycle: return "the graph has a cycle";
    case errc::wrong_arity: return "the op got the wrong number of inputs";
    case errc::dtype_mismatch: return "the inputs' dtypes do not fit the op";
    case errc::shape_mismatch: return "the inputs' shapes do not fit the op";
    case errc::inner_dim_mismatch: return "matmul inner dimensions differ";
    case errc::element_count_mismatch: return "reshape changes the number of elements";
    case errc::in_place_not_allowed: return "in-place requested on an op that does not allow it";
    case errc::in_place_conflict: return "in-place requested, but its input is read later or not planned";
    case errc::collective_dtype: return "the collective's dtype has no NCCL symmetric kernel (sum: f32, f16, bf16)";
    case errc::view_of_opaque: return "a view of an opaque op's output";
    case errc::not_capturable: return "a node that cannot be captured, in a graph planned as one capturable partition";
    case errc::capacity: return "the graph builder's capacity is too small for the inserted copies";
    case errc::host_reads_device: return "a host op reads a tensor that is not in pinned host memory";
    case errc::ill_formed: return "the node's type is ill-formed";
  }
  return "?";
}

}  // namespace ctg
