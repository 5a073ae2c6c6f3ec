// Reading safetensors headers and matching a plan's parameters: every mismatch is a load_error
// that names the file and the tensor.
#include <ctgraph/ctgraph.hpp>
#include <ctgraph/io/safetensors.hpp>

#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

namespace safetensors_test {
using namespace ctg;

using x = input<"x", f32, shape<2, 4>>;
using w = parameter<"layer.0.w", f32, shape<4, 3>>;  // names need not be C++ identifiers
using e = parameter<"layer.0.e", bf16, shape<8>>;
struct h : node<"h", ops::matmul, x, w> {};
constexpr auto p = make_plan<graph<h, e>>();

//! Writes a safetensors file: the 8-byte header size, the JSON header, then `data`.
std::string write_file(const std::string& name, const std::string& header, const std::vector<unsigned char>& data) {
  const std::string path = "/tmp/ctgraph_test_" + name + ".safetensors";
  std::ofstream out(path, std::ios::binary);
  std::uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.put(char((n >> (8 * i)) & 0xff));
  out << header;
  out.write(reinterpret_cast<const char*>(data.data()), std::streamsize(data.size()));
  return path;
}

std::vector<unsigned char> bytes(std::size_t n) {
  std::vector<unsigned char> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<unsigned char>(i * 7 + 1);
  return v;
}

//! What the load of `header` (with 64 bytes of data) throws, or "" when it matches.
std::string failure(const std::string& name, const std::string& header, extra_tensors extra = extra_tensors::reject,
                    std::size_t data = 64) {
  try {
    const safetensors_file f(write_file(name, header, bytes(data)));
    match_parameters(p, f, extra);
  } catch (const load_error& err) {
    return err.what();
  }
  return "";
}

constexpr const char* good_w = R"("layer.0.w": {"dtype": "F32", "shape": [4, 3], "data_offsets": [0, 48]})";
constexpr const char* good_e = R"("layer.0.e": {"dtype": "BF16", "shape": [8], "data_offsets": [48, 64]})";

TEST_CASE("safetensors: a matching file gives each parameter its bytes") {
  const std::string path = write_file("good", std::string("{") + good_w + ", " + good_e + R"(, "__metadata__": {"format": "pt"}})", bytes(64));
  const safetensors_file f(path);
  REQUIRE(f.tensors().size() == 2);
  const auto found = match_parameters(p, f);
  const stored_tensor* tw = found[std::size_t(p.index_of<w>())];
  const stored_tensor* te = found[std::size_t(p.index_of<e>())];
  REQUIRE(tw != nullptr);
  REQUIRE(te != nullptr);
  CHECK(found[std::size_t(p.index_of<x>())] == nullptr);  // graph inputs are bound, not loaded
  CHECK(tw->desc == p.output_of<w>());
  CHECK(te->bytes == 16);
  std::vector<unsigned char> got(16);
  f.read(*te, got.data());
  const auto all = bytes(64);
  CHECK(std::memcmp(got.data(), all.data() + 48, 16) == 0);
}

using mask = parameter<"mask", boolean, shape<2, 8>>;
constexpr auto with_mask = make_plan<graph<h, mask>>();

TEST_CASE("safetensors: BOOL is the boolean dtype") {
  const std::string header = std::string("{") + good_w + R"(, "mask": {"dtype": "BOOL", "shape": [2, 8], "data_offsets": [48, 64]}})";
  const safetensors_file f(write_file("bool", header, bytes(64)));
  const auto found = match_parameters(with_mask, f);
  const stored_tensor* tm = found[std::size_t(with_mask.index_of<mask>())];
  REQUIRE(tm != nullptr);
  CHECK(tm->desc.dtype == dtype_id::boolean);
  CHECK(tm->desc == with_mask.output_of<mask>());
  CHECK(tm->bytes == 16);
}

TEST_CASE("safetensors: every mismatch names the tensor") {
  const auto has = [](const std::string& what, const char* part) {
    INFO(what);
    CHECK(what.find(part) != std::string::npos);
  };
  has(failure("missing", std::string("{") + good_w + "}"), "tensor 'layer.0.e': the graph has this parameter, the file does not");
  has(failure("dtype", std::string("{") + good_w + R"(, "layer.0.e": {"dtype": "F16", "shape": [8], "data_offsets": [48, 64]}})"),
      "tensor 'layer.0.e': the file stores it as f16, the graph declares bf16");
  has(failure("shape", std::string("{") + R"("layer.0.w": {"dtype": "F32", "shape": [3, 4], "data_offsets": [0, 48]}, )" + good_e + "}"),
      "tensor 'layer.0.w': the file's tensor is f32[3,4], the graph declares f32[4,3]");
  const std::string extra = std::string("{") + good_w + ", " + good_e + R"(, "lm_head": {"dtype": "U8", "shape": [0], "data_offsets": [64, 64]}})";
  has(failure("extra", extra), "tensor 'lm_head': the file has this tensor, the graph has no parameter of that name");
  CHECK(failure("extra_allowed", extra, extra_tensors::allow).empty());
  has(failure("range", std::string("{") + good_w + R"(, "layer.0.e": {"dtype": "BF16", "shape": [8], "data_offsets": [56, 72]}})"),
      "tensor 'layer.0.e': its data_offsets [56, 72) lie outside the file's 64 bytes of data");
  has(failure("size", std::string("{") + good_w + R"(, "layer.0.e": {"dtype": "BF16", "shape": [8], "data_offsets": [48, 62]}})"),
      "its data_offsets hold 14 bytes, but its dtype and shape need 16");
  has(failure("f64", std::string("{") + good_w + R"(, "layer.0.e": {"dtype": "F64", "shape": [2], "data_offsets": [48, 64]}})"),
      "tensor 'layer.0.e': dtype \"F64\" is not one ctgraph has (F32, F16, BF16, I32, I64, U8, BOOL)");
  has(failure("json", "{not json"), "its header is not a JSON object");
  // A header size that runs past the end of the file.
  const std::string path = "/tmp/ctgraph_test_short.safetensors";
  {
    std::ofstream out(path, std::ios::binary);
    const unsigned char size[8] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};
    out.write(reinterpret_cast<const char*>(size), 8);
    out << "{}";
  }
  try {
    safetensors_file f(path);
    FAIL("no error");
  } catch (const load_error& err) {
    has(err.what(), "its header size (65535 bytes) runs past the end of the file");
  }
}

// Tensor parallelism: a parameter that takes slice 1 of 2 of its file's tensor. layer.0.w is
// f32[4,3] in the graph: rows of a file's f32[8,3] (dim 0), or columns of f32[4,6] (dim 1).
TEST_CASE("safetensors: a sliced parameter matches its whole tensor, and a wrong one is named") {
  const auto rule = [](int dim, int index, int count) {
    return slice_rule([=](std::string_view name) { return name == "layer.0.w" ? tensor_slice{dim, index, count} : tensor_slice{}; });
  };
  const auto failure_sliced = [&](const std::string& name, const char* w_shape, const slice_rule& slices) {
    try {
      const std::string header = std::string("{\"layer.0.w\": {\"dtype\": \"F32\", \"shape\": ") + w_shape +
                                 R"(, "data_offsets": [0, 96]}, "layer.0.e": {"dtype": "BF16", "shape": [8], "data_offsets": [96, 112]}})";
      const safetensors_file f(write_file(name, header, bytes(112)));
      match_parameters(p, f, extra_tensors::reject, slices);
    } catch (const load_error& err) {
      CHECK(err.tensor() == "layer.0.w");
      return std::string(err.what());
    }
    return std::string();
  };
  CHECK(failure_sliced("rows", "[8, 3]", rule(0, 1, 2)).empty());
  CHECK(failure_sliced("columns", "[4, 6]", rule(1, 1, 2)).empty());
  CHECK(tensor_slice{1, 0, 2}.whole_of(p.output_of<w>()) == tensor_desc{dtype_id::f32, 2, {4, 6}});
  // Columns where the file has rows: the message gives both shapes and the fix.
  CHECK(failure_sliced("wrong_dim", "[8, 3]", rule(1, 1, 2)) ==
        "ctgraph: loading '/tmp/ctgraph_test_wrong_dim.safetensors': tensor 'layer.0.w': the graph declares f32[4,3] as slice 1 of 2 "
        "along dimension 1, which needs f32[4,6] in the file; the file's tensor is f32[8,3]. Check the world size and which dimension the rule splits");
  CHECK(failure_sliced("no_slice", "[8, 3]", rule(0, 2, 2)).find("the slice rule asks for slice 2 of 2 along dimension 0 of a tensor of rank 2: no such slice") !=
        std::string::npos);
  CHECK(failure_sliced("unsliced", "[8, 3]", {}).find("the file's tensor is f32[8,3], the graph declares f32[4,3]") != std::string::npos);
}

}  // namespace safetensors_test
