#pragma once
//! warp_row: one row of a last-dimension reduction (norms, softmax) held by one warp in registers,
//! in float: read once in 16-byte packs (pack p of the row goes to lane p % 32), reduced with
//! shuffles, written once. For rows of at most 32 * Vectors packs whose pointers and length allow
//! 16-byte packs; each element is read and written by the same lane, so the output may be the
//! input's buffer.
#include <cstring>

#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg::runtime_ops::detail {

inline constexpr int warp_row_rows = 4;  // rows (warps) per block of the row kernels

template <class T, int Vectors>
struct warp_row {
  static constexpr int per = vector_bytes / int(sizeof(T));  // elements per pack
  float v[Vectors][per];

  //! Reads `packs` packs of `row`; elements past them read as `fill`.
  __device__ void load(const T* row, int packs, int lane, float fill) {
    const auto* in = reinterpret_cast<const uint4*>(row);
#pragma unroll
    for (int j = 0; j < Vectors; ++j) {
      const int p = lane + 32 * j;
      T e[per];
      if (p < packs) {
        const uint4 pack = in[p];
        memcpy(e, &pack, vector_bytes);
      }
#pragma unroll
      for (int k = 0; k < per; ++k) v[j][k] = p < packs ? to_float(e[k]) : fill;
    }
  }
  //! Writes the row's `packs` packs from `v`, each pack's values first passed to `f(values, p)`
  //! (float (&)[per], pack index), which may change them.
  template <class F>
  __device__ void store(T* row, int packs, int lane, F f) const {
    auto* out = reinterpret_cast<uint4*>(row);
#pragma unroll
    for (int j = 0; j < Vectors; ++j) {
      const int p = lane + 32 * j;
      if (p >= packs) break;
      float x[per];
#pragma unroll
      for (int k = 0; k < per; ++k) x[k] = v[j][k];
      f(x, p);
      T r[per];
#pragma unroll
      for (int k = 0; k < per; ++k) r[k] = from_float<T>(x[k]);
      uint4 pack;
      memcpy(&pack, r, vector_bytes);
      out[p] = pack;
    }
  }
  //! Pack p of a vector (a norm's weight or bias), in float.
  __device__ static void read_pack(const T* vector, int p, float (&x)[per]) {
    const uint4 pack = reinterpret_cast<const uint4*>(vector)[p];
    T e[per];
    memcpy(e, &pack, vector_bytes);
#pragma unroll
    for (int k = 0; k < per; ++k) x[k] = to_float(e[k]);
  }
};

__device__ inline float warp_sum(float a) {
  for (int o = 16; o > 0; o /= 2) a += __shfl_xor_sync(0xffffffffu, a, o);
  return a;
}
__device__ inline float warp_max(float a) {
  for (int o = 16; o > 0; o /= 2) a = fmaxf(a, __shfl_xor_sync(0xffffffffu, a, o));
  return a;
}

//! How many packs per lane a row of `packs` packs needs, among the kernels' 4 and 16 (0: the row
//! does not fit, or its pointers do not allow packs).
inline int warp_row_vectors(std::int64_t packs, bool aligned) {
  if (!aligned || packs <= 0) return 0;
  return packs <= 32 * 4 ? 4 : packs <= 32 * 16 ? 16 : 0;
}

}  // namespace ctg::runtime_ops::detail
