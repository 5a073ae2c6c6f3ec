#pragma once
// What every example shares: whether a GPU is present, and a comparison that reports.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdlib>
#include <string_view>
#include <cstdio>
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

}  // namespace example
