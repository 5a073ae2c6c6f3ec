#pragma once
//! The kernel of a fused group (passes/fuse.hpp): one thread computes one element (or one
//! 16-byte pack) of the root's output by running every member's functor in schedule order on
//! values in registers, reading each leaf once. The program is a type, composed at compile time
//! from the ops' functors, so nothing is dispatched at run time; identical groups (every layer
//! of a `repeat`) share one kernel. Each member's value is rounded to the dtype, as its own
//! kernel would store it, so f16 and bf16 groups give the unfused plan's bits. In f32 the
//! compiler may contract one op's last multiply with the next op's add into an FMA (one
//! rounding instead of two), so results may differ from the unfused plan's in the last bit.
//! The output may be a leaf's storage (in place): each thread reads its element of every leaf
//! before it writes that element, and a broadcast leaf is never the one taken over.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/ops/pdl.cuh>
#include <ctgraph/runtime/ops/elementwise.cuh>
#include <ctgraph/runtime/ops/float_conversion.cuh>

namespace ctg {

//! One member of a fused group: op `Op` applied to `Sources` (>= 0: an earlier member's value;
//! < 0: leaf -1 - s).
//! An elementwise op's functor arity, or -1 where it has none.
template <class Op>
constexpr int functor_arity() {
  if constexpr (requires { Op::arity; }) return int(Op::arity);
  else return -1;
}

//! Op's approximate form as a functor (plan_options::fast_math), for ops that have one.
template <class Op>
struct fast_functor {
  static constexpr int arity = Op::arity;
  template <class... F>
  __host__ __device__ float operator()(F... x) const { return Op{}.fast(x...); }
};
//! The functor that computes Op: its `fast` form when Fast and it has one, else Op itself.
template <class Op, bool Fast>
using functor_of = std::conditional_t<Fast && requires { &Op::fast; }, fast_functor<Op>, Op>;

template <class Op, int... Sources>
struct fused_step {
  static_assert(functor_arity<Op>() == int(sizeof...(Sources)),
                "ctgraph: this op sets op_traits::elementwise, so the plan fuses it, but it gives no functor of its inputs. Give it 'static constexpr int arity' (its input count) and 'CTG_HOST_DEVICE float operator()(float...) const', or leave op_traits::elementwise false.");
  template <int S>
  __device__ static float value(const float* v, const float* leaf) {
    if constexpr (S >= 0) return v[S];
    else return leaf[-1 - S];
  }
  __device__ static float eval(const float* v, const float* leaf) { return Op{}(value<Sources>(v, leaf)...); }
};

//! A fused group's kernel body: `Leaves` tensors read, `Steps` in schedule order, the last the root.
template <int Leaves, class... Steps>
struct fused_program {
  static constexpr int leaves = Leaves;
  static constexpr int size = int(sizeof...(Steps));

  //! x as its own kernel stores it: rounded to T.
  template <class T>
  __device__ static float round_to(float x) {
    return runtime_ops::detail::to_float(runtime_ops::detail::from_float<T>(x));
  }
  template <class T, std::size_t... J>
  __device__ static float run(const float* leaf, std::index_sequence<J...>) {
    float v[size];
    ((v[J] = round_to<T>(Steps::eval(v, leaf))), ...);
    return v[size - 1];
  }
  template <class T>
  __device__ static float run(const float* leaf) { return run<T>(leaf, std::make_index_sequence<std::size_t(size)>{}); }
};

namespace runtime_ops::detail {

//! The leaves' pointers and element counts (a leaf of fewer elements than the output broadcasts:
//! element i reads its i % size).
struct fused_args {
  const void* leaf[max_inputs]{};
  std::int64_t leaf_size[max_inputs]{};
  void* y = nullptr;
  std::int64_t n = 0;
};

template <class Program, class T>
__global__ void fused_kernel(fused_args a) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  constexpr int L = Program::leaves;
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  const std::int64_t first = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t at[L];  // i % leaf_size, kept by one add and compare per step
  std::int64_t step[L];
#pragma unroll
  for (int l = 0; l < L; ++l) at[l] = first % a.leaf_size[l], step[l] = stride % a.leaf_size[l];
  T* y = static_cast<T*>(a.y);
  for (std::int64_t i = first; i < a.n; i += stride) {
    float leaf[L];
#pragma unroll
    for (int l = 0; l < L; ++l) {
      leaf[l] = to_float(static_cast<const T*>(a.leaf[l])[at[l]]);
      at[l] += step[l];
      if (at[l] >= a.leaf_size[l]) at[l] -= a.leaf_size[l];
    }
    y[i] = from_float<T>(Program::template run<T>(leaf));
  }
}

//! The same over 16-byte packs (sizes in packs); every pointer is 16-byte aligned.
template <class Program, class T>
__global__ void fused_vector_kernel(fused_args a) {
  pdl_begin();  // the kernel before has completed (see pdl.cuh)
  constexpr int L = Program::leaves, width = vector_bytes / int(sizeof(T));
  const std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  const std::int64_t first = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  std::int64_t at[L], step[L];
#pragma unroll
  for (int l = 0; l < L; ++l) at[l] = first % a.leaf_size[l], step[l] = stride % a.leaf_size[l];
  for (std::int64_t p = first; p < a.n; p += stride) {
    T in[L][width];
#pragma unroll
    for (int l = 0; l < L; ++l) {
      const uint4 u = static_cast<const uint4*>(a.leaf[l])[at[l]];
      memcpy(in[l], &u, vector_bytes);
      at[l] += step[l];
      if (at[l] >= a.leaf_size[l]) at[l] -= a.leaf_size[l];
    }
    T out[width];
#pragma unroll
    for (int k = 0; k < width; ++k) {
      float leaf[L];
#pragma unroll
      for (int l = 0; l < L; ++l) leaf[l] = to_float(in[l][k]);
      out[k] = from_float<T>(Program::template run<T>(leaf));
    }
    uint4 u;
    memcpy(&u, out, vector_bytes);
    static_cast<uint4*>(a.y)[p] = u;
  }
}

template <class Program, class T>
void launch_fused_typed(const launch_context& c, fused_args a) {
  constexpr int width = vector_bytes / int(sizeof(T));
  bool vector = a.n % width == 0 && aligned_to_vector(a.y);
  for (int l = 0; l < Program::leaves; ++l) vector = vector && a.leaf_size[l] % width == 0 && aligned_to_vector(a.leaf[l]);
  if (vector) {
    a.n /= width;
    for (int l = 0; l < Program::leaves; ++l) a.leaf_size[l] /= width;
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, fused_vector_kernel<Program, T>, dim3(elementwise_grid(a.n)), dim3(elementwise_block), 0, a));
  } else {
    CTG_CHECK(c.node->name, ::ctg::runtime_ops::detail::launch_kernel(c.node->name, c.stream, fused_kernel<Program, T>, dim3(elementwise_grid(a.n)), dim3(elementwise_block), 0, a));
  }
  CTG_CHECK(c.node->name, cudaGetLastError());
}

}  // namespace runtime_ops::detail

//! Runs a fused group's program over the root node `c.node`: `c.inputs` are the group's leaves
//! (in the program's order), `c.output` the root's output. Throws ctg::runtime_error for a
//! missing pointer, a leaf whose size does not divide the output's, or a failed launch.
//! (The program is passed as a value so that it is deduced: nvcc's host stubs then name the kernel
//! by the program's own type, not by the alias it was spelled with, whose graph types they
//! misprint.)
template <class Program>
void launch_fused(const launch_context& c, Program) {
  runtime_ops::detail::fused_args a;
  a.n = c.node->out.elements();
  a.y = c.output;
  if (a.n == 0) return;
  if (c.input_count != Program::leaves)
    throw runtime_error(c.node->name, "launch_fused", "the fused group reads " + std::to_string(Program::leaves) + " tensors, but " + std::to_string(c.input_count) + " were given");
  if (a.y == nullptr) throw runtime_error(c.node->name, "launch_fused", "the output has no device pointer");
  for (int l = 0; l < Program::leaves; ++l) {
    a.leaf[l] = c.inputs[l];
    a.leaf_size[l] = c.input_desc[l].elements();
    if (a.leaf[l] == nullptr) throw runtime_error(c.node->name, "launch_fused", "leaf " + std::to_string(l) + " has no device pointer");
    if (a.leaf_size[l] <= 0 || a.n % a.leaf_size[l] != 0)
      throw runtime_error(c.node->name, "launch_fused", "leaf " + std::to_string(l) + " has " + std::to_string(a.leaf_size[l]) + " elements, which do not broadcast to the output's " + std::to_string(a.n));
  }
  const bool launched = with_float_type(c.node->out.dtype, [&](auto t) {
    runtime_ops::detail::launch_fused_typed<Program, typename decltype(t)::type>(c, a);
  });
  if (!launched)
    throw runtime_error(c.node->name, "launch_fused", "dtype " + std::string(name_of(c.node->out.dtype)) + " is not supported; fused groups run on f32, f16 and bf16");
}

}  // namespace ctg
