// GPU tests' main: exits 77 (ctest's "skipped") when no CUDA device is present, so the tests are
// reported skipped, never passed, on machines without a GPU.
#define DOCTEST_CONFIG_IMPLEMENT
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::printf("no CUDA device: GPU tests skipped\n");
    return 77;
  }
  // The multi_gpu run (CTG_RANKS=all) needs at least two GPUs.
  const char* ranks = std::getenv("CTG_RANKS");
  if (ranks && std::string(ranks) == "all" && devices < 2) {
    std::printf("fewer than two CUDA devices: multi-GPU tests skipped\n");
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
