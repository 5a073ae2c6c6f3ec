#pragma once
//! The elementwise kernels for f32, f16 and bf16: any elementwise op's functor (relu, gelu, scale,
//! add, mul, silu, a user's), computed in float. One grid-stride kernel per op and dtype; 16-byte
//! loads and stores when every pointer allows them, element by element otherwise. A broadcast
//! input 1 (a trailing part of input 0, ops::elementwise) is read at i % its size, the index kept
//! by one add and compare per step rather than a division; same-shape runs keep plain kernels.
//! The output may be input 0's (or, same-shape, input 1's) buffer: each thread reads an element
//! before it writes that same element, so in-place runs need no extra buffer. Hence no `__restrict__`.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <string>

#include <ctgraph/runtime/ops/float_conversion.cuh>
#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>

namespace ctg::runtime_ops {

namespace detail {

inline constexpr int elementwise_block = 256;
//! Enough blocks to fill the current device several times over (8 per SM, SMs queried once per
//! device); the loop strides past the rest.
inline std::int64_t elementwise_max_blocks() {
  constexpr int max_devices = 64;
  static std::atomic<int> sms[max_devices]{};
  int device = 0;
  CTG_CHECK("elementwise", cudaGetDevice(&device));
  const bool cached = device >= 0 && device < max_devices;
  int n = cached ? sms[device].load(std::memory_order_relaxed) : 0;
  if (n == 0) {
    CTG_CHECK("elementwise", cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    if (cached) sms[device].store(n, std::memory_order_relaxed);
  }
  return std::int64_t(n) * 8;
}


template <class Fn, class T>
__device__ inline T apply(const Fn& fn, T a, [[maybe_unused]] T b) {
  if constexpr (Fn::arity == 1) return from_float<T>(fn(to_float(a)));
  else return from_float<T>(fn(to_float(a), to_float(b)));
}

//! i % n for i = first, first + stride, ...: advanced by stride % n with one compare, since a
//! 64-bit division per element would cost more than the op.
struct wrapped_index {
  std::int64_t value, step, n;
  __device__ wrapped_index(std::int64_t first, std::int64_t stride, std::int64_t n_) : value(first % n_), step(stride % n_), n(n_) {}
  __device__ void advance() {
    value += step;
    if (value >= n) value -= n;
  }
};

//! y[i] = fn(a[i] [, b[i % nb]]) for i < n; b is unused (null) for unary functors, and nb = n
//! unless Broadcast.
template <class Fn, class T, bool Broadcast>
__global__ void elementwise_kernel(const T* a, const T* b, T* y, std::int64_t n, std::int64_t nb, Fn fn) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  const std::int64_t first = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  [[maybe_unused]] wrapped_index j(first, stride, Broadcast ? nb : 1);  // same shape: folds away
  for (std::int64_t i = first; i < n; i += stride) {
    y[i] = apply(fn, a[i], Fn::arity == 2 ? b[Broadcast ? j.value : i] : a[i]);
    if constexpr (Broadcast) j.advance();
  }
}

//! The same over `packs` 16-byte packs (b: `b_packs` of them); every pointer is 16-byte aligned.
template <class Fn, class T, bool Broadcast>
__global__ void elementwise_vector_kernel(const T* a, const T* b, T* y, std::int64_t packs, std::int64_t b_packs, Fn fn) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  constexpr int width = vector_bytes / int(sizeof(T));
  const auto* a4 = reinterpret_cast<const uint4*>(a);
  const auto* b4 = reinterpret_cast<const uint4*>(b);
  auto* y4 = reinterpret_cast<uint4*>(y);
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  const std::int64_t first = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  [[maybe_unused]] wrapped_index q(first, stride, Broadcast ? b_packs : 1);
  for (std::int64_t p = first; p < packs; p += stride) {
    T xa[width], xb[width], r[width];
    const uint4 ua = a4[p];
    memcpy(xa, &ua, vector_bytes);
    if constexpr (Fn::arity == 2) {
      const uint4 ub = b4[Broadcast ? q.value : p];
      memcpy(xb, &ub, vector_bytes);
    }
    if constexpr (Broadcast) q.advance();
#pragma unroll
    for (int k = 0; k < width; ++k) r[k] = apply(fn, xa[k], Fn::arity == 2 ? xb[k] : xa[k]);
    uint4 ur;
    memcpy(&ur, r, vector_bytes);
    y4[p] = ur;
  }
}


inline unsigned elementwise_grid(std::int64_t work) {
  return unsigned(std::min((work + elementwise_block - 1) / elementwise_block, elementwise_max_blocks()));
}

//! Runs fn over n elements, input 1 having nb (n, or a divisor of n when it broadcasts).
template <class T, bool Broadcast, class Fn>
void launch_elementwise_kernel(const launch_context& c, Fn fn, std::int64_t n, std::int64_t nb) {
  const T* a = static_cast<const T*>(c.inputs[0]);
  const T* b = Fn::arity == 2 ? static_cast<const T*>(c.inputs[1]) : nullptr;
  T* y = static_cast<T*>(c.output);
  constexpr int width = vector_bytes / int(sizeof(T));
  const bool vector = n % width == 0 && nb % width == 0 && aligned_to_vector(a) && aligned_to_vector(y) &&
                      (Fn::arity == 1 || aligned_to_vector(b));
  if (vector)
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, elementwise_vector_kernel<Fn, T, Broadcast>, dim3(elementwise_grid(n / width)), dim3(elementwise_block), 0, a, b, y, n / width, nb / width, fn));
  else
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, elementwise_kernel<Fn, T, Broadcast>, dim3(elementwise_grid(n)), dim3(elementwise_block), 0, a, b, y, n, nb, fn));
  CTG_CHECK(c.node->name, cudaGetLastError());
}

template <class T, class Fn>
void launch_elementwise_typed(const launch_context& c, Fn fn, std::int64_t n, std::int64_t nb) {
  if constexpr (Fn::arity == 2)  // only binary ops get the broadcast kernels
    if (nb != n) return launch_elementwise_kernel<T, true>(c, fn, n, nb);
  launch_elementwise_kernel<T, false>(c, fn, n, n);
}

}  // namespace detail
}  // namespace ctg::runtime_ops

namespace ctg {

//! Runs elementwise op `fn` (a functor of `Fn::arity` floats, `CTG_HOST_DEVICE`) over the node on
//! `c.stream`: unary ops read `c.inputs[0]`, binary ops `c.inputs[0]` and `c.inputs[1]` (of
//! `c.input_desc[1].elements()` elements, which broadcast when fewer), all write `c.output`
//! (`c.output_desc().elements()` elements of its dtype). No allocation and no synchronisation, so
//! it can be captured into a CUDA graph. Throws ctg::runtime_error for another dtype, a missing
//! pointer, an input 1 whose size does not divide the output's, or a failed launch.
template <class Fn>
void launch_elementwise(const launch_context& c, const Fn& fn) {
  const std::int64_t n = c.node->out.elements();
  if (n == 0) return;
  for (int k = 0; k < Fn::arity; ++k)
    if (c.inputs[k] == nullptr)
      throw runtime_error(c.node->name, "launch_elementwise", "input " + std::to_string(k) + " has no device pointer");
  if (c.output == nullptr) throw runtime_error(c.node->name, "launch_elementwise", "the output has no device pointer");
  const std::int64_t nb = Fn::arity == 2 ? c.input_desc[1].elements() : n;
  if (nb <= 0 || n % nb != 0)
    throw runtime_error(c.node->name, "launch_elementwise",
                        "input 1 has " + std::to_string(nb) + " elements, which do not broadcast to the output's " + std::to_string(n));
  const bool launched = with_float_type(c.node->out.dtype, [&](auto t) {
    runtime_ops::detail::launch_elementwise_typed<typename decltype(t)::type>(c, fn, n, nb);
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_elementwise",
                        "dtype " + std::string(name_of(c.node->out.dtype)) + " is not supported; elementwise ops run on f32, f16 and bf16");
}

}  // namespace ctg
