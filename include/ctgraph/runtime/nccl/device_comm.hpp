#pragma once
//! The device communicator: an `ncclDevComm` made by `ncclDevCommCreate` with one LSA barrier per
//! CTA of the one-shot all-reduce, and no multimem (NVLink multicast stays off: `lsaMultimem` is
//! never set). Kernels take the `ncclDevComm` by value and run `ncclLsaBarrierSession`s on it.
//!
//! Creating it is the reliable probe for symmetric memory: without support
//! `ncclCommWindowRegister` quietly returns an ordinary registration, but `ncclDevCommCreate`
//! fails. Creation and destruction are collective host calls (same order on every rank, outside
//! capture). Destroy CUDA graphs that use it before it, and it before the communicator.
#include <nccl.h>
#include <nccl_device.h>

#include <memory>
#include <string>
#include <utility>

#include <ctgraph/runtime/nccl/error.hpp>
#include <ctgraph/runtime/nccl/version.hpp>

#if NCCL_VERSION_CODE < 22809
#error "ctgraph: the NCCL device API needs NCCL 2.28.9 or newer headers (nccl_device/lsa_barrier.h)."
#endif

namespace ctg {

//! LSA barriers a device_comm asks for by default: the one-shot all-reduce launches at most this
//! many CTAs (each uses its own barrier, indexed by blockIdx.x).
inline constexpr int default_lsa_barriers = 32;

//! Move-only owner of an ncclDevComm. Its address is stable across moves (it lives on the heap),
//! so a `const ncclDevComm*` taken from `get()` stays valid while the owner lives.
class device_comm {
 public:
  device_comm() = default;
  //! ncclDevCommCreate(comm, {lsaBarrierCount = lsa_barriers}, ...). Throws ctg::runtime_error
  //! ("instantiate", "ncclDevCommCreate", "symmetric memory is not available on this communicator:
  //! ...") when NCCL refuses.
  explicit device_comm(ncclComm_t comm, int lsa_barriers = default_lsa_barriers) : comm_(comm) {
    if (comm == nullptr) throw runtime_error("instantiate", "device_comm", "the communicator is null");
    if (lsa_barriers < 1)
      throw runtime_error("instantiate", "device_comm", "needs at least one LSA barrier, got " + std::to_string(lsa_barriers));
    require_nccl_symmetric("the NCCL device API (ncclDevCommCreate)");
    ncclDevCommRequirements reqs{};  // all zero: no multimem, no GIN, no extra resources
    reqs.lsaMultimem = false;
    reqs.lsaBarrierCount = lsa_barriers;
    auto dev = std::make_unique<ncclDevComm>();
    const ncclResult_t r = ncclDevCommCreate(comm, &reqs, dev.get());
    if (r != ncclSuccess)
      throw runtime_error("instantiate", "ncclDevCommCreate",
                          "symmetric memory is not available on this communicator: " + detail::nccl_message(r) +
                              ". It needs NCCL >= 2.28.9, peers reachable by load/store (NVLink or PCIe P2P) and CUDA VMM "
                              "(NCCL_CUMEM_ENABLE not 0)");
    dev_ = std::move(dev);
    lsa_barriers_ = lsa_barriers;
  }
  device_comm(device_comm&& o) noexcept
      : comm_(std::exchange(o.comm_, nullptr)), dev_(std::move(o.dev_)), lsa_barriers_(std::exchange(o.lsa_barriers_, 0)) {}
  device_comm& operator=(device_comm&& o) noexcept {
    if (this != &o) {
      reset();
      comm_ = std::exchange(o.comm_, nullptr);
      dev_ = std::move(o.dev_);
      lsa_barriers_ = std::exchange(o.lsa_barriers_, 0);
    }
    return *this;
  }
  device_comm(const device_comm&) = delete;
  device_comm& operator=(const device_comm&) = delete;
  //! ncclDevCommDestroy; errors are ignored (a destructor cannot throw).
  ~device_comm() { reset(); }

  //! The device communicator (null when empty); kernels take `*get()` by value.
  const ncclDevComm* get() const noexcept { return dev_.get(); }
  const ncclDevComm& operator*() const noexcept { return *dev_; }
  const ncclDevComm* operator->() const noexcept { return dev_.get(); }
  explicit operator bool() const noexcept { return dev_ != nullptr; }
  //! How many LSA barriers it holds: the most CTAs a kernel may run barrier sessions on.
  int lsa_barriers() const noexcept { return lsa_barriers_; }
  ncclComm_t comm() const noexcept { return comm_; }

 private:
  void reset() noexcept {
    if (dev_) ncclDevCommDestroy(comm_, dev_.get());
    dev_.reset();
    lsa_barriers_ = 0;
  }
  ncclComm_t comm_ = nullptr;
  std::unique_ptr<ncclDevComm> dev_;
  int lsa_barriers_ = 0;
};

}  // namespace ctg
