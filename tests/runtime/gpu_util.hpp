#pragma once
// Small helpers for GPU tests and examples: device buffers from host vectors and back.
#include <cuda_runtime.h>

#include <random>
#include <vector>

#include <ctgraph/runtime/error.hpp>

namespace ctg::test {

template <class T>
struct device_vector {
  T* ptr = nullptr;
  std::size_t n = 0;
  explicit device_vector(std::size_t count) : n(count) { CTG_CHECK("test", cudaMalloc(&ptr, count * sizeof(T))); }
  explicit device_vector(const std::vector<T>& h) : device_vector(h.size()) { upload(h); }
  device_vector(const device_vector&) = delete;
  ~device_vector() { cudaFree(ptr); }
  void upload(const std::vector<T>& h) { CTG_CHECK("test", cudaMemcpy(ptr, h.data(), n * sizeof(T), cudaMemcpyHostToDevice)); }
  std::vector<T> download() const {
    std::vector<T> h(n);
    CTG_CHECK("test", cudaMemcpy(h.data(), ptr, n * sizeof(T), cudaMemcpyDeviceToHost));
    return h;
  }
};

inline std::vector<float> random_floats(std::size_t n, unsigned seed, float lo = -1, float hi = 1) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

}  // namespace ctg::test
