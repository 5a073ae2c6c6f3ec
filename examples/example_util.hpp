#pragma once
// What every example shares: whether a GPU is present, a comparison that reports, a flag's value,
// and a tensor of a safetensors file read into a host vector.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <string_view>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

namespace example {

inline bool has_gpu() {
  int n = 0;
  return cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
}

//! Whether to execute: with `--require-gpu` (how ctest runs the GPU half) a missing GPU exits
//! 77, which ctest reports as skipped rather than passed.
inline bool gpu_present(int argc, char** argv) {
  if (has_gpu()) return true;
  for (int i = 1; i < argc; ++i)
    if (std::string_view(argv[i]) == "--require-gpu") {
      std::printf("no GPU: skipped\n");
      std::exit(77);
    }
  std::printf("no GPU: plan only\n");
  return false;
}

//! Largest |a - b| / (1 + |b|); prints it and whether it is within `tolerance`.
inline bool close(const std::vector<float>& a, const std::vector<float>& b, double tolerance) {
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / (1 + std::fabs(double(b[i]))));
  std::printf("largest relative difference %.3g (tolerance %.3g): %s\n", worst, tolerance, worst <= tolerance ? "ok" : "FAILED");
  return worst <= tolerance;
}

//! The value after `flag` on the command line, or `fallback`.
inline std::string arg(int argc, char** argv, std::string_view flag, std::string fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (flag == argv[i]) return argv[i + 1];
  return fallback;
}

//! Tensor `name` of a safetensors file (ctg::safetensors_file) as a host vector of T (the stored
//! dtype's C++ type: float for F32, std::int32_t for I32).
template <class T, class File>
std::vector<T> read_tensor(const File& f, std::string_view name) {
  const auto* t = f.find(name);
  if (!t) throw std::runtime_error(std::string(f.path()) + ": no tensor '" + std::string(name) + "'");
  std::vector<T> v(t->bytes / sizeof(T));
  f.read(*t, v.data());
  return v;
}

}  // namespace example
