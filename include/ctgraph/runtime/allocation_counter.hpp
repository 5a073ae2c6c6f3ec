#pragma once
//! `ctg::allocation_counter` counts every memory allocation call made in this process, by any
//! library and any thread, where it happens: CUPTI callbacks on the CUDA runtime and driver
//! allocation entry points (cudaMalloc*, cudaHostAlloc, cudaMallocAsync/FromPoolAsync,
//! cuMemAlloc*, cuMemHostAlloc, cuMemCreate, cu*ArrayCreate). cuBLAS, NCCL (ncclMemAlloc is
//! cuMemCreate) and a user op's own cudaMalloc are all seen, not only the runtime's arenas
//! (`ctg::allocation_count()` counts those). A runtime call that allocates through the driver
//! counts once. Needs CUPTI: link `CUDA::cupti`.
//!
//! What it cannot see: memory taken by replaying a captured graph's memory-allocation nodes
//! (the graph allocates without an API call; the capture of cudaMallocAsync is counted once).
#include <cupti.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include <ctgraph/runtime/error.hpp>

namespace ctg {

namespace detail {

//! The process-wide CUPTI subscription (CUPTI allows one subscriber per process). It is never
//! unsubscribed: callbacks may still arrive from other threads while the process exits.
class allocation_callbacks {
 public:
  static allocation_callbacks& instance() {
    static allocation_callbacks* a = new allocation_callbacks();  // deliberately never destroyed
    return *a;
  }
  long long total() const noexcept { return total_.load(); }
  std::map<std::string, long long> by_call() const {
    std::lock_guard lock(mutex_);
    return by_call_;
  }

 private:
  allocation_callbacks() {
    check(cuptiSubscribe(&subscriber_, reinterpret_cast<CUpti_CallbackFunc>(&on_call), this), "cuptiSubscribe");
    enable(CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_SIZE);
    enable(CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_SIZE);
  }

  static void check(CUptiResult r, const char* call) {
    if (r == CUPTI_SUCCESS) return;
    const char* what = nullptr;
    cuptiGetResultString(r, &what);
    throw runtime_error("allocation_counter", call,
                        std::string(what ? what : "unknown CUPTI error") +
                            ". CUPTI allows one subscriber per process: a profiler or another tool may hold it");
  }

  //! Whether the API named `name` allocates memory.
  static bool allocates(std::string_view name) {
    for (std::string_view prefix : {"cudaMalloc", "cudaHostAlloc", "cuMemAlloc", "cuMemHostAlloc", "cuMemCreate",
                                    "cuArrayCreate", "cuArray3DCreate", "cuMipmappedArrayCreate"})
      if (name.substr(0, prefix.size()) == prefix) return true;
    return false;
  }

  void enable(CUpti_CallbackDomain domain, std::uint32_t ids) {
    for (std::uint32_t id = 1; id < ids; ++id) {
      const char* name = nullptr;
      if (cuptiGetCallbackName(domain, id, &name) != CUPTI_SUCCESS || !name || !allocates(name)) continue;
      check(cuptiEnableCallback(1, subscriber_, domain, id), "cuptiEnableCallback");
    }
  }

  //! Counted at the call's exit, when it succeeded, and only for the outermost allocation call
  //! of the thread (cudaMalloc reaches the driver's allocation: one allocation, not two).
  static void CUPTIAPI on_call(void* self, CUpti_CallbackDomain domain, CUpti_CallbackId, const void* data) {
    if (domain != CUPTI_CB_DOMAIN_RUNTIME_API && domain != CUPTI_CB_DOMAIN_DRIVER_API) return;
    thread_local int depth = 0;
    const auto* d = static_cast<const CUpti_CallbackData*>(data);
    if (d->callbackSite == CUPTI_API_ENTER) {
      ++depth;
      return;
    }
    if (--depth > 0) return;
    depth = 0;
    // cudaError_t and CUresult are both int-sized enums with 0 for success.
    if (d->functionReturnValue && *static_cast<const int*>(d->functionReturnValue) != 0) return;
    auto* a = static_cast<allocation_callbacks*>(self);
    ++a->total_;
    std::lock_guard lock(a->mutex_);
    ++a->by_call_[d->functionName ? d->functionName : "?"];
  }

  CUpti_SubscriberHandle subscriber_ = nullptr;
  std::atomic<long long> total_{0};
  mutable std::mutex mutex_;
  std::map<std::string, long long> by_call_;
};

}  // namespace detail

//! Counts the allocation calls made in this process since it was constructed (or reset).
//! `auto seen = ctg::allocation_counter(); for (...) ex.run(); CHECK(seen.count() == 0);`
class allocation_counter {
 public:
  allocation_counter() : callbacks_(&detail::allocation_callbacks::instance()) { reset(); }

  //! Starts counting from zero again.
  void reset() {
    start_ = callbacks_->total();
    start_by_call_ = callbacks_->by_call();
  }
  //! Allocation calls since construction or reset, by any thread.
  long long count() const { return callbacks_->total() - start_; }
  //! The same, by API: "cudaMalloc x1000, cuMemCreate x1" (empty when none).
  std::string calls() const {
    std::string s;
    for (const auto& [name, n] : callbacks_->by_call()) {
      const auto before = start_by_call_.find(name);
      const long long since = n - (before == start_by_call_.end() ? 0 : before->second);
      if (since > 0) s += (s.empty() ? "" : ", ") + name + " x" + std::to_string(since);
    }
    return s;
  }

 private:
  detail::allocation_callbacks* callbacks_;
  long long start_ = 0;
  std::map<std::string, long long> start_by_call_;
};

}  // namespace ctg
