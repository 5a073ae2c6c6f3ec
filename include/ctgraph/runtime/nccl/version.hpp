#pragma once
//! The NCCL library found at run time may be older than the headers ctgraph was built with (the
//! loader picks whatever libnccl.so.2 comes first). Symmetric memory and the device API need
//! 2.28.9: 2.28.3 refuses symmetric memory on a one-rank communicator and has an older device
//! API. `require_nccl` checks the running library, not NCCL_VERSION_CODE.
#include <nccl.h>

#include <string>
#include <string_view>

#include <ctgraph/runtime/nccl/error.hpp>

namespace ctg {

namespace detail {
//! "2.28.9" from a version code (NCCL_VERSION: X*1000+Y*100+Z up to 2.8, X*10000+Y*100+Z after).
inline std::string nccl_version_string(int code) {
  const bool old = code < 10000;
  const int major = old ? code / 1000 : code / 10000;
  const int minor = old ? code % 1000 / 100 : code % 10000 / 100;
  const int patch = code % 100;
  return std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(patch);
}
}  // namespace detail

//! The version code of the NCCL library loaded at run time (ncclGetVersion).
inline int nccl_runtime_version() {
  int v = 0;
  CTG_CHECK("instantiate", ncclGetVersion(&v));
  return v;
}

//! Throws ctg::runtime_error("instantiate", "ncclGetVersion", ...) unless the NCCL library
//! loaded at run time is at least major.minor.patch; `what` names the feature that needs it.
inline void require_nccl(int major, int minor, int patch, std::string_view what) {
  const int found = nccl_runtime_version();
  const int need = NCCL_VERSION(major, minor, patch);  // nccl.h's encoding of a version code
  if (found < need)
    throw runtime_error("instantiate", "ncclGetVersion",
                        std::string(what) + " needs NCCL " + detail::nccl_version_string(need) + " or newer; found " +
                            detail::nccl_version_string(found) + " at run time (built against " +
                            detail::nccl_version_string(NCCL_VERSION_CODE) + "). Put a newer libnccl.so.2 first on the library path (LD_LIBRARY_PATH)");
}

//! The oldest NCCL that ctgraph's symmetric memory and device-API paths accept.
inline constexpr int nccl_symmetric_major = 2, nccl_symmetric_minor = 28, nccl_symmetric_patch = 9;

//! `require_nccl(2, 28, 9, what)`.
inline void require_nccl_symmetric(std::string_view what) {
  require_nccl(nccl_symmetric_major, nccl_symmetric_minor, nccl_symmetric_patch, what);
}

}  // namespace ctg
