#pragma once
//! The runtime's columns of the dtype table (graph/dtype.hpp): CUDA's data type of each dtype,
//! and the C++ element type of each float dtype for typed kernels, in one place.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <library_types.h>

#include <utility>

#include <ctgraph/graph/dtype.hpp>

namespace ctg {

//! CUDA's (and cuBLASLt's) data type, in dtype_id order. CUDA has no boolean type: bool travels
//! as its byte, CUDA_R_8U (as PyTorch maps it).
inline constexpr cudaDataType_t cuda_data_type[] = {CUDA_R_32F, CUDA_R_16F, CUDA_R_16BF, CUDA_R_32I, CUDA_R_64I, CUDA_R_8U, CUDA_R_8U};
static_assert(sizeof(cuda_data_type) / sizeof(cuda_data_type[0]) == std::size_t(dtype_count));

constexpr cudaDataType_t cuda_type_of(dtype_id d) { return cuda_data_type[int(d)]; }

template <class T>
struct element_type {
  using type = T;
};

//! Calls `f(element_type<T>{})` with the C++ type of a float dtype (float, __half,
//! __nv_bfloat16) and returns true; returns false for the other dtypes.
template <class F>
bool with_float_type(dtype_id d, F&& f) {
  switch (d) {
    case dtype_id::f32: std::forward<F>(f)(element_type<float>{}); return true;
    case dtype_id::f16: std::forward<F>(f)(element_type<__half>{}); return true;
    case dtype_id::bf16: std::forward<F>(f)(element_type<__nv_bfloat16>{}); return true;
    default: return false;
  }
}

}  // namespace ctg
