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

}  // namespace weights_test
