#pragma once
//! Owning handles for the runtime's allocations. Every allocation the runtime makes goes
//! through here and is counted (its own bookkeeping; the GPU tests prove that `run()` allocates
//! nothing with `ctg::allocation_counter`, which sees every allocation call in the process).
#include <cuda_runtime.h>

#include <atomic>
#include <cstddef>
#include <utility>

#include <ctgraph/runtime/error.hpp>

namespace ctg {

namespace detail {
inline std::atomic<long long>& runtime_allocations() {
  static std::atomic<long long> n{0};
  return n;
}
}  // namespace detail

//! How many device, pinned-host and symmetric allocations ctgraph's runtime has made so far (its
//! own bookkeeping; `ctg::allocation_counter` sees every allocation call in the process).
inline long long allocation_count() { return detail::runtime_allocations().load(); }

//! Where an allocation lives.
enum class allocation_kind { device, pinned_host };

//! Move-only owner of one allocation (nothing for zero bytes).
class allocation {
 public:
  allocation() = default;
  allocation(allocation_kind kind, std::size_t bytes, std::string_view what) : kind_(kind) {
    if (bytes == 0) return;
    if (kind == allocation_kind::device) CTG_CHECK(what, cudaMalloc(&ptr_, bytes));
    else CTG_CHECK(what, cudaMallocHost(&ptr_, bytes));
    ++detail::runtime_allocations();
  }
  allocation(allocation&& o) noexcept : kind_(o.kind_), ptr_(std::exchange(o.ptr_, nullptr)) {}
  allocation& operator=(allocation&& o) noexcept {
    if (this != &o) {
      reset();
      kind_ = o.kind_;
      ptr_ = std::exchange(o.ptr_, nullptr);
    }
    return *this;
  }
  allocation(const allocation&) = delete;
  allocation& operator=(const allocation&) = delete;
  ~allocation() { reset(); }

  void* get() const noexcept { return ptr_; }
  std::byte* bytes() const noexcept { return static_cast<std::byte*>(ptr_); }

 private:
  void reset() noexcept {
    if (!ptr_) return;
    if (kind_ == allocation_kind::device) cudaFree(ptr_);
    else cudaFreeHost(ptr_);
    ptr_ = nullptr;
  }
  allocation_kind kind_ = allocation_kind::device;
  void* ptr_ = nullptr;
};

}  // namespace ctg
