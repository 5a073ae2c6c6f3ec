// The built-in kernels (runtime/ops/elementwise.cuh, runtime/ops/matmul.hpp, norms, softmax,
// rotary, attention, pack_rows) against host references, per op and dtype: the 16-byte path, the
// element path (odd sizes, misaligned pointers), broadcast input 1, in-place runs, matmul shapes
// from 1x1x1 to 16x4096x4096, the skinny matmul and the gemv (forced, and timed against cuBLASLt), attention with
// its keys split over clusters, and a CUDA-graph capture.
// Needs a GPU: the test binary's main exits with 77 (skipped) when there is none.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <ctgraph/graph/ops/argmax.hpp>
#include <ctgraph/graph/ops/attention.hpp>
#include <ctgraph/graph/ops/cat.hpp>
#include <ctgraph/graph/ops/elementwise.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/graph/ops/norm.hpp>
#include <ctgraph/graph/ops/permute.hpp>
#include <ctgraph/graph/ops/rotary.hpp>
#include <ctgraph/graph/ops/silu.hpp>
#include <ctgraph/graph/ops/slice.hpp>
#include <ctgraph/graph/ops/softmax.hpp>
#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/ops/argmax.cuh>
#include <ctgraph/runtime/ops/attention.cuh>
#include <ctgraph/runtime/ops/cache_attention.cuh>
#include <ctgraph/runtime/ops/elementwise.cuh>
#include <ctgraph/runtime/ops/matmul.hpp>
#include <ctgraph/runtime/ops/norm.cuh>
#include <ctgraph/runtime/ops/pack_rows.cuh>
#include <ctgraph/runtime/ops/rotary.cuh>
#include <ctgraph/runtime/ops/softmax.cuh>
#include <ctgraph/runtime/ops/strided_copy.cuh>
#include <ctgraph/runtime/binding.hpp>

#include "gpu_util.hpp"

namespace {
using namespace ctg;
using test::device_buffer, test::host_float, test::host_round;

void cuda_ok(cudaError_t e) { REQUIRE_MESSAGE(e == cudaSuccess, cudaGetErrorName(e), ": ", cudaGetErrorString(e)); }
void cublas_ok(cublasStatus_t s) { REQUIRE_MESSAGE(s == CUBLAS_STATUS_SUCCESS, cublasGetStatusString(s)); }

struct lt_handle {
  cublasLtHandle_t h = nullptr;
  lt_handle() { cublas_ok(cublasLtCreate(&h)); }
  lt_handle(const lt_handle&) = delete;
  lt_handle& operator=(const lt_handle&) = delete;
  ~lt_handle() { cublasLtDestroy(h); }
};

constexpr std::size_t workspace_bytes = std::size_t{32} << 20;


//! Relative tolerance of one dtype: a few units in its last place.
template <class T> constexpr double rtol = 1e-5;
template <> constexpr double rtol<__half> = 1e-3;
template <> constexpr double rtol<__nv_bfloat16> = 1e-2;

template <class T>
std::vector<T> random_values(std::int64_t n, float lo, float hi, unsigned seed) {
  return test::random_values<T>(std::size_t(n), lo, hi, seed);
}

template <class T>
void upload(T* dst, const std::vector<T>& src) {
  cuda_ok(cudaMemcpy(dst, src.data(), src.size() * sizeof(T), cudaMemcpyHostToDevice));
}
template <class T>
std::vector<T> download(const T* src, std::int64_t n) {
  std::vector<T> v(static_cast<std::size_t>(n));
  cuda_ok(cudaMemcpy(v.data(), src, v.size() * sizeof(T), cudaMemcpyDeviceToHost));
  return v;
}

tensor_desc vector_desc(dtype_id d, std::int64_t n) { return tensor_desc{d, 1, {n}}; }
tensor_desc matrix_desc(dtype_id d, std::int64_t rows, std::int64_t cols) { return tensor_desc{d, 2, {rows, cols}}; }

//! Counts elements outside |got - want| <= tol(i) + rtol |want| and names the first one.
template <class T, class Tolerance>
void check_within(const std::vector<T>& got, const std::vector<double>& want, double rel, const Tolerance& tol) {
  REQUIRE(got.size() == want.size());
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double g = host_float(got[i]);
    if (!(std::abs(g - want[i]) <= tol(i) + rel * std::abs(want[i])) && bad++ == 0) first = i;
  }
  INFO("first mismatch at ", first, ": got ", double(host_float(got[first])), ", want ", want[first], ", tolerance ", tol(first));
  CHECK_MESSAGE(bad == 0, bad, " of ", got.size(), " elements differ");
}
//! The same with one absolute tolerance for every element.
template <class T>
void check_close(const std::vector<T>& got, const std::vector<double>& want, double rel, double abs) {
  check_within(got, want, rel, [abs](std::size_t) { return abs; });
}

// --- elementwise ----------------------------------------------------------------------------

//! The elementwise ops under test, named here so that the reference below stays independent of
//! the ops' own functors.
enum class ew { relu, gelu, scale, add, mul, silu, gelu_erf };
constexpr ew elementwise_ops[] = {ew::relu, ew::gelu, ew::scale, ew::add, ew::mul, ew::silu, ew::gelu_erf};
constexpr double scale_factor = 3.0 / 7.0;

bool is_binary(ew op) { return op == ew::add || op == ew::mul; }

const char* op_name(ew op) {
  constexpr const char* names[] = {"relu", "gelu", "scale", "add", "mul", "silu", "gelu_erf"};
  return names[int(op)];
}

//! The device computes in float and rounds once to T; so does this.
float reference_op(ew op, float a, float b) {
  switch (op) {
    case ew::relu: return a < 0.f ? 0.f : a;
    case ew::gelu: {  // in double: the float tanh form loses its last bits where 1 + tanh(...) cancels
      const double x = a;
      return float(0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))));
    }
    case ew::scale: return a * float(scale_factor);
    case ew::add: return a + b;
    case ew::mul: return a * b;
    case ew::silu: return a / (1.f + std::exp(-a));
    case ew::gelu_erf: return 0.5f * a * (1.f + std::erf(a * 0.7071067811865476f));
  }
  return 0.f;
}

//! Runs op `op` through its own launch hook, as the executor does.
void launch_op(ew op, const launch_context& c) {
  switch (op) {
    case ew::relu: return ops::relu::launch(c);
    case ew::gelu: return ops::gelu::launch(c);
    case ew::scale: return ops::scale<3, 7>::launch(c);
    case ew::add: return ops::add::launch(c);
    case ew::mul: return ops::mul::launch(c);
    case ew::silu: return ops::silu::launch(c);
    case ew::gelu_erf: return ops::gelu_erf::launch(c);
  }
}

enum class alias { none, out_is_a, out_is_b };

struct elementwise_case {
  std::int64_t n;
  std::int64_t offset_a = 0, offset_b = 0, offset_out = 0;  // in elements: 1 misaligns
  alias out = alias::none;
  std::int64_t broadcast = 0;  // elements of input 1 when it broadcasts (divides n); 0: n
};

template <class T>
void check_elementwise(ew op, const elementwise_case& k) {
  const bool binary = is_binary(op);
  const std::int64_t nb = k.broadcast > 0 ? k.broadcast : k.n;
  if ((k.out == alias::out_is_b || k.broadcast > 0) && !binary) return;
  if (k.out == alias::out_is_b && nb != k.n) return;  // the output may take input 0's buffer only
  INFO("op ", op_name(op), ", dtype ", name_of(dtype_of<T>()), ", n ", k.n, ", offsets ", k.offset_a, "/", k.offset_b, "/",
       k.offset_out, ", alias ", int(k.out), ", input 1 of ", nb);
  const std::vector<T> a = random_values<T>(k.n, -4.f, 4.f, 1), b = random_values<T>(nb, -4.f, 4.f, 2);
  device_buffer da(std::size_t(k.n + k.offset_a) * sizeof(T)), db(std::size_t(nb + k.offset_b) * sizeof(T)),
      dout(std::size_t(k.n + k.offset_out) * sizeof(T));
  T* pa = da.at<T>(k.offset_a);
  T* pb = db.at<T>(k.offset_b);
  upload(pa, a);
  upload(pb, b);
  T* out = k.out == alias::out_is_a ? pa : k.out == alias::out_is_b ? pb : dout.at<T>(k.offset_out);

  node_desc d;
  d.name = "elementwise";
  d.out = matrix_desc(dtype_of<T>(), k.n / nb, nb);  // [n / nb, nb] + [nb]
  d.input_count = binary ? 2 : 1;
  launch_context c;
  c.node = &d;
  c.input_count = d.input_count;
  c.inputs[0] = pa;
  c.input_desc[0] = d.out;
  if (binary) c.inputs[1] = pb, c.input_desc[1] = vector_desc(dtype_of<T>(), nb);
  c.output = out;
  launch_op(op, c);
  cuda_ok(cudaDeviceSynchronize());

  std::vector<double> want(std::size_t(k.n));
  for (std::size_t i = 0; i < want.size(); ++i)
    want[i] = host_float(host_round<T>(reference_op(op, host_float(a[i]), host_float(b[i % std::size_t(nb)]))));
  // atol covers the tails (gelu's, silu's), where values near 0 keep only their absolute accuracy.
  check_close(download(out, k.n), want, rtol<T>, rtol<T> / 10);
}

// --- matmul ---------------------------------------------------------------------------------

struct matmul_case {
  std::int64_t m, k, n;
  std::int64_t offset_a = 0, offset_b = 0, offset_c = 0;  // in elements
};

//! The context of matmul node `d`: C = A x B, with A and B described by `ad` and `bd`.
launch_context matmul_context(const node_desc& d, const void* a, tensor_desc ad, const void* b, tensor_desc bd, void* c_out,
                              const lt_handle& lt, void* workspace = nullptr) {
  launch_context c;
  c.node = &d;
  c.input_count = 2;
  c.inputs[0] = a, c.inputs[1] = b;
  c.input_desc[0] = ad, c.input_desc[1] = bd;
  c.output = c_out;
  c.cublas_lt = lt.h;
  c.workspace = workspace;
  c.workspace_bytes = workspace ? workspace_bytes : 0;
  return c;
}

//! Checks one matmul against the host and returns the kernel that ran it.
template <class T>
matmul_kernel check_matmul(const lt_handle& lt, void* workspace, const matmul_case& s) {
  INFO("dtype ", name_of(dtype_of<T>()), ", M ", s.m, ", K ", s.k, ", N ", s.n, ", offsets ", s.offset_a, "/",
       s.offset_b, "/", s.offset_c);
  const std::vector<T> a = random_values<T>(s.m * s.k, -1.f, 1.f, 3), b = random_values<T>(s.k * s.n, -1.f, 1.f, 4);
  device_buffer da(std::size_t(s.m * s.k + s.offset_a) * sizeof(T)), db(std::size_t(s.k * s.n + s.offset_b) * sizeof(T)),
      dc(std::size_t(s.m * s.n + s.offset_c) * sizeof(T));
  upload(da.at<T>(s.offset_a), a);
  upload(db.at<T>(s.offset_b), b);
  cuda_ok(cudaMemset(dc.p, 0xff, std::size_t(s.m * s.n + s.offset_c) * sizeof(T)));  // NaN in every dtype

  node_desc d;
  d.name = "matmul";
  d.out = matrix_desc(dtype_of<T>(), s.m, s.n);
  d.input_count = 2;
  const launch_context c = matmul_context(d, da.at<T>(s.offset_a), matrix_desc(dtype_of<T>(), s.m, s.k), db.at<T>(s.offset_b),
                                          matrix_desc(dtype_of<T>(), s.k, s.n), dc.at<T>(s.offset_c), lt, workspace);
  const matmul_state prepared = prepare_matmul(c);
  INFO("kernel ", name_of(prepared.kernel), " (", prepared.reason, ")");
  cuda_ok(cudaMemset(dc.p, 0xff, std::size_t(s.m * s.n + s.offset_c) * sizeof(T)));  // timing at prepare wrote it
  launch_matmul(c, prepared);
  cuda_ok(cudaDeviceSynchronize());

  // Row-major reference in double, from the rounded inputs.
  std::vector<double> want(std::size_t(s.m * s.n), 0.0);
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t p = 0; p < s.k; ++p) {
      const double aip = host_float(a[std::size_t(i * s.k + p)]);
      for (std::int64_t j = 0; j < s.n; ++j) want[std::size_t(i * s.n + j)] += aip * host_float(b[std::size_t(p * s.n + j)]);
    }
  // Inputs in [-1, 1]: a sum of K products grows like sqrt(K), and so does its rounding error.
  const double scale = std::sqrt(double(std::max<std::int64_t>(s.k, 1)));
  check_close(download(dc.at<T>(s.offset_c), s.m * s.n), want, rtol<T>, rtol<T> * scale);
  return prepared.kernel;
}

template <class T>
void check_matmul_shapes() {
  lt_handle lt;
  device_buffer workspace(workspace_bytes);
  const matmul_case cases[] = {
      {16, 4096, 4096}, {3, 5, 7},   {1, 1, 1},   {64, 128, 96}, {33, 17, 65}, {7, 1, 3}, {128, 256, 8},
      {3, 5, 7, 1, 1, 1},  // every pointer one element off 256-byte alignment
      {33, 17, 65, 1, 0, 3},
  };
  for (const matmul_case& s : cases) check_matmul<T>(lt, workspace.p, s);
}

}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: elementwise matches the host", T, float, __half, __nv_bfloat16) {
  constexpr std::int64_t width = 16 / sizeof(T);
  const std::int64_t big = std::int64_t{3} << 20;  // more than one grid's worth: the loop strides
  const elementwise_case cases[] = {
      {big},                                // 16-byte path
      {4096 * width},                       // 16-byte path, one pass
      {1001},                               // odd size: element path
      {big + 1},                            // element path, striding
      {4096, 1, 0, 0},                      // input 0 misaligned
      {4096, 0, 1, 0},                      // input 1 misaligned (binary ops)
      {4096, 0, 0, 1},                      // output misaligned
      {4096, 0, 0, 0, alias::out_is_a},     // in place, 16-byte path
      {big, 0, 0, 0, alias::out_is_b},      // in place on input 1
      {1001, 1, 0, 0, alias::out_is_a},     // in place, element path
      {1, 0, 0, 0},                         // one element
      // Input 1 broadcast (binary ops): element i reads b[i % nb].
      {big, 0, 0, 0, alias::none, 768},         // a bias row: 16-byte path
      {big, 0, 0, 0, alias::none, big / 2},     // 16-byte path, b larger than the grid's stride
      {big, 1, 0, 0, alias::none, 768},         // input 0 misaligned: element path, striding
      {big, 0, 0, 0, alias::none, 3},           // b not a whole pack: element path
      {7 * 1001, 0, 0, 0, alias::none, 1001},   // odd sizes
      {4096, 0, 1, 0, alias::none, 256},        // b misaligned: element path
      {4096, 0, 0, 0, alias::out_is_a, 256},    // in place on input 0
      {1001, 1, 0, 0, alias::out_is_a, 7},      // in place, element path
      {4096, 0, 0, 0, alias::none, 1},          // a scalar
  };
  for (ew op : elementwise_ops)
    for (const elementwise_case& k : cases) check_elementwise<T>(op, k);
}

TEST_CASE("runtime_ops: elementwise refuses what it cannot run") {
  device_buffer buf(64);
  node_desc d;
  d.name = "bad";
  d.out = vector_desc(dtype_id::i32, 16);
  launch_context c;
  c.node = &d;
  c.input_count = 1;
  c.inputs[0] = buf.p;
  c.output = buf.p;
  CHECK_THROWS_WITH_AS(ops::relu::launch(c), doctest::Contains("dtype i32 is not supported"), runtime_error);
  d.out = vector_desc(dtype_id::f32, 16);
  CHECK_THROWS_WITH_AS(ops::add::launch(c), doctest::Contains("input 1"), runtime_error);  // input 1 missing
  c.input_count = 2, c.inputs[1] = buf.p, c.input_desc[1] = vector_desc(dtype_id::f32, 5);  // 5 does not divide 16
  CHECK_THROWS_WITH_AS(ops::add::launch(c), doctest::Contains("do not broadcast"), runtime_error);
  c.input_desc[1] = vector_desc(dtype_id::f32, 4);
  CHECK_NOTHROW(ops::add::launch(c));
  c.input_count = 1;
  CHECK_NOTHROW(ops::relu::launch(c));
  d.out = vector_desc(dtype_id::f32, 0);  // empty: nothing to launch
  CHECK_NOTHROW(ops::relu::launch(c));
  cuda_ok(cudaDeviceSynchronize());
}

TEST_CASE("runtime_ops: matmul bf16 matches the host") { check_matmul_shapes<__nv_bfloat16>(); }
TEST_CASE("runtime_ops: matmul f16 matches the host") { check_matmul_shapes<__half>(); }
TEST_CASE("runtime_ops: matmul f32 matches the host") { check_matmul_shapes<float>(); }

namespace {
// --- pack_rows: rows at an aligned pitch into a packed buffer ------------------------------------

//! pack_rows against a byte-for-byte host copy: the packed buffer starts `offset` bytes past a
//! 16-byte boundary and has 32 guard bytes on each side that must stay untouched; the source rows
//! are `pitch_extra` bytes wider than the 16-byte rounding of a row needs.
template <class E>
void check_pack_rows(std::size_t rows, std::size_t width, std::size_t offset, std::size_t pitch_extra) {
  INFO(sizeof(E), "-byte elements, ", rows, " rows of ", width, ", packed at +", offset, " bytes, pitch +", pitch_extra);
  const std::size_t row_bytes = width * sizeof(E), pitch = (row_bytes + 15) / 16 * 16 + pitch_extra, bytes = rows * row_bytes;
  std::vector<unsigned char> src(rows * pitch);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>((i * 2654435761u) >> 13);
  const std::size_t guard = 32, total = guard + offset + bytes + guard;
  device_buffer dsrc(src), ddst(total);
  cuda_ok(cudaMemset(ddst.p, 0xab, total));
  cuda_ok(pack_rows(dsrc.p, pitch, ddst.at<unsigned char>(std::int64_t(guard + offset)), width, rows, sizeof(E), nullptr));
  cuda_ok(cudaDeviceSynchronize());
  const std::vector<unsigned char> got = download(ddst.at<unsigned char>(0), std::int64_t(total));
  std::size_t bad = 0, first = 0;
  for (std::size_t i = 0; i < total; ++i) {
    const std::size_t b = i - guard - offset;  // byte b of the packed rows, if inside them
    const unsigned char want = i < guard + offset || b >= bytes ? 0xab : src[b / row_bytes * pitch + b % row_bytes];
    if (got[i] != want && bad++ == 0) first = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " of ", total, " bytes differ, the first at ", first);
}
}  // namespace

TEST_CASE("runtime_ops: pack_rows matches the host") {
  // Every width mod 8 and widths below one 16-byte chunk, so that chunks cross one or many row
  // boundaries; 1 row to 64; every element offset of the packed buffer within 16 bytes.
  for (const std::size_t rows : {1, 2, 3, 7, 64})
    for (const std::size_t width : {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 33, 255, 1023})
      for (std::size_t offset = 0; offset < 16; offset += 2) {
        check_pack_rows<std::uint16_t>(rows, width, offset, 0);
        if (offset % 4 == 0) check_pack_rows<std::uint32_t>(rows, width, offset, 0);
      }
  check_pack_rows<std::uint16_t>(5, 100, 6, 48);  // a pitch wider than needed
  check_pack_rows<std::uint32_t>(5, 101, 4, 32);
  check_pack_rows<std::uint16_t>(512, 50257, 0, 0);  // GPT-2's logits
  check_pack_rows<std::uint16_t>(3, 50257, 10, 0);
  check_pack_rows<std::uint32_t>(9, 50257, 12, 0);
}

TEST_CASE("runtime_ops: pack_rows refuses arguments outside its limits") {
  device_buffer src(4096), dst(4096);
  void* d = dst.p;
  CHECK(pack_rows(src.p, 64, d, 10, 2, 3, nullptr) == cudaErrorInvalidValue);                        // element size
  CHECK(pack_rows(src.p, 24, d, 10, 2, 2, nullptr) == cudaErrorInvalidValue);                        // pitch not a multiple of 16
  CHECK(pack_rows(src.p, 16, d, 10, 2, 2, nullptr) == cudaErrorInvalidValue);                        // pitch below a row
  CHECK(pack_rows(src.at<std::byte>(8), 32, d, 10, 2, 2, nullptr) == cudaErrorInvalidValue);         // source not 16-byte aligned
  CHECK(pack_rows(src.p, 64, dst.at<std::byte>(2), 10, 2, 4, nullptr) == cudaErrorInvalidValue);     // destination not element-aligned
  CHECK(pack_rows(src.p, 32, d, 10, pack_rows_max_rows + 1, 2, nullptr) == cudaErrorInvalidValue);  // too many rows
  CHECK(pack_rows(src.p, 32, d, 0, 2, 2, nullptr) == cudaSuccess);                                   // nothing to copy
  cuda_ok(cudaDeviceSynchronize());
}

TEST_CASE("runtime_ops: matmul with K = 0 writes zeros") {
  lt_handle lt;
  device_buffer in(16), out(4 * 3 * sizeof(float));
  cuda_ok(cudaMemset(out.p, 0xff, 4 * 3 * sizeof(float)));
  node_desc d;
  d.name = "empty";
  d.out = matrix_desc(dtype_id::f32, 4, 3);
  const launch_context c =
      matmul_context(d, in.p, matrix_desc(dtype_id::f32, 4, 0), in.p, matrix_desc(dtype_id::f32, 0, 3), out.p, lt);
  launch_matmul(c, prepare_matmul(c));
  cuda_ok(cudaDeviceSynchronize());
  check_close(download(static_cast<const float*>(out.p), 12), std::vector<double>(12, 0.0), 0.0, 0.0);
}

TEST_CASE("runtime_ops: matmul refuses shapes and dtypes that do not fit") {
  lt_handle lt;
  device_buffer buf(1024);
  node_desc d;
  d.name = "bad";
  d.out = matrix_desc(dtype_id::f32, 4, 3);
  // inner dims 5 != 6
  launch_context c = matmul_context(d, buf.p, matrix_desc(dtype_id::f32, 4, 5), buf.p, matrix_desc(dtype_id::f32, 6, 3), buf.p, lt);
  CHECK_THROWS_WITH_AS(prepare_matmul(c), doctest::Contains("shapes do not fit"), runtime_error);
  c.input_desc[1] = matrix_desc(dtype_id::f32, 5, 3);
  c.input_desc[0].dtype = dtype_id::bf16;
  CHECK_THROWS_WITH_AS(prepare_matmul(c), doctest::Contains("one dtype"), runtime_error);
  c.input_desc[0] = matrix_desc(dtype_id::i32, 4, 5);
  c.input_desc[1] = matrix_desc(dtype_id::i32, 5, 3);
  d.out.dtype = dtype_id::i32;
  CHECK_THROWS_WITH_AS(prepare_matmul(c), doctest::Contains("one dtype"), runtime_error);
  c.input_desc[0] = tensor_desc{dtype_id::f32, 1, {20}};  // not 2-d
  d.out.dtype = dtype_id::f32;
  c.input_desc[1].dtype = dtype_id::f32;
  CHECK_THROWS_WITH_AS(prepare_matmul(c), doctest::Contains("2-d"), runtime_error);
}

TEST_CASE("runtime_ops: a matmul prepared for aligned pointers refuses less aligned ones") {
  lt_handle lt;
  device_buffer buf(4096), workspace(workspace_bytes);
  node_desc d;
  d.name = "moved";
  d.out = matrix_desc(dtype_id::f32, 8, 8);
  launch_context c = matmul_context(d, buf.p, d.out, buf.p, d.out, static_cast<std::byte*>(buf.p) + 1024, lt, workspace.p);
  const matmul_state s = prepare_matmul(c);
  c.inputs[0] = static_cast<std::byte*>(buf.p) + 4;
  CHECK_THROWS_WITH_AS(launch_matmul(c, s), doctest::Contains("less aligned"), runtime_error);
  c.inputs[0] = buf.p;
  CHECK_NOTHROW(launch_matmul(c, s));
  cuda_ok(cudaDeviceSynchronize());
}

TEST_CASE("runtime_ops: matmul and elementwise capture into a CUDA graph") {
  // y = relu(A x B) + z, with relu in place on the matmul's output.
  constexpr std::int64_t m = 33, k = 64, n = 40;
  const std::vector<float> a = random_values<float>(m * k, -1.f, 1.f, 5), b = random_values<float>(k * n, -1.f, 1.f, 6),
                           z = random_values<float>(m * n, -1.f, 1.f, 7);
  lt_handle lt;
  device_buffer workspace(workspace_bytes), da(a.size() * 4), db(b.size() * 4), dz(z.size() * 4), dc(z.size() * 4),
      dy(z.size() * 4);
  upload(static_cast<float*>(da.p), a);
  upload(static_cast<float*>(db.p), b);
  upload(static_cast<float*>(dz.p), z);
  cudaStream_t stream = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const owned_stream owned(stream);

  node_desc mm, relu, add;
  mm.name = "c", mm.out = matrix_desc(dtype_id::f32, m, n), mm.input_count = 2;
  relu.name = "c_relu", relu.out = mm.out, relu.input_count = 1, relu.in_place = true;
  add.name = "y", add.out = mm.out, add.input_count = 2;
  launch_context cm, cr, ca;
  cm.stream = cr.stream = ca.stream = stream;
  cm.node = &mm, cm.input_count = 2, cm.output = dc.p;
  cm.inputs[0] = da.p, cm.inputs[1] = db.p;
  cm.input_desc[0] = matrix_desc(dtype_id::f32, m, k), cm.input_desc[1] = matrix_desc(dtype_id::f32, k, n);
  cm.cublas_lt = lt.h, cm.workspace = workspace.p, cm.workspace_bytes = workspace_bytes;
  cr.node = &relu, cr.input_count = 1, cr.inputs[0] = dc.p, cr.input_desc[0] = mm.out, cr.output = dc.p;
  ca.node = &add, ca.input_count = 2, ca.inputs[0] = dc.p, ca.inputs[1] = dz.p, ca.output = dy.p;
  ca.input_desc[0] = ca.input_desc[1] = mm.out;
  const matmul_state prepared = prepare_matmul(cm);
  const auto enqueue = [&] {
    launch_matmul(cm, prepared);
    ops::relu::launch(cr);
    ops::add::launch(ca);
  };
  enqueue();  // once eagerly, so that lazily loaded kernels are loaded before capture
  cuda_ok(cudaStreamSynchronize(stream));
  // On the stream: a legacy-stream memset is not ordered with a non-blocking stream.
  cuda_ok(cudaMemsetAsync(dy.p, 0xff, z.size() * 4, stream));
  cuda_ok(cudaMemsetAsync(dc.p, 0xff, z.size() * 4, stream));
  std::vector<float> y(z.size());
  {
    const graph_exec exec = instantiate_graph(capture(stream, "test", enqueue), "test");
    cuda_ok(cudaGraphLaunch(exec.get(), stream));
    cuda_ok(cudaStreamSynchronize(stream));
    cuda_ok(cudaMemcpy(y.data(), dy.p, y.size() * 4, cudaMemcpyDeviceToHost));
  }

  std::vector<double> want(z.size());
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t p = 0; p < k; ++p) s += double(a[std::size_t(i * k + p)]) * b[std::size_t(p * n + j)];
      const float c = float(s);
      want[std::size_t(i * n + j)] = (c < 0.f ? 0.f : c) + z[std::size_t(i * n + j)];
    }
  check_close(y, want, rtol<float>, rtol<float> * std::sqrt(double(k)));
}

namespace {
//! The context of node `n` reading `inputs` (pointer and description each) and writing `out`.
launch_context context_for(const node_desc& n, std::initializer_list<std::pair<const void*, tensor_desc>> inputs, void* out) {
  launch_context c;
  c.node = &n;
  for (const auto& [p, d] : inputs) c.inputs[c.input_count] = p, c.input_desc[c.input_count++] = d;
  c.output = out;
  return c;
}

// --- layer_norm and rms_norm --------------------------------------------------------------------

//! Host values of T as double, for the references below.
template <class T>
std::vector<double> as_doubles(const std::vector<T>& v) {
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) r[i] = host_float(v[i]);
  return r;
}

//! Each row normalised in double: the reference, written from the definition.
std::vector<double> host_norm(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>* b,
                              std::int64_t rows, std::int64_t d, double eps, bool center) {
  std::vector<double> y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    const double* row = x.data() + r * d;
    double mean = 0, var = 0;
    if (center) {
      for (std::int64_t i = 0; i < d; ++i) mean += row[i];
      mean /= double(d);
    }
    for (std::int64_t i = 0; i < d; ++i) var += (row[i] - mean) * (row[i] - mean);
    const double rstd = 1.0 / std::sqrt(var / double(d) + eps);
    for (std::int64_t i = 0; i < d; ++i)
      y[std::size_t(r * d + i)] = (row[i] - mean) * rstd * w[std::size_t(i)] + (b ? (*b)[std::size_t(i)] : 0.0);
  }
  return y;
}

template <class T>
void check_norm(std::int64_t rows, std::int64_t d, bool layer, bool with_bias) {
  INFO("dtype ", name_of(dtype_of<T>()), ", ", rows, " rows of ", d, layer ? ", layer_norm" : ", rms_norm", with_bias ? " with bias" : "");
  const auto x = random_values<T>(rows * d, -3.f, 5.f, 11), w = random_values<T>(d, 0.5f, 1.5f, 12), b = random_values<T>(d, -1.f, 1.f, 13);
  device_buffer dx(x), dw(w), db(b), dy(x.size() * sizeof(T));
  node_desc n;
  n.name = "norm";
  n.out = matrix_desc(dtype_of<T>(), rows, d);
  const tensor_desc vd = vector_desc(dtype_of<T>(), d);
  const launch_context c = layer && with_bias ? context_for(n, {{dx.p, n.out}, {dw.p, vd}, {db.p, vd}}, dy.p)
                                              : context_for(n, {{dx.p, n.out}, {dw.p, vd}}, dy.p);
  if (layer) ops::layer_norm<1e-5f>::launch(c);
  else ops::rms_norm<1e-6f>::launch(c);
  cuda_ok(cudaDeviceSynchronize());
  const std::vector<double> bd = as_doubles(b);
  std::vector<double> want = host_norm(as_doubles(x), as_doubles(w), layer && with_bias ? &bd : nullptr, rows, d,
                                       layer ? double(1e-5f) : double(1e-6f), layer);
  for (double& v : want) v = host_float(host_round<T>(float(v)));  // the device rounds once to T
  check_close(download(dy.at<T>(0), rows * d), want, rtol<T>, rtol<T>);
}
}  // namespace

namespace {
//! Batch norm (eval) from its definition, in double: element i is in channel (i / inner) % C.
std::vector<double> host_batch_norm(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
                                    const std::vector<double>& mean, const std::vector<double>& var, std::int64_t channels,
                                    std::int64_t inner, double eps) {
  std::vector<double> y(x.size());
  for (std::size_t i = 0; i < x.size(); ++i) {
    const std::size_t c = std::size_t(std::int64_t(i) / inner % channels);
    y[i] = (x[i] - mean[c]) / std::sqrt(var[c] + eps) * w[c] + b[c];
  }
  return y;
}

//! Batch norm (eval) on x [dims...] with channel dimension 1, against the definition in double.
template <class T>
void check_batch_norm(std::vector<std::int64_t> dims, bool in_place) {
  tensor_desc xd{dtype_of<T>(), int(dims.size()), {}};
  for (std::size_t k = 0; k < dims.size(); ++k) xd.dims[k] = dims[k];
  const std::int64_t n = xd.elements(), channels = dims[1], inner = n / (dims[0] * channels);
  INFO("dtype ", name_of(dtype_of<T>()), ", ", n, " elements in ", channels, " channels of ", inner, in_place ? ", in place" : "");
  const std::vector<T> x = random_values<T>(n, -3.f, 5.f, 31), w = random_values<T>(channels, 0.5f, 1.5f, 32),
                       b = random_values<T>(channels, -1.f, 1.f, 33), running_mean = random_values<T>(channels, -1.f, 2.f, 34),
                       variance = random_values<T>(channels, 0.1f, 3.f, 35);
  device_buffer dx(x), dw(w), db(b), dm(running_mean), dv(variance), dy(x.size() * sizeof(T));
  node_desc nd;
  nd.name = "bn";
  nd.out = xd;
  const tensor_desc cd = vector_desc(dtype_of<T>(), channels);
  const launch_context c = context_for(nd, {{dx.p, xd}, {dw.p, cd}, {db.p, cd}, {dm.p, cd}, {dv.p, cd}}, in_place ? dx.p : dy.p);
  ops::batch_norm<1e-5f>::launch(c);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<double> expected = host_batch_norm(as_doubles(x), as_doubles(w), as_doubles(b), as_doubles(running_mean), as_doubles(variance),
                                                 channels, inner, double(1e-5f));
  for (double& v : expected) v = host_float(host_round<T>(float(v)));  // the device rounds once to T
  check_close(download(static_cast<const T*>(c.output), n), expected, rtol<T>, rtol<T>);
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: batch_norm (five inputs) matches the host", T, float, __half, __nv_bfloat16) {
  check_batch_norm<T>({2, 3, 4, 5}, false);
  check_batch_norm<T>({4, 7}, false);       // [N, C]: one element per channel and row
  check_batch_norm<T>({1, 64, 1000}, true); // in place, several blocks
}

TEST_CASE_TEMPLATE("runtime_ops: layer_norm and rms_norm match the host", T, float, __half, __nv_bfloat16) {
  // Fewer rows than SMs take a block per row, more a warp per row (GPT-2's 512 rows).
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{5, 768}, {3, 1000}, {2, 1}, {7, 4096}, {1, 33}, {300, 768}, {1, 2048}};
  for (const auto& [rows, d] : shapes) {
    check_norm<T>(rows, d, true, true);
    check_norm<T>(rows, d, true, false);
    check_norm<T>(rows, d, false, false);
  }
}

namespace {
// --- softmax -------------------------------------------------------------------------------------

template <class T>
void check_softmax(std::int64_t rows, std::int64_t d, bool in_place) {
  INFO("dtype ", name_of(dtype_of<T>()), ", ", rows, " rows of ", d, in_place ? ", in place" : "");
  auto x = random_values<T>(rows * d, -8.f, 8.f, 21);
  for (std::int64_t r = 0; r < rows; ++r)  // masked entries, as attention's causal mask writes them
    for (std::int64_t i = r % 3 + 1; i < d; i += 5) x[std::size_t(r * d + i)] = host_round<T>(-INFINITY);
  device_buffer dx(x), dy(x.size() * sizeof(T));
  node_desc n;
  n.name = "softmax";
  n.out = matrix_desc(dtype_of<T>(), rows, d);
  const launch_context c = context_for(n, {{dx.p, n.out}}, in_place ? dx.p : dy.p);
  ops::softmax::launch(c);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<double> want(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double m = -1e300, s = 0;
    for (std::int64_t i = 0; i < d; ++i) m = std::max(m, double(host_float(x[std::size_t(r * d + i)])));
    for (std::int64_t i = 0; i < d; ++i) s += std::exp(double(host_float(x[std::size_t(r * d + i)])) - m);
    for (std::int64_t i = 0; i < d; ++i)
      want[std::size_t(r * d + i)] = host_float(host_round<T>(float(std::exp(double(host_float(x[std::size_t(r * d + i)])) - m) / s)));
  }
  check_close(download(static_cast<const T*>(c.output), rows * d), want, rtol<T>, rtol<T> / 100);
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: softmax matches the host", T, float, __half, __nv_bfloat16) {
  const std::pair<std::int64_t, std::int64_t> shapes[] = {{12 * 512, 512}, {3, 50257}, {4, 1}, {2, 33}};
  for (const auto& [rows, d] : shapes) {
    check_softmax<T>(rows, d, false);
    check_softmax<T>(rows, d, true);
  }
}

namespace {
// --- linear: transposed weights, bias and activation in cuBLASLt's epilogue ----------------------


//! Checks one linear node against the host and returns the kernel that ran it.
template <class T>
matmul_kernel check_linear(std::int64_t m, std::int64_t k, std::int64_t n, bool transpose_w, bool bias, ops::epilogue act,
                           bool residual = false) {
  INFO("dtype ", name_of(dtype_of<T>()), ", ", m, "x", k, "x", n, transpose_w ? ", W transposed" : "", bias ? ", bias" : "",
       ", activation ", int(act), residual ? ", residual" : "");
  const auto x = random_values<T>(m * k, -1.f, 1.f, 31), w = random_values<T>(k * n, -1.f, 1.f, 32), b = random_values<T>(n, -1.f, 1.f, 33);
  const auto r = random_values<T>(m * n, -4.f, 4.f, 34);
  device_buffer dx(x), dw(w), db(b), dr(r), dy(std::size_t(m * n) * sizeof(T)), workspace(workspace_bytes);
  node_desc d;
  d.name = "linear";
  d.out = matrix_desc(dtype_of<T>(), m, n);
  const tensor_desc wd = transpose_w ? matrix_desc(dtype_of<T>(), n, k) : matrix_desc(dtype_of<T>(), k, n);
  lt_handle lt;
  launch_context c = bias ? context_for(d, {{dx.p, matrix_desc(dtype_of<T>(), m, k)}, {dw.p, wd}, {db.p, vector_desc(dtype_of<T>(), n)}}, dy.p)
                          : context_for(d, {{dx.p, matrix_desc(dtype_of<T>(), m, k)}, {dw.p, wd}}, dy.p);
  if (residual) c.inputs[c.input_count] = dr.p, c.input_desc[c.input_count++] = d.out;
  c.cublas_lt = lt.h, c.workspace = workspace.p, c.workspace_bytes = workspace_bytes;
  const matmul_state prepared = prepare_matmul(c, ops::matmul_options{transpose_w, act});
  INFO("kernel ", name_of(prepared.kernel), " (", prepared.reason, ")");
  cuda_ok(cudaMemset(dy.p, 0xff, std::size_t(m * n) * sizeof(T)));  // NaN: timing at prepare wrote it already
  launch_matmul(c, prepared);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<double> want(std::size_t(m * n));
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double v = (bias ? host_float(b[std::size_t(j)]) : 0.0) + (residual ? host_float(r[std::size_t(i * n + j)]) : 0.0);
      for (std::int64_t p = 0; p < k; ++p)
        v += double(host_float(x[std::size_t(i * k + p)])) * host_float(w[std::size_t(transpose_w ? j * k + p : p * n + j)]);
      if (act == ops::epilogue::relu) v = v < 0 ? 0 : v;
      if (act == ops::epilogue::gelu) v = 0.5 * v * (1 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
      want[std::size_t(i * n + j)] = v;
    }
  const double scale = std::sqrt(double(k));
  check_close(download(dy.at<T>(0), m * n), want, rtol<T> * 2, rtol<T> * scale);
  return prepared.kernel;
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: linear with transposed weights, bias and activation matches the host", T, float, __nv_bfloat16) {
  const test::matmul_kernel_env cublaslt("cublaslt");
  for (bool transpose_w : {false, true})
    for (bool bias : {false, true})
      for (ops::epilogue act : {ops::epilogue::none, ops::epilogue::relu, ops::epilogue::gelu}) {
        check_linear<T>(16, 256, 96, transpose_w, bias, act);
        check_linear<T>(33, 64, 40, transpose_w, bias, act);
        check_linear<T>(33, 64, 37, transpose_w, bias, act);  // rows of C not 16-byte aligned: the packed copy
      }
}

TEST_CASE_TEMPLATE("runtime_ops: linear with a residual in cuBLASLt's C matches the host", T, float, __nv_bfloat16) {
  const test::matmul_kernel_env cublaslt("cublaslt");
  for (bool transpose_w : {false, true})
    for (bool bias : {false, true}) {
      check_linear<T>(16, 256, 96, transpose_w, bias, ops::epilogue::none, true);
      check_linear<T>(33, 64, 37, transpose_w, bias, ops::epilogue::none, true);
      check_linear<T>(1, 64, 37, transpose_w, bias, ops::epilogue::none, true);
    }
}

// --- the skinny matmul (runtime/ops/skinny_matmul.cuh), forced, and the timed choice --------------

TEST_CASE_TEMPLATE("runtime_ops: skinny matmul matches the host", T, __half, __nv_bfloat16) {
  const test::matmul_kernel_env skinny("skinny");
  using ops::epilogue;
  struct size {
    std::int64_t k, n;
  };
  // 264: a chunk of K past the last whole 32 (or 128); 136 and 40: a column tile partly past N;
  // 4096 x 512: split-K over a cluster's blocks (their tiles added over distributed shared memory).
  for (const size z : {size{256, 136}, size{264, 40}, size{4096, 512}})
    for (std::int64_t m : {1, 7, 16, 64})
      for (bool transpose_w : {false, true}) {
        CHECK(check_linear<T>(m, z.k, z.n, transpose_w, false, epilogue::none) == matmul_kernel::skinny);
        CHECK(check_linear<T>(m, z.k, z.n, transpose_w, true, epilogue::gelu) == matmul_kernel::skinny);
        CHECK(check_linear<T>(m, z.k, z.n, transpose_w, true, epilogue::none, true) == matmul_kernel::skinny);  // bias + residual
        if (z.k == 4096) continue;  // the host reference is the slow part
        CHECK(check_linear<T>(m, z.k, z.n, transpose_w, true, epilogue::relu) == matmul_kernel::skinny);
        CHECK(check_linear<T>(m, z.k, z.n, transpose_w, false, epilogue::none, true) == matmul_kernel::skinny);
        CHECK(check_linear<T>(m, z.k, z.n, transpose_w, false, epilogue::gelu) == matmul_kernel::skinny);
      }
}

TEST_CASE("runtime_ops: skinny matmul declines what it cannot run, and cuBLASLt runs it") {
  const test::matmul_kernel_env skinny("skinny");
  using ops::epilogue;
  CHECK(check_linear<__nv_bfloat16>(65, 256, 64, false, true, epilogue::relu) == matmul_kernel::cublaslt);  // M > 64
  CHECK(check_linear<__nv_bfloat16>(16, 60, 64, true, false, epilogue::none) == matmul_kernel::cublaslt);   // K % 8
  CHECK(check_linear<__nv_bfloat16>(16, 64, 36, false, true, epilogue::gelu) == matmul_kernel::cublaslt);   // N % 8
  CHECK(check_linear<float>(16, 256, 64, true, true, epilogue::relu) == matmul_kernel::cublaslt);           // f32
  lt_handle lt;
  device_buffer workspace(workspace_bytes);
  CHECK(check_matmul<__nv_bfloat16>(lt, workspace.p, {16, 256, 64, 1, 0, 0}) == matmul_kernel::cublaslt);  // A one element off
  CHECK(check_matmul<__half>(lt, workspace.p, {16, 256, 64, 0, 0, 4}) == matmul_kernel::cublaslt);         // C 8 bytes off
}

namespace {
//! One linear node (bias, `act`) forced onto `kernel` (CTGRAPH_MATMUL_KERNEL): run three times and
//! as a replayed CUDA graph, each run must give the first run's bits. Returns what prepare_matmul
//! chose.
template <class T>
matmul_state check_same_bits(const char* kernel, std::int64_t m, std::int64_t k, std::int64_t n, bool transpose_w, ops::epilogue act) {
  const test::matmul_kernel_env forced(kernel);
  INFO(kernel, " ", name_of(dtype_of<T>()), " ", m, "x", k, "x", n, transpose_w ? ", W transposed" : "");
  const auto x = random_values<T>(m * k, -1.f, 1.f, 41), w = random_values<T>(k * n, -1.f, 1.f, 42), b = random_values<T>(n, -1.f, 1.f, 43);
  device_buffer dx(x), dw(w), db(b), dy(std::size_t(m * n) * sizeof(T)), workspace(workspace_bytes);
  cudaStream_t stream = nullptr;
  cuda_ok(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const owned_stream owned(stream);
  node_desc d;
  d.name = "linear";
  d.out = matrix_desc(dtype_of<T>(), m, n);
  lt_handle lt;
  const tensor_desc wd = transpose_w ? matrix_desc(dtype_of<T>(), n, k) : matrix_desc(dtype_of<T>(), k, n);
  launch_context c = context_for(d, {{dx.p, matrix_desc(dtype_of<T>(), m, k)}, {dw.p, wd}, {db.p, vector_desc(dtype_of<T>(), n)}}, dy.p);
  c.cublas_lt = lt.h, c.workspace = workspace.p, c.workspace_bytes = workspace_bytes, c.stream = stream;
  matmul_state s = prepare_matmul(c, ops::matmul_options{transpose_w, act});
  REQUIRE(name_of(s.kernel) == std::string_view(kernel));
  launch_matmul(c, s);
  cuda_ok(cudaStreamSynchronize(stream));
  const std::vector<T> first = download(dy.at<T>(0), m * n);
  for (int run = 0; run < 3; ++run) {
    cuda_ok(cudaMemsetAsync(dy.p, 0xff, std::size_t(m * n) * sizeof(T), stream));
    launch_matmul(c, s);
    cuda_ok(cudaStreamSynchronize(stream));
    const std::vector<T> again = download(dy.at<T>(0), m * n);
    CHECK(std::memcmp(again.data(), first.data(), first.size() * sizeof(T)) == 0);
  }
  // Captured, replayed: the same bits.
  const graph_exec exec = instantiate_graph(capture(stream, "test", [&] { launch_matmul(c, s); }), "test");
  for (int replay = 0; replay < 3; ++replay) {
    cuda_ok(cudaMemsetAsync(dy.p, 0xff, std::size_t(m * n) * sizeof(T), stream));
    cuda_ok(cudaGraphLaunch(exec.get(), stream));
    cuda_ok(cudaStreamSynchronize(stream));
    const std::vector<T> again = download(dy.at<T>(0), m * n);
    CHECK(std::memcmp(again.data(), first.data(), first.size() * sizeof(T)) == 0);
  }
  return s;
}
}  // namespace

TEST_CASE("runtime_ops: skinny matmul gives the same bits every run, and replays in a CUDA graph") {
  // 16x4096x512, split-K: a cluster's slices add their tiles.
  const matmul_state s = check_same_bits<__nv_bfloat16>("skinny", 16, 4096, 512, false, ops::epilogue::gelu);
  CHECK(s.skinny.slices > 1);
  MESSAGE("skinny matmul 16x4096x512: ", s.skinny.tiles, " column tiles x ", s.skinny.slices, " K-slices, ",
          s.skinny.chunks_per_block, " chunks of ", s.skinny.chunk_k, " k per block");
}

TEST_CASE_TEMPLATE("runtime_ops: matmul times the skinny kernel against cuBLASLt and keeps the faster", T, __half, __nv_bfloat16) {
  const test::matmul_kernel_env automatic("auto");
  constexpr std::int64_t m = 16, k = 4096, n = 4096;
  const auto x = random_values<T>(m * k, -1.f, 1.f, 51), w = random_values<T>(k * n, -1.f, 1.f, 52);
  device_buffer dx(x), dw(w), dy(std::size_t(m * n) * sizeof(T)), workspace(workspace_bytes);
  node_desc d;
  d.name = "matmul";
  d.out = matrix_desc(dtype_of<T>(), m, n);
  lt_handle lt;
  const launch_context c = matmul_context(d, dx.p, matrix_desc(dtype_of<T>(), m, k), dw.p, matrix_desc(dtype_of<T>(), k, n), dy.p, lt, workspace.p);
  const matmul_state s = prepare_matmul(c, ops::matmul_options{false, ops::epilogue::relu});
  MESSAGE(name_of(dtype_of<T>()), " 16x4096x4096 -> relu: skinny ", s.skinny_us, " us, cuBLASLt ", s.cublaslt_us, " us; runs ",
          name_of(s.kernel));
  CHECK(std::string_view(s.reason) == "timed");
  CHECK(s.skinny_us > 0);
  CHECK(s.cublaslt_us > 0);
  CHECK(s.kernel == (detail::clearly_faster(s.skinny_us, s.cublaslt_us) ? matmul_kernel::skinny : matmul_kernel::cublaslt));
  CHECK(detail::clearly_faster(9.f, 10.f));
  CHECK(!detail::clearly_faster(9.8f, 10.f));  // within 5 %: cuBLASLt, the same choice every time
  cuda_ok(cudaMemset(dy.p, 0xff, std::size_t(m * n) * sizeof(T)));
  launch_matmul(c, s);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<double> want(std::size_t(m * n), 0.0);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t p = 0; p < k; ++p) {
      const double xip = host_float(x[std::size_t(i * k + p)]);
      for (std::int64_t j = 0; j < n; ++j) want[std::size_t(i * n + j)] += xip * host_float(w[std::size_t(p * n + j)]);
    }
  for (double& v : want) v = v < 0 ? 0 : v;
  check_close(download(dy.at<T>(0), m * n), want, rtol<T> * 2, rtol<T> * 64);
}

// --- the gemv (runtime/ops/gemv.cuh): M <= 8, W [N,K]; forced, and the timed choice ------------

TEST_CASE_TEMPLATE("runtime_ops: gemv matches the host", T, __half, __nv_bfloat16) {
  const test::matmul_kernel_env gemv("gemv");
  using ops::epilogue;
  struct size {
    std::int64_t n, k;
  };
  // 256 and 2048 rows of W: blocks whose warps split K; 5632: one warp per row pair (or four);
  // 2048 x 5632: K not a multiple of the 32 x 8 pieces a warp takes per step; 1000 x 264: 33
  // pieces per row, a block past N.
  for (const size z : {size{256, 2048}, size{2048, 2048}, size{5632, 2048}, size{2048, 5632}, size{1000, 264}})
    for (std::int64_t m : {1, 3, 8}) {
      CHECK(check_linear<T>(m, z.k, z.n, true, false, epilogue::none) == matmul_kernel::gemv);
      CHECK(check_linear<T>(m, z.k, z.n, true, true, epilogue::gelu) == matmul_kernel::gemv);
      CHECK(check_linear<T>(m, z.k, z.n, true, true, epilogue::none, true) == matmul_kernel::gemv);  // bias + residual
      CHECK(check_linear<T>(m, z.k, z.n, true, true, epilogue::relu) == matmul_kernel::gemv);
      CHECK(check_linear<T>(m, z.k, z.n, true, false, epilogue::none, true) == matmul_kernel::gemv);
    }
}

TEST_CASE("runtime_ops: gemv declines what it cannot run, and cuBLASLt runs it") {
  const test::matmul_kernel_env gemv("gemv");
  using ops::epilogue;
  CHECK(check_linear<__nv_bfloat16>(9, 256, 64, true, true, epilogue::relu) == matmul_kernel::cublaslt);    // M > 8
  CHECK(check_linear<__nv_bfloat16>(16, 256, 64, true, false, epilogue::none) == matmul_kernel::cublaslt);  // M > 8
  CHECK(check_linear<__nv_bfloat16>(4, 256, 64, false, true, epilogue::gelu) == matmul_kernel::cublaslt);   // W [K,N]
  CHECK(check_linear<__half>(4, 60, 64, true, false, epilogue::none) == matmul_kernel::cublaslt);           // K % 8
  CHECK(check_linear<float>(4, 256, 64, true, true, epilogue::relu) == matmul_kernel::cublaslt);            // f32
}

TEST_CASE_TEMPLATE("runtime_ops: gemv gives the same bits every run, and replays in a CUDA graph", T, __half, __nv_bfloat16) {
  for (const std::int64_t m : {1, 3, 8}) {
    const matmul_state s = check_same_bits<T>("gemv", m, 5632, 2048, true, ops::epilogue::gelu);
    MESSAGE("gemv ", m, "x5632 x [2048,5632]^T: ", s.gemv.blocks, " blocks of ", s.gemv.warps_k, " warps per ", s.gemv.rows_per_warp,
            " rows of W");
    const matmul_state split = check_same_bits<T>("gemv", m, 2048, 256, true, ops::epilogue::none);
    CHECK(split.gemv.warps_k > 1);  // 128 row pairs: the warps of a block split K
  }
}

TEST_CASE("runtime_ops: matmul times the gemv against cuBLASLt and the skinny kernel and keeps the fastest") {
  const test::matmul_kernel_env automatic("auto");
  using T = __nv_bfloat16;
  constexpr std::int64_t m = 1, k = 2048, n = 5632;
  const auto x = random_values<T>(m * k, -1.f, 1.f, 61), w = random_values<T>(n * k, -1.f, 1.f, 62);
  device_buffer dx(x), dw(w), dy(std::size_t(m * n) * sizeof(T)), workspace(workspace_bytes);
  node_desc d;
  d.name = "linear";
  d.out = matrix_desc(dtype_of<T>(), m, n);
  lt_handle lt;
  launch_context c = context_for(d, {{dx.p, matrix_desc(dtype_of<T>(), m, k)}, {dw.p, matrix_desc(dtype_of<T>(), n, k)}}, dy.p);
  c.cublas_lt = lt.h, c.workspace = workspace.p, c.workspace_bytes = workspace_bytes;
  const matmul_state s = prepare_matmul(c, ops::matmul_options{true, ops::epilogue::none});
  MESSAGE("bf16 1x2048 x [5632,2048]^T: gemv ", s.gemv_us, " us, skinny ", s.skinny_us, " us, cuBLASLt ", s.cublaslt_us, " us; runs ",
          name_of(s.kernel));
  CHECK(std::string_view(s.reason) == "timed");
  CHECK(s.gemv_us > 0);
  CHECK(s.skinny_us > 0);
  CHECK(s.cublaslt_us > 0);
  matmul_kernel want = matmul_kernel::cublaslt;
  if (detail::clearly_faster(s.skinny_us, s.cublaslt_us)) want = matmul_kernel::skinny;
  if (detail::clearly_faster(s.gemv_us, want == matmul_kernel::skinny ? s.skinny_us : s.cublaslt_us)) want = matmul_kernel::gemv;
  CHECK(s.kernel == want);
  CHECK(s.chosen_us() == (want == matmul_kernel::gemv ? s.gemv_us : want == matmul_kernel::skinny ? s.skinny_us : s.cublaslt_us));
  cuda_ok(cudaMemset(dy.p, 0xff, std::size_t(m * n) * sizeof(T)));
  launch_matmul(c, s);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<double> want_y(std::size_t(n), 0.0);
  for (std::int64_t j = 0; j < n; ++j)
    for (std::int64_t p = 0; p < k; ++p) want_y[std::size_t(j)] += double(host_float(x[std::size_t(p)])) * host_float(w[std::size_t(j * k + p)]);
  check_close(download(dy.at<T>(0), n), want_y, rtol<T> * 2, rtol<T> * 64);
}

namespace {
// --- attention: causal and full, grouped K/V heads, packed or separate q, k, v --------------------

//! Attention of [B, T, H*D] queries over [B, T, KVH*D] keys and values, in double, from the rounded
//! inputs: the reference, written from the definition.
template <class T>
std::vector<double> host_attention(const std::vector<T>& q, const std::vector<T>& k, const std::vector<T>& v, std::int64_t batch,
                                   std::int64_t tokens, int heads, int kv_heads, std::int64_t d, bool causal) {
  std::vector<double> o(std::size_t(batch * tokens * heads * d));
  std::vector<double> weights(static_cast<std::size_t>(tokens));  // one query's weights over the keys
  double* w = weights.data();
  for (std::int64_t b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h) {
      const int kh = h / (heads / kv_heads);
      for (std::int64_t i = 0; i < tokens; ++i) {
        const std::int64_t keys = causal ? i + 1 : tokens;
        double m = -1e300, sum = 0;
        for (std::int64_t j = 0; j < keys; ++j) {
          double s = 0;
          for (std::int64_t e = 0; e < d; ++e)
            s += double(host_float(q[std::size_t(((b * tokens + i) * heads + h) * d + e)])) *
                 double(host_float(k[std::size_t(((b * tokens + j) * kv_heads + kh) * d + e)]));
          s /= std::sqrt(double(d));
          w[j] = s;
          m = std::max(m, s);
        }
        for (std::int64_t j = 0; j < keys; ++j) {
          w[j] = std::exp(w[j] - m);
          sum += w[j];
        }
        for (std::int64_t e = 0; e < d; ++e) {
          double acc = 0;
          for (std::int64_t j = 0; j < keys; ++j)
            acc += w[j] * double(host_float(v[std::size_t(((b * tokens + j) * kv_heads + kh) * d + e)]));
          o[std::size_t(((b * tokens + i) * heads + h) * d + e)] = acc / sum;
        }
      }
    }
  return o;
}

//! One attention node run by its launch hook against host_attention: packed inputs are built by
//! interleaving q, k and v rows, as GPT-2's c_attn output lays them out.
template <class T, int H, int KVH, bool Causal>
void check_attention(std::int64_t batch, std::int64_t tokens, std::int64_t d, bool packed) {
  INFO("dtype ", name_of(dtype_of<T>()), ", batch ", batch, ", ", tokens, " tokens, ", H, "/", KVH, " heads of ", d,
       Causal ? ", causal" : ", full", packed ? ", packed" : "");
  using op = ops::attention<H, KVH, Causal>;
  const std::int64_t qc = H * d, kc = KVH * d;
  const auto q = random_values<T>(batch * tokens * qc, -1.f, 1.f, 41), k = random_values<T>(batch * tokens * kc, -1.f, 1.f, 42),
             v = random_values<T>(batch * tokens * kc, -1.f, 1.f, 43);
  const auto desc = [&](std::int64_t cols) {
    return batch > 1 ? tensor_desc{dtype_of<T>(), 3, {batch, tokens, cols}} : matrix_desc(dtype_of<T>(), tokens, cols);
  };
  std::vector<T> qkv;
  for (std::int64_t r = 0; r < batch * tokens; ++r) {
    qkv.insert(qkv.end(), q.begin() + r * qc, q.begin() + (r + 1) * qc);
    qkv.insert(qkv.end(), k.begin() + r * kc, k.begin() + (r + 1) * kc);
    qkv.insert(qkv.end(), v.begin() + r * kc, v.begin() + (r + 1) * kc);
  }
  device_buffer dq(q), dk(k), dv(v), dqkv(qkv), dout(std::size_t(batch * tokens * qc) * sizeof(T));
  const tensor_desc in[] = {desc(qc), desc(kc), desc(kc)}, in_packed[] = {desc(qc + 2 * kc)};
  const output_result r = packed ? op::output(in_packed) : op::output(in);
  REQUIRE(r.error == errc::ok);
  CHECK(r.out == desc(qc));
  node_desc n;
  n.name = "attention";
  n.out = r.out;
  const launch_context c = packed ? context_for(n, {{dqkv.p, in_packed[0]}}, dout.p)
                                  : context_for(n, {{dq.p, in[0]}, {dk.p, in[1]}, {dv.p, in[2]}}, dout.p);
  op::launch(c);
  cuda_ok(cudaDeviceSynchronize());
  check_close(download(dout.at<T>(0), batch * tokens * qc), host_attention(q, k, v, batch, tokens, H, KVH, d, Causal), rtol<T> * 2,
              rtol<T> * 2);
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: attention matches the host", T, __half, __nv_bfloat16) {
  check_attention<T, 4, 2, true>(1, 100, 64, false);   // grouped K/V, a partial last tile
  check_attention<T, 4, 2, true>(1, 100, 64, true);
  check_attention<T, 2, 2, true>(2, 64, 128, true);    // batch 2, head dimension 128
  check_attention<T, 3, 1, false>(1, 130, 64, true);   // full attention, one K/V head
  check_attention<T, 2, 1, false>(2, 200, 128, false);
  check_attention<T, 12, 12, true>(1, 1, 64, true);    // one token
  check_attention<T, 12, 12, true>(1, 512, 64, true);  // GPT-2's shape
  check_attention<T, 12, 12, false>(1, 512, 64, true);
  check_attention<T, 4, 1, true>(1, 449, 128, false);  // grouped K/V, D 128, a partial last tile
  // Few query tiles: on sm_90 with 132 SMs the keys are split over clusters of 4 blocks (at most 33
  // query tiles and 8 key tiles a row) or 2 (at most 66 and 4); before sm_90 only between 2 groups.
  check_attention<T, 2, 1, true>(1, 1000, 64, true);    // 32 tiles: 4 splits, 16 key tiles a row
  check_attention<T, 2, 2, false>(2, 520, 64, false);   // batch 2, full: 36 tiles, 2 splits
  check_attention<T, 1, 1, true>(1, 449, 128, true);    // D 128, a partial last tile
  check_attention<T, 8, 2, true>(1, 300, 64, false);    // 40 tiles: 2 splits
  check_attention<T, 4, 4, false>(1, 257, 128, true);   // 20 tiles, 5 a row: 2 splits, one key past a tile
}

namespace {
// --- cache_attention: a few tokens over a K/V cache at a position read on the device ------------

//! Queries [B, T, H*D] at positions pos + t over caches [B, S, KVH*D]: token t sees keys 0 .. pos + t.
template <class T>
std::vector<double> host_cache_attention(const std::vector<T>& q, const std::vector<T>& k, const std::vector<T>& v, std::int64_t batch,
                                         std::int64_t tokens, std::int64_t length, int heads, int kv_heads, std::int64_t d,
                                         std::int64_t pos) {
  std::vector<double> o(std::size_t(batch * tokens * heads * d));
  for (std::int64_t b = 0; b < batch; ++b)
    for (int h = 0; h < heads; ++h) {
      const int kh = h / (heads / kv_heads);
      for (std::int64_t t = 0; t < tokens; ++t) {
        const std::int64_t keys = std::min(pos + t + 1, length);
        std::vector<double> w(std::size_t(std::max<std::int64_t>(keys, 1)));
        double m = -1e300, sum = 0;
        for (std::int64_t j = 0; j < keys; ++j) {
          double s = 0;
          for (std::int64_t e = 0; e < d; ++e)
            s += double(host_float(q[std::size_t(((b * tokens + t) * heads + h) * d + e)])) *
                 double(host_float(k[std::size_t(((b * length + j) * kv_heads + kh) * d + e)]));
          w[std::size_t(j)] = s / std::sqrt(double(d));
          m = std::max(m, w[std::size_t(j)]);
        }
        for (std::int64_t j = 0; j < keys; ++j) sum += (w[std::size_t(j)] = std::exp(w[std::size_t(j)] - m));
        for (std::int64_t e = 0; e < d; ++e) {
          double acc = 0;
          for (std::int64_t j = 0; j < keys; ++j) acc += w[std::size_t(j)] * double(host_float(v[std::size_t(((b * length + j) * kv_heads + kh) * d + e)]));
          o[std::size_t(((b * tokens + t) * heads + h) * d + e)] = acc / sum;
        }
      }
    }
  return o;
}

template <class T, int H, int KVH, class Pos = std::int32_t>
void check_cache_attention(std::int64_t batch, std::int64_t tokens, std::int64_t length, std::int64_t d, std::int64_t pos) {
  INFO("dtype ", name_of(dtype_of<T>()), ", batch ", batch, ", ", tokens, " token(s) at ", pos, " over a cache of ", length, ", ", H, "/",
       KVH, " heads of ", d);
  using op = ops::cache_attention<H, KVH>;
  const std::int64_t qc = H * d, kc = KVH * d;
  const auto q = random_values<T>(batch * tokens * qc, -2.f, 2.f, 51), k = random_values<T>(batch * length * kc, -2.f, 2.f, 52),
             v = random_values<T>(batch * length * kc, -1.f, 1.f, 53);
  const auto desc = [&](std::int64_t rows, std::int64_t cols) {
    return batch > 1 ? tensor_desc{dtype_of<T>(), 3, {batch, rows, cols}} : matrix_desc(dtype_of<T>(), rows, cols);
  };
  const std::vector<Pos> p{Pos(pos)};
  device_buffer dq(q), dk(k), dv(v), dp(p), dout(std::size_t(batch * tokens * qc) * sizeof(T));
  const tensor_desc in[] = {desc(tokens, qc), desc(length, kc), desc(length, kc), vector_desc(dtype_of<Pos>(), 1)};
  const output_result r = op::output(in);
  REQUIRE(r.error == errc::ok);
  CHECK(r.out == desc(tokens, qc));
  CHECK(op::position(in).extent == tokens);
  CHECK(op::position(in).limit == length);
  node_desc n;
  n.name = "cache_attention";
  n.out = r.out;
  op::launch(context_for(n, {{dq.p, in[0]}, {dk.p, in[1]}, {dv.p, in[2]}, {dp.p, in[3]}}, dout.p));
  cuda_ok(cudaDeviceSynchronize());
  check_close(download(dout.at<T>(0), batch * tokens * qc), host_cache_attention(q, k, v, batch, tokens, length, H, KVH, d, pos),
              rtol<T> * 2, rtol<T> * 2);
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: cache_attention matches the host", T, __half, __nv_bfloat16) {
  check_cache_attention<T, 32, 4>(1, 1, 512, 64, 0);                    // the first decode step: one key
  check_cache_attention<T, 32, 4>(1, 1, 512, 64, 157);                  // TinyLlama's heads, far along
  check_cache_attention<T, 8, 8, std::int64_t>(1, 1, 3000, 128, 2999);  // the last row; more keys than a chunk
  check_cache_attention<T, 4, 2>(1, 7, 64, 64, 20);                     // several tokens: causal among them
  check_cache_attention<T, 4, 1>(3, 2, 40, 128, 5);                     // a batch shares the position
  check_cache_attention<T, 32, 4>(1, 32, 256, 64, 0);                   // a prompt at position 0
}

namespace {
// --- argmax --------------------------------------------------------------------------------------

template <class T>
void check_argmax(std::int64_t rows, std::int64_t cols, bool offset) {
  INFO("dtype ", name_of(dtype_of<T>()), ", [", rows, ", ", cols, "]", offset ? ", misaligned" : "");
  std::vector<T> x = random_values<T>(rows * cols + 1, -4.f, 4.f, 61);
  // Plant ties (the first index must win), a NaN (the largest) and a row of equal values.
  if (rows > 1 && cols > 9) x[std::size_t(offset) + std::size_t(cols) + 3] = x[std::size_t(offset) + std::size_t(cols) + 9] = host_round<T>(100.f);
  if (rows > 2 && cols > 6 && std::is_same_v<T, float>) x[std::size_t(offset) + 2 * std::size_t(cols) + 5] = std::nanf("");
  if (rows > 3) std::fill(x.begin() + std::ptrdiff_t(offset) + 3 * cols, x.begin() + std::ptrdiff_t(offset) + 4 * cols, host_round<T>(-1.f));
  device_buffer dx(x), dout(std::size_t(rows) * 4);
  const tensor_desc in[] = {matrix_desc(dtype_of<T>(), rows, cols)};
  const output_result r = ops::argmax::output(in);
  REQUIRE(r.error == errc::ok);
  CHECK(r.out == vector_desc(dtype_id::i32, rows));
  node_desc n;
  n.name = "argmax";
  n.out = r.out;
  ops::argmax::launch(context_for(n, {{dx.at<T>(offset ? 1 : 0), in[0]}}, dout.p));
  cuda_ok(cudaDeviceSynchronize());
  const std::vector<std::int32_t> got = download(dout.at<std::int32_t>(0), rows);
  for (std::int64_t i = 0; i < rows; ++i) {
    std::int64_t best = 0;
    for (std::int64_t j = 1; j < cols; ++j) {
      const double a = host_float(x[std::size_t(offset) + std::size_t(i * cols + j)]), b = host_float(x[std::size_t(offset) + std::size_t(i * cols + best)]);
      if ((std::isnan(a) && !std::isnan(b)) || (!std::isnan(b) && a > b)) best = j;
    }
    CHECK_MESSAGE(got[std::size_t(i)] == best, "row ", i);
  }
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: argmax matches the host", T, float, __half, __nv_bfloat16) {
  check_argmax<T>(1, 32000, false);  // a decode step's logits
  check_argmax<T>(5, 50257, false);  // rows of an odd length: no 16-byte packs
  check_argmax<T>(4, 1000, true);    // misaligned
  check_argmax<T>(7, 3, false);      // shorter than a warp
}

namespace {
// --- rotary --------------------------------------------------------------------------------------

//! Rope (an ops::rotary) on x [batch, tokens, heads * D] at positions first + (7 t mod tokens)
//! (not in order, as nothing requires them to be), or with `start` given one position, first, at
//! first + t; against rotate-half written out in double.
template <class Rope, class T, class Pos>
void check_rotary(std::int64_t batch, std::int64_t tokens, std::int64_t heads, std::int64_t first, bool in_place, bool start = false) {
  constexpr std::int64_t d = Rope::head_dim, half = d / 2;
  const std::int64_t cols = heads * d, n = batch * tokens * cols;
  INFO("dtype ", name_of(dtype_of<T>()), ", positions ", name_of(dtype_of<Pos>()), ", D ", d, ", theta ", Rope::theta, ", [", batch,
       ", ", tokens, ", ", heads, "*D], first position ", first, in_place ? ", in place" : "", start ? ", one start position" : "");
  const auto x = random_values<T>(n, -2.f, 2.f, 41);
  std::vector<Pos> pos(static_cast<std::size_t>(tokens));
  for (std::int64_t t = 0; t < tokens; ++t) pos[std::size_t(t)] = Pos(start ? first + t : first + (7 * t) % tokens);
  device_buffer dx(x), dpos(pos), dy(x.size() * sizeof(T));
  node_desc nd;
  nd.name = "rotary";
  nd.out = tensor_desc{dtype_of<T>(), 3, {batch, tokens, cols}};
  const tensor_desc pos_desc = vector_desc(dtype_of<Pos>(), start ? 1 : tokens);  // start: the device sees pos[0] only
  REQUIRE(Rope::output(std::array{nd.out, pos_desc}).error == errc::ok);
  const launch_context c = context_for(nd, {{dx.p, nd.out}, {dpos.p, pos_desc}}, in_place ? dx.p : dy.p);
  Rope::launch(c);
  cuda_ok(cudaDeviceSynchronize());

  // y[i] = x[i] cos - x[i + D/2] sin, y[i + D/2] = x[i + D/2] cos + x[i] sin, angle pos theta^(-2i/D).
  // The device's angle is a float product (as Hugging Face's): off by a few float ulps of the angle,
  // which turns the pair by that much; the tolerance allows it (and float rounding) per element.
  std::vector<double> want(x.size()), tol(x.size());
  for (std::int64_t r = 0; r < batch * tokens; ++r)
    for (std::int64_t h = 0; h < heads; ++h)
      for (std::int64_t i = 0; i < half; ++i) {
        const std::size_t k = std::size_t(r * cols + h * d + i), k2 = k + std::size_t(half);
        const double angle = double(pos[std::size_t(r % tokens)]) * std::pow(double(Rope::theta), -2.0 * double(i) / double(d));
        const double co = std::cos(angle), si = std::sin(angle), a = host_float(x[k]), b = host_float(x[k2]);
        want[k] = host_float(host_round<T>(float(a * co - b * si)));
        want[k2] = host_float(host_round<T>(float(b * co + a * si)));
        tol[k] = tol[k2] = (std::abs(a) + std::abs(b)) * (1e-6 * std::abs(angle) + 1e-6);
      }
  check_within(download(static_cast<const T*>(c.output), n), want, rtol<T>, [&](std::size_t i) { return tol[i]; });
}

template <class T, class Pos>
void check_rotary_shapes() {
  check_rotary<ops::rotary<64>, T, Pos>(1, 7, 3, 0, false);
  check_rotary<ops::rotary<64>, T, Pos>(2, 33, 12, 0, true);             // a batch shares the positions
  check_rotary<ops::rotary<64>, T, Pos>(1, 1, 32, 4000, false);         // one decode step, far along
  check_rotary<ops::rotary<128>, T, Pos>(1, 512, 8, 0, true);           // Llama's head dimension
  check_rotary<ops::rotary<128, 500000.f>, T, Pos>(2, 16, 4, 1000, false);  // Llama 3's theta
  check_rotary<ops::rotary<8>, T, Pos>(3, 5, 70, 3, false);             // more heads than one block's
  check_rotary<ops::rotary<2>, T, Pos>(1, 3, 5, 0, true);               // one pair per head
  check_rotary<ops::rotary<1024>, T, Pos>(1, 2, 2, 9, false);           // more pairs than threads
  check_rotary<ops::rotary<64>, T, Pos>(1, 37, 4, 11, false, true);       // one position: the first token's
  check_rotary<ops::rotary<128>, T, Pos>(2, 5, 3, 0, true, true);
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: rotary matches the host", T, float, __half, __nv_bfloat16) {
  check_rotary_shapes<T, std::int32_t>();
  check_rotary_shapes<T, std::int64_t>();
}

TEST_CASE("runtime_ops: rotary refuses what it cannot run") {
  device_buffer buf(4096);
  node_desc nd;
  nd.name = "bad";
  nd.out = matrix_desc(dtype_id::f32, 4, 128);
  launch_context c = context_for(nd, {{buf.p, nd.out}, {buf.p, vector_desc(dtype_id::f32, 4)}}, buf.p);
  CHECK_THROWS_WITH_AS(ops::rotary<64>::launch(c), doctest::Contains("not supported"), runtime_error);  // float positions
  c.input_desc[1] = vector_desc(dtype_id::i32, 3);
  CHECK_THROWS_WITH_AS(ops::rotary<64>::launch(c), doctest::Contains("positions [T]"), runtime_error);  // 3 positions, 4 tokens
  c.input_desc[1] = vector_desc(dtype_id::i32, 4);
  CHECK_THROWS_WITH_AS(ops::rotary<48>::launch(c), doctest::Contains("positions [T]"), runtime_error);  // 128 is not whole heads of 48
  nd.out.dtype = dtype_id::i32;
  CHECK_THROWS_WITH_AS(ops::rotary<64>::launch(c), doctest::Contains("not supported"), runtime_error);
}

namespace {
// --- layout ops: permute, transpose, slice, cat --------------------------------------------------

tensor_desc dims_desc(std::initializer_list<std::int64_t> dims) {
  tensor_desc t{dtype_id::f32, int(dims.size()), {}};
  int i = 0;
  for (std::int64_t d : dims) t.dims[i++] = d;
  return t;
}
std::vector<std::int64_t> coords_of(std::int64_t i, const tensor_desc& t) {
  std::vector<std::int64_t> c(std::size_t(t.rank));
  for (int k = t.rank - 1; k >= 0; --k) c[std::size_t(k)] = i % t.dims[k], i /= t.dims[k];
  return c;
}
std::int64_t linear_index(const std::vector<std::int64_t>& c, const tensor_desc& t) {
  std::int64_t i = 0;
  for (int k = 0; k < t.rank; ++k) i = i * t.dims[k] + c[std::size_t(k)];
  return i;
}

//! Where output element (coords) comes from: which input, and its coords there.
struct source_element {
  int input = 0;
  std::vector<std::int64_t> coords;
};

//! Runs layout op Op through its launch hook on inputs of dtype `d` and shapes `shapes` filled with
//! random bytes, each buffer (and the output) `offset` bytes past 256-byte alignment, and checks
//! that every output element has the bytes of the input element `source(coords)` names: the host
//! reference, written from the op's definition. Bytes, not values: a copy moves bits (NaNs too).
template <class Op, class Source>
void check_layout(dtype_id d, std::initializer_list<tensor_desc> shapes, std::size_t offset, const Source& source) {
  std::vector<tensor_desc> in(shapes);
  for (tensor_desc& t : in) t.dtype = d;
  const output_result r = Op::output(std::span<const tensor_desc>(in.data(), in.size()));
  REQUIRE(r.error == errc::ok);
  std::string shape_text;
  for (const tensor_desc& t : in) {
    shape_text += " [";
    for (int k = 0; k < t.rank; ++k) shape_text += (k ? "," : "") + std::to_string(t.dims[k]);
    shape_text += "]";
  }
  INFO(Op::name, " of dtype ", name_of(d), " on", shape_text, ", pointers ", offset, " bytes off alignment");
  const std::size_t e = size_of(d);
  std::mt19937 rng(unsigned(11 + offset));
  std::vector<std::vector<unsigned char>> host;
  std::vector<std::unique_ptr<device_buffer>> dev;
  node_desc n;
  n.name = Op::name;
  n.out = r.out;
  launch_context c;
  c.node = &n;
  for (const tensor_desc& t : in) {
    std::vector<unsigned char> bytes(t.bytes());
    for (unsigned char& b : bytes) b = static_cast<unsigned char>(rng());
    dev.push_back(std::make_unique<device_buffer>(bytes.size() + offset));
    cuda_ok(cudaMemcpy(dev.back()->at<unsigned char>(std::int64_t(offset)), bytes.data(), bytes.size(), cudaMemcpyHostToDevice));
    c.inputs[c.input_count] = dev.back()->at<unsigned char>(std::int64_t(offset));
    c.input_desc[c.input_count++] = t;
    host.push_back(std::move(bytes));
  }
  device_buffer out(r.out.bytes() + offset);
  cuda_ok(cudaMemset(out.p, 0xab, r.out.bytes() + offset));
  c.output = out.at<unsigned char>(std::int64_t(offset));
  Op::launch(c);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<unsigned char> got(r.out.bytes());
  cuda_ok(cudaMemcpy(got.data(), c.output, got.size(), cudaMemcpyDeviceToHost));
  std::int64_t bad = 0, first = -1;
  for (std::int64_t i = 0; i < r.out.elements(); ++i) {
    const source_element from = source(coords_of(i, r.out));
    const std::int64_t j = linear_index(from.coords, in[std::size_t(from.input)]);
    if (std::memcmp(got.data() + std::size_t(i) * e, host[std::size_t(from.input)].data() + std::size_t(j) * e, e) != 0 && bad++ == 0) first = i;
  }
  CHECK_MESSAGE(bad == 0, bad, " of ", r.out.elements(), " elements differ, the first at output element ", first);
}

//! The source of a permutation's output element: input dimension perm[i] is output dimension i.
auto permuted(std::vector<int> perm) {
  return [perm](const std::vector<std::int64_t>& c) {
    source_element s{0, c};
    for (std::size_t i = 0; i < perm.size(); ++i) s.coords[std::size_t(perm[i])] = c[i];
    return s;
  };
}
auto sliced(int dim, std::int64_t begin) {
  return [dim, begin](const std::vector<std::int64_t>& c) {
    source_element s{0, c};
    s.coords[std::size_t(dim)] += begin;
    return s;
  };
}
auto concatenated(int dim, std::vector<std::int64_t> extents) {
  return [dim, extents](const std::vector<std::int64_t>& c) {
    source_element s{0, c};
    while (s.coords[std::size_t(dim)] >= extents[std::size_t(s.input)]) s.coords[std::size_t(dim)] -= extents[std::size_t(s.input++)];
    return s;
  };
}

void check_layout_ops(dtype_id d, std::size_t offset) {
  // Transposes of the last two dimensions: the tiled kernel, with partial tiles and a batch.
  check_layout<ops::transpose<-2, -1>>(d, {dims_desc({3, 37, 45})}, offset, permuted({0, 2, 1}));
  check_layout<ops::transpose<0, 1>>(d, {dims_desc({64, 64})}, offset, permuted({1, 0}));
  check_layout<ops::transpose<1, 0>>(d, {dims_desc({5, 70000})}, offset, permuted({1, 0}));      // many tiles along one side
  check_layout<ops::transpose<-1, -2>>(d, {dims_desc({2, 1, 5})}, offset, permuted({0, 2, 1}));  // moves a size-1 dimension only
  // The heads of [B, T, H, D] to [B, H, T, D]: rows of D stay whole (wide moves where aligned).
  check_layout<ops::permute<0, 2, 1, 3>>(d, {dims_desc({2, 5, 3, 64})}, offset, permuted({0, 2, 1, 3}));
  check_layout<ops::permute<0, 2, 1, 3>>(d, {dims_desc({2, 5, 3, 7})}, offset, permuted({0, 2, 1, 3}));
  // A rotation (tiled, with a batch dimension between the tile's two) and a full reversal.
  check_layout<ops::permute<2, 0, 1>>(d, {dims_desc({3, 4, 5})}, offset, permuted({2, 0, 1}));
  check_layout<ops::permute<3, 2, 1, 0>>(d, {dims_desc({2, 3, 4, 5})}, offset, permuted({3, 2, 1, 0}));
  check_layout<ops::permute<1, 0, 2>>(d, {dims_desc({40, 3, 33})}, offset, permuted({1, 0, 2}));
  // Slices: inner (strided), of a middle dimension, and of rows not at the start (one contiguous run).
  check_layout<ops::slice<-1, 1, 4>>(d, {dims_desc({5, 7})}, offset, sliced(1, 1));
  check_layout<ops::slice<1, 2, 5>>(d, {dims_desc({4, 8, 6})}, offset, sliced(1, 2));
  check_layout<ops::slice<0, 3, 7>>(d, {dims_desc({10, 16})}, offset, sliced(0, 3));
  check_layout<ops::slice<2, 64, 128>>(d, {dims_desc({3, 2, 192})}, offset, sliced(2, 64));  // k of a packed qkv
  // Cat along the last, first and middle dimension, up to max_inputs (8) inputs.
  check_layout<ops::cat<1>>(d, {dims_desc({4, 3}), dims_desc({4, 5}), dims_desc({4, 1})}, offset, concatenated(1, {3, 5, 1}));
  check_layout<ops::cat<0>>(d, {dims_desc({2, 8}), dims_desc({3, 8})}, offset, concatenated(0, {2, 3}));
  check_layout<ops::cat<-2>>(d, {dims_desc({2, 3, 64}), dims_desc({2, 1, 64}), dims_desc({2, 2, 64}), dims_desc({2, 5, 64})}, offset,
                             concatenated(1, {3, 1, 2, 5}));
  check_layout<ops::cat<0>>(d, {dims_desc({6, 2})}, offset, concatenated(0, {6}));
  check_layout<ops::cat<-1>>(d, {dims_desc({3, 1}), dims_desc({3, 4}), dims_desc({3, 2}), dims_desc({3, 5}), dims_desc({3, 1}),
                                 dims_desc({3, 3}), dims_desc({3, 8}), dims_desc({3, 2})},
                             offset, concatenated(1, {1, 4, 2, 5, 1, 3, 8, 2}));  // max_inputs inputs
}
}  // namespace

TEST_CASE("runtime_ops: permute, transpose, slice and cat match the host") {
  for (dtype_id d : {dtype_id::f32, dtype_id::f16, dtype_id::bf16, dtype_id::i32, dtype_id::i64, dtype_id::u8}) {
    check_layout_ops(d, 0);
    check_layout_ops(d, size_of(d));  // one element off: no wide moves
  }
}

TEST_CASE("runtime_ops: the layout ops refuse what they cannot run") {
  device_buffer buf(4096);
  node_desc nd;
  nd.name = "bad";
  nd.out = matrix_desc(dtype_id::f32, 4, 8);
  launch_context c = context_for(nd, {{buf.p, matrix_desc(dtype_id::f16, 8, 4)}}, buf.p);
  CHECK_THROWS_WITH_AS((ops::transpose<0, 1>::launch(c)), doctest::Contains("input 0 is f16"), runtime_error);
  c.input_desc[0] = matrix_desc(dtype_id::f32, 8, 5);
  CHECK_THROWS_WITH_AS((ops::transpose<0, 1>::launch(c)), doctest::Contains("permuted"), runtime_error);
  c.input_desc[0] = matrix_desc(dtype_id::f32, 4, 9);
  CHECK_THROWS_WITH_AS((ops::slice<1, 2, 10>::launch(c)), doctest::Contains("not a slice"), runtime_error);  // 2 + 8 > 9
  c.input_desc[0] = matrix_desc(dtype_id::f32, 4, 7);
  CHECK_THROWS_WITH_AS(ops::cat<1>::launch(c), doctest::Contains("side by side"), runtime_error);
  c.inputs[0] = nullptr;
  c.input_desc[0] = matrix_desc(dtype_id::f32, 8, 4);
  CHECK_THROWS_WITH_AS((ops::transpose<0, 1>::launch(c)), doctest::Contains("no device pointer"), runtime_error);
}

namespace {
// --- batched_matmul: one strided-batch cuBLASLt call ---------------------------------------------

template <class T, bool TransposeB>
void check_batched_matmul(std::int64_t batch, std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t offset = 0) {
  INFO("dtype ", name_of(dtype_of<T>()), ", batch ", batch, ", ", m, "x", k, " x ", k, "x", n, TransposeB ? ", B transposed" : "",
       ", pointers ", offset, " elements off alignment");
  using op = ops::batched_matmul<TransposeB>;
  const auto a = random_values<T>(batch * m * k, -1.f, 1.f, 51), b = random_values<T>(batch * k * n, -1.f, 1.f, 52);
  device_buffer da((a.size() + std::size_t(offset)) * sizeof(T)), db((b.size() + std::size_t(offset)) * sizeof(T)),
      dc(std::size_t(batch * m * n + offset) * sizeof(T)), workspace(workspace_bytes);
  upload(da.at<T>(offset), a);
  upload(db.at<T>(offset), b);
  cuda_ok(cudaMemset(dc.p, 0xff, std::size_t(batch * m * n + offset) * sizeof(T)));  // NaN in every dtype
  const tensor_desc in[] = {{dtype_of<T>(), 3, {batch, m, k}}, {dtype_of<T>(), 3, {batch, TransposeB ? n : k, TransposeB ? k : n}}};
  const output_result r = op::output(in);
  REQUIRE(r.error == errc::ok);
  REQUIRE(r.out == tensor_desc{dtype_of<T>(), 3, {batch, m, n}});
  node_desc nd;
  nd.name = "batched_matmul";
  nd.out = r.out;
  lt_handle lt;
  launch_context c = context_for(nd, {{da.at<T>(offset), in[0]}, {db.at<T>(offset), in[1]}}, dc.at<T>(offset));
  c.cublas_lt = lt.h, c.workspace = workspace.p, c.workspace_bytes = workspace_bytes;
  const auto state = op::prepare(c);
  op::launch(c, state);
  cuda_ok(cudaDeviceSynchronize());
  std::vector<double> want(std::size_t(batch * m * n), 0.0);
  for (std::int64_t q = 0; q < batch; ++q)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double v = 0;
        for (std::int64_t p = 0; p < k; ++p)
          v += double(host_float(a[std::size_t((q * m + i) * k + p)])) *
               host_float(b[std::size_t(TransposeB ? (q * n + j) * k + p : (q * k + p) * n + j)]);
        want[std::size_t((q * m + i) * n + j)] = v;
      }
  check_close(download(dc.at<T>(offset), batch * m * n), want, rtol<T>, rtol<T> * std::sqrt(double(k)));
}

template <class T, bool TransposeB>
void check_batched_matmul_shapes() {
  check_batched_matmul<T, TransposeB>(4, 16, 64, 32);
  check_batched_matmul<T, TransposeB>(12, 64, 64, 64);   // attention's q k^T per head, GPT-2 sized heads
  check_batched_matmul<T, TransposeB>(3, 5, 7, 9);       // matrices that start off 16-byte alignment
  check_batched_matmul<T, TransposeB>(3, 5, 7, 9, 1);    // and pointers one element off
  check_batched_matmul<T, TransposeB>(2, 33, 17, 37);    // rows of C not 16-byte aligned: the packed copy
  check_batched_matmul<T, TransposeB>(5, 1, 64, 37);     // one row per matrix, batches packed after
  check_batched_matmul<T, TransposeB>(1, 8, 8, 8);       // a batch of one
}
}  // namespace

TEST_CASE_TEMPLATE("runtime_ops: batched_matmul matches the host", T, float, __half, __nv_bfloat16) {
  check_batched_matmul_shapes<T, false>();
  check_batched_matmul_shapes<T, true>();
}

TEST_CASE("runtime_ops: batched_matmul refuses batches that differ") {
  lt_handle lt;
  device_buffer buf(4096);
  node_desc nd;
  nd.name = "bad";
  nd.out = tensor_desc{dtype_id::f32, 3, {2, 4, 4}};
  launch_context c = context_for(nd, {{buf.p, nd.out}, {buf.p, tensor_desc{dtype_id::f32, 3, {3, 4, 4}}}}, buf.p);
  c.cublas_lt = lt.h;
  CHECK_THROWS_WITH_AS(ops::batched_matmul<>::prepare(c), doctest::Contains("of one batch"), runtime_error);
}
