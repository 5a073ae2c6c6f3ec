#pragma once
// The multi-rank harness: runs the same function on N GPUs, one thread and one NCCL rank each
// (communicators from ncclCommInitAll), and rethrows the first rank's error. NVLink multicast
// stays off. CTG_RANKS picks N: a number, or "all" for every GPU; 1 by default.
#include <cuda_runtime.h>
#include <nccl.h>

#include <cstdlib>
#include <exception>
#include <string>
#include <thread>
#include <vector>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/nccl/error.hpp>

namespace ctg::test {

inline int ranks_to_use() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) devices = 0;
  const char* e = std::getenv("CTG_RANKS");
  if (!e) return devices > 0 ? 1 : 0;
  if (std::string(e) == "all") return devices;
  return std::min(std::atoi(e), devices);
}

template <class Fn>
void run_ranks(int ranks, Fn fn) {
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  std::vector<ncclComm_t> comms(static_cast<std::size_t>(ranks), nullptr);
  std::vector<int> devices(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) devices[std::size_t(r)] = r;
  CTG_CHECK("harness", ncclCommInitAll(comms.data(), ranks, devices.data()));
  std::vector<std::exception_ptr> errors(static_cast<std::size_t>(ranks));
  std::vector<std::thread> threads;
  for (int r = 0; r < ranks; ++r)
    threads.emplace_back([&, r] {
      try {
        CTG_CHECK("harness", cudaSetDevice(r));
        fn(r, comms[std::size_t(r)]);
      } catch (...) {
        errors[std::size_t(r)] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (ncclComm_t c : comms) ncclCommDestroy(c);
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

}  // namespace ctg::test
