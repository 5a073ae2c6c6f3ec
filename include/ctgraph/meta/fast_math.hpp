#pragma once
//! Approximate math for elementwise functors' `fast` forms (plan_options::fast_math): the GPU's
//! one-instruction tanh (sm_75+, about 2^-11 relative error), exp2 and division; the host computes
//! the exact function (host references, host ops). And the logistic form the exact gelu and silu
//! share, within a few ulp on the GPU.
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

//! log2(e): e^y = 2^(log2(e) y).
inline constexpr double log2_e = 1.4426950408889634;

//! x / (1 + 2^t), the logistic form of gelu and silu (exact forms, not fast_math): on the GPU
//! 2^t and the reciprocal are the ex2 and rcp approximations CUDA's own tanhf and expf are built
//! from (a few ulp; 4 instructions against an expf and an IEEE division's some 30). Where 2^t is
//! inf or 1 + 2^t past 2^126 (subnormal reciprocal, flushed), x * 0: the limit, signed zero.
CTG_HOST_DEVICE inline float over_one_plus_exp2(float x, float t) {
#if defined(__CUDA_ARCH__)
  float e, r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(e) : "f"(t));
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(1.f + e));
  return x * r;
#else
  return x / (1.f + std::exp2(t));
#endif
}

}  // namespace ctg
