#pragma once
//! The symmetric arena: one `ncclMemAlloc` buffer registered as a symmetric NCCL window
//! (`NCCL_WIN_COLL_SYMMETRIC`), so that every rank can address every peer's copy at the same
//! offset (`ncclGetLsaPointer(window, offset, peer)` in device code) and `ncclAllReduce` can take
//! NCCL's symmetric kernels.
//!
//! Constructing and destroying one are collective host calls on the communicator: every rank
//! must make them in the same order with the same size, outside any stream capture.
//! Destroy CUDA graphs that use the window, and the device communicator, before the arena.
//!
//! Sizes: `ncclMemAlloc` rounds an allocation up to the device's allocation granularity (2 MiB on
//! H100 and H200) and returns a start aligned to it; windows must start 4096-byte aligned
//! (NCCL_WIN_REQUIRED_ALIGNMENT). The arena asks for, and registers, the requested size rounded
//! up to that granularity, queried from the driver, so `bytes()` is the whole usable window.
#include <cuda.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include <ctgraph/runtime/memory.hpp>
#include <ctgraph/runtime/nccl/error.hpp>
#include <ctgraph/runtime/nccl/version.hpp>

namespace ctg {

//! The granularity ncclMemAlloc rounds to on the current device: the driver's recommended
//! granularity for device memory (cuMemGetAllocationGranularity, reached through the runtime's
//! driver entry point, so nothing links libcuda), and at least a window's alignment.
inline std::size_t symmetric_granularity() {
  using query_fn = CUresult (*)(std::size_t*, const CUmemAllocationProp*, CUmemAllocationGranularity_flags);
  void* entry = nullptr;
  cudaDriverEntryPointQueryResult found{};
  CTG_CHECK("instantiate", cudaGetDriverEntryPointByVersion("cuMemGetAllocationGranularity", &entry, 12000, cudaEnableDefault, &found));
  if (found != cudaDriverEntryPointSuccess || entry == nullptr)
    throw runtime_error("instantiate", "cudaGetDriverEntryPointByVersion", "the driver has no cuMemGetAllocationGranularity");
  int device = 0;
  CTG_CHECK("instantiate", cudaGetDevice(&device));
  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = device;
  std::size_t granularity = 0;
  if (reinterpret_cast<query_fn>(entry)(&granularity, &prop, CU_MEM_ALLOC_GRANULARITY_RECOMMENDED) != CUDA_SUCCESS || granularity == 0)
    throw runtime_error("instantiate", "cuMemGetAllocationGranularity", "no granularity for device memory on device " + std::to_string(device));
  return std::max<std::size_t>(granularity, NCCL_WIN_REQUIRED_ALIGNMENT);
}

//! `bytes` rounded up to `granularity`.
constexpr std::size_t symmetric_arena_size(std::size_t bytes, std::size_t granularity) {
  return (bytes + granularity - 1) / granularity * granularity;
}

//! Move-only owner of one symmetric window and its memory (nothing for zero bytes).
class symmetric_arena {
 public:
  symmetric_arena() = default;
  //! ncclMemAlloc, then ncclCommWindowRegister(..., NCCL_WIN_COLL_SYMMETRIC). Collective: call it
  //! on every rank, in the same order, with the same size. Throws ctg::runtime_error naming
  //! "instantiate" and the call; leaks nothing. Counts one allocation.
  symmetric_arena(ncclComm_t comm, std::size_t bytes) : comm_(comm) {
    if (bytes == 0) return;
    bytes_ = symmetric_arena_size(bytes, symmetric_granularity());
    if (comm == nullptr) throw runtime_error("instantiate", "symmetric_arena", "the communicator is null");
    require_nccl_symmetric("symmetric memory (ncclCommWindowRegister with NCCL_WIN_COLL_SYMMETRIC)");
    CTG_CHECK("instantiate", ncclMemAlloc(&ptr_, bytes_));
    if (reinterpret_cast<std::uintptr_t>(ptr_) % NCCL_WIN_REQUIRED_ALIGNMENT != 0) {
      ncclMemFree(std::exchange(ptr_, nullptr));
      throw runtime_error("instantiate", "ncclMemAlloc",
                          "returned a pointer that is not " + std::to_string(NCCL_WIN_REQUIRED_ALIGNMENT) +
                              "-byte aligned; a symmetric window must start there");
    }
    const ncclResult_t r = ncclCommWindowRegister(comm, ptr_, bytes_, &window_, NCCL_WIN_COLL_SYMMETRIC);
    if (r != ncclSuccess) {
      const std::string what = detail::nccl_message(r);  // before ncclMemFree can overwrite it
      ncclMemFree(std::exchange(ptr_, nullptr));
      window_ = nullptr;
      throw runtime_error("instantiate", "ncclCommWindowRegister", what);
    }
    ++detail::runtime_allocations();
  }
  symmetric_arena(symmetric_arena&& o) noexcept
      : comm_(std::exchange(o.comm_, nullptr)),
        ptr_(std::exchange(o.ptr_, nullptr)),
        window_(std::exchange(o.window_, nullptr)),
        bytes_(std::exchange(o.bytes_, 0)) {}
  symmetric_arena& operator=(symmetric_arena&& o) noexcept {
    if (this != &o) {
      reset();
      comm_ = std::exchange(o.comm_, nullptr);
      ptr_ = std::exchange(o.ptr_, nullptr);
      window_ = std::exchange(o.window_, nullptr);
      bytes_ = std::exchange(o.bytes_, 0);
    }
    return *this;
  }
  symmetric_arena(const symmetric_arena&) = delete;
  symmetric_arena& operator=(const symmetric_arena&) = delete;
  //! ncclCommWindowDeregister, then ncclMemFree. Errors are ignored (a destructor cannot throw).
  ~symmetric_arena() { reset(); }

  //! The local start of the window (device memory of this rank).
  void* get() const noexcept { return ptr_; }
  //! The window's size: the requested size rounded up to symmetric_granularity().
  std::size_t bytes() const noexcept { return bytes_; }
  //! The window handle, for ncclGetLsaPointer / ncclGetLocalPointer in kernels (pass by value).
  ncclWindow_t window() const noexcept { return window_; }
  ncclComm_t comm() const noexcept { return comm_; }
  //! True when `p .. p + n` lies inside the window.
  bool contains(const void* p, std::size_t n = 0) const noexcept {
    const auto b = reinterpret_cast<std::uintptr_t>(ptr_), q = reinterpret_cast<std::uintptr_t>(p);
    return ptr_ && q >= b && q - b < bytes_ && n <= bytes_ - (q - b);  // one past the end is outside
  }
  //! The byte offset of `p` in the window; throws ctg::runtime_error when it is outside.
  std::size_t offset_of(const void* p, std::string_view node = "instantiate") const {
    if (!contains(p)) throw runtime_error(node, "symmetric_arena::offset_of", "the pointer is not inside the symmetric window");
    return std::size_t(reinterpret_cast<std::uintptr_t>(p) - reinterpret_cast<std::uintptr_t>(ptr_));
  }

 private:
  void reset() noexcept {
    if (!ptr_) return;
    if (window_) ncclCommWindowDeregister(comm_, window_);
    ncclMemFree(ptr_);
    ptr_ = nullptr;
    window_ = nullptr;
  }
  ncclComm_t comm_ = nullptr;
  void* ptr_ = nullptr;
  ncclWindow_t window_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace ctg
