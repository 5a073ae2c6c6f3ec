#pragma once
//! Element types to and from float, in device code: the kernels compute in float and store f32,
//! f16 or bf16 (round to nearest even).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace ctg::runtime_ops::detail {

//! Bytes moved by one vectorised load or store.
inline constexpr int vector_bytes = 16;
inline bool aligned_to_vector(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % vector_bytes == 0; }

template <class T> __device__ inline float to_float(T x);
template <> __device__ inline float to_float<float>(float x) { return x; }
template <> __device__ inline float to_float<__half>(__half x) { return __half2float(x); }
template <> __device__ inline float to_float<__nv_bfloat16>(__nv_bfloat16 x) { return __bfloat162float(x); }

template <class T> __device__ inline T from_float(float x);
template <> __device__ inline float from_float<float>(float x) { return x; }
template <> __device__ inline __half from_float<__half>(float x) { return __float2half_rn(x); }
template <> __device__ inline __nv_bfloat16 from_float<__nv_bfloat16>(float x) { return __float2bfloat16_rn(x); }

}  // namespace ctg::runtime_ops::detail
