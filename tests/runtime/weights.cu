// Weights from a safetensors file: checked against the plan, uploaded once, bound, run; the
// result against a host reference. A mismatched file fails at load, naming the tensor.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/weights.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "gpu_util.hpp"

namespace weights_test {
using namespace ctg;

constexpr std::int64_t m = 8, k = 64, n = 32;
using x = input<"x", f32, shape<m, k>>;
using w = parameter<"block.0.w", f32, shape<k, n>>;
using v = parameter<"block.0.v", f32, shape<n, n>>;
struct h : node<"h", ops::matmul, x, w> {};
struct y : node<"y", ops::matmul, h, v> {};
using g = graph<y>;
constexpr auto p = make_plan<g>();

//! A safetensors file holding `tensors` (name, shape, values) in that order, f32.
std::string write_weights(const std::string& path, const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& shapes,
                          const std::vector<std::vector<float>>& values) {
  std::string header = "{";
  std::size_t at = 0;
  for (std::size_t i = 0; i < shapes.size(); ++i) {
    const std::size_t bytes = values[i].size() * 4;
    header += (i ? ", \"" : "\"") + shapes[i].first + "\": {\"dtype\": \"F32\", \"shape\": [";
    for (std::size_t d = 0; d < shapes[i].second.size(); ++d) header += (d ? ", " : "") + std::to_string(shapes[i].second[d]);
    header += "], \"data_offsets\": [" + std::to_string(at) + ", " + std::to_string(at + bytes) + "]}";
    at += bytes;
  }
  header += "}";
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t size = header.size();
  for (int i = 0; i < 8; ++i) out.put(char((size >> (8 * i)) & 0xff));
  out << header;
  for (const auto& t : values) out.write(reinterpret_cast<const char*>(t.data()), std::streamsize(t.size() * 4));
  return path;
}

TEST_CASE("weights: a safetensors file loads, binds and runs") {
  const auto hx = test::random_floats(std::size_t(m * k), 31), hw = test::random_floats(std::size_t(k * n), 32, -0.2f, 0.2f),
             hv = test::random_floats(std::size_t(n * n), 33, -0.2f, 0.2f);
  // The file's order differs from the graph's, and its offsets leave the data unaligned.
  const std::string path = write_weights("/tmp/ctgraph_weights_test.safetensors", {{"block.0.v", {n, n}}, {"block.0.w", {k, n}}}, {hv, hw});
  test::device_vector<float> dx(hx);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    const device_weights weights(p, path);
    CHECK(weights.bytes() == align_up(std::size_t(n * n * 4)) + align_up(std::size_t(k * n * 4)));
    auto ex = instantiate<g>(st, weights.bindings({bind("x", dx.ptr, dx.n)}));
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<float> out(std::size_t(m * n));
    REQUIRE(cudaMemcpy(out.data(), ex.data("y"), out.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    const auto want = test::host_matmul(test::host_matmul(hx, hw, m, k, n), hv, m, n, n);
    int bad = 0;
    for (std::size_t i = 0; i < out.size(); ++i) bad += std::fabs(out[i] - want[i]) > 1e-4f * (1.f + std::fabs(want[i]));
    CHECK(bad == 0);
  }
  // A file whose tensor has another shape fails at load, naming it; nothing is left allocated.
  const std::string wrong = write_weights("/tmp/ctgraph_weights_wrong.safetensors", {{"block.0.v", {n, n}}, {"block.0.w", {n, k}}}, {hv, hw});
  const long long before = allocation_count();
  try {
    device_weights weights(p, wrong);
    FAIL("no error");
  } catch (const load_error& e) {
    CHECK(e.tensor() == "block.0.w");
    CHECK(std::string(e.what()).find("the file's tensor is f32[32,64], the graph declares f32[64,32]") != std::string::npos);
  }
  CHECK(allocation_count() == before);
  cudaStreamDestroy(st);
}

// Tensor parallelism: rank 1 of 2 loads rows 32..63 of block.0.w (column-parallel) and columns
// 16..31 of block.0.v (row-parallel) from the file the unsharded plan loads whole.
using w_rows = parameter<"block.0.w", f32, shape<k / 2, n>>;
using v_columns = parameter<"block.0.v", f32, shape<n, n / 2>>;
struct wv : node<"wv", ops::matmul, w_rows, v_columns> {};  // a node to run: a graph of parameters alone has none
constexpr auto sliced = make_plan<graph<wv>>();

TEST_CASE("weights: each rank loads its slices of the same file") {
  const auto hw = test::random_floats(std::size_t(k * n), 34), hv = test::random_floats(std::size_t(n * n), 35);
  const std::string path = write_weights("/tmp/ctgraph_weights_sliced.safetensors", {{"block.0.w", {k, n}}, {"block.0.v", {n, n}}}, {hw, hv});
  const slice_rule rank1 = [](std::string_view name) { return name == "block.0.w" ? tensor_slice{0, 1, 2} : tensor_slice{1, 1, 2}; };
  const device_weights weights(sliced, path, rank1);
  CHECK(weights.bytes() == align_up(std::size_t(k / 2 * n * 4)) + align_up(std::size_t(n * n / 2 * 4)));
  auto download = [&](std::string_view name) {
    for (const binding& b : weights.bindings())
      if (b.name == name) {
        std::vector<float> h(b.bytes / 4);
        CTG_CHECK("test", cudaMemcpy(h.data(), b.data, b.bytes, cudaMemcpyDeviceToHost));
        return h;
      }
    return std::vector<float>();
  };
  const std::vector<float> rows = download("block.0.w"), columns = download("block.0.v");
  REQUIRE(rows.size() == std::size_t(k / 2 * n));
  REQUIRE(columns.size() == std::size_t(n * n / 2));
  CHECK(std::equal(rows.begin(), rows.end(), hw.begin() + k / 2 * n));
  int bad = 0;
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n / 2; ++j) bad += columns[std::size_t(i * (n / 2) + j)] != hv[std::size_t(i * n + n / 2 + j)];
  CHECK(bad == 0);
  // The unsharded file's tensor where the rule splits the other dimension: named, nothing left allocated.
  const long long before = allocation_count();
  const slice_rule swapped = [](std::string_view name) { return name == "block.0.w" ? tensor_slice{1, 1, 2} : tensor_slice{0, 1, 2}; };
  try {
    device_weights wrong(sliced, path, swapped);
    FAIL("no error");
  } catch (const load_error& e) {
    CHECK(e.tensor() == "block.0.w");
    CHECK(std::string(e.what()).find("the graph declares f32[32,32] as slice 1 of 2 along dimension 1, which needs f32[32,64] in the file; the file's tensor is f32[64,32]") != std::string::npos);
  }
  CHECK(allocation_count() == before);
}

}  // namespace weights_test
