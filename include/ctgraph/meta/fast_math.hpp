#pragma once
//! Approximate math for elementwise functors' `fast` forms (plan_options::fast_math): the GPU's
//! one-instruction tanh (sm_75+, about 2^-11 relative error), exp2 and division; the host computes
//! the exact function (host references, host ops).
#include <cmath>

#include <ctgraph/meta/host_device.hpp>

namespace ctg {

CTG_HOST_DEVICE inline float fast_tanh(float x) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 750
  float y;
  asm("tanh.approx.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
#else
  return std::tanh(x);
#endif
}

//! 1 / (1 + e^-x).
CTG_HOST_DEVICE inline float fast_sigmoid(float x) {
#if defined(__CUDA_ARCH__)
  return __fdividef(1.f, 1.f + __expf(-x));
#else
  return 1.f / (1.f + std::exp(-x));
#endif
}

}  // namespace ctg
