#pragma once
//! NCCL results become `ctg::runtime_error`s too: with this header included, `CTG_CHECK(node,
//! ncclCall(...))` throws on anything but `ncclSuccess`, naming the node, the call, NCCL's
//! string for the result and NCCL's last error message (ncclGetLastError).
//! Communicators are blocking (the default config), so `ncclInProgress` is an error here too.
#include <nccl.h>

#include <string>
#include <string_view>

#include <ctgraph/runtime/error.hpp>

namespace ctg::detail {

//! NCCL's name for a result, then its last error message when it has one.
inline std::string nccl_message(ncclResult_t r) {
  std::string m = ncclGetErrorString(r);
  // ncclGetLastError ignores its argument in 2.28 (the message is per thread); null is accepted.
  if (const char* last = ncclGetLastError(nullptr); last && *last) m += std::string(" (") + last + ")";
  return m;
}

inline void check(ncclResult_t r, std::string_view node, const char* call) {
  if (r != ncclSuccess) throw runtime_error(node, call, nccl_message(r));
}

}  // namespace ctg::detail
