#pragma once
//! safetensors files: the header, read once (each tensor's dtype, shape and place in the file),
//! and the check of a plan's parameters against it: each present, with the plan's dtype and
//! shape, and no tensor of the file left unused unless the caller allows it. Host-only; the JSON
//! header is read with nlohmann_json, an optional dependency (CMake target ctgraph::safetensors).
//! Every problem is a `ctg::load_error` that names the file and the tensor.
#include <cstdint>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/tensor_desc.hpp>
#include <ctgraph/io/tensor_slice.hpp>
#include <ctgraph/plan/plan.hpp>
#include <ctgraph/plan/to_string.hpp>

namespace ctg {

class load_error : public std::runtime_error {
 public:
  load_error(const std::string& file, std::string_view tensor, const std::string& what)
      : std::runtime_error("ctgraph: loading '" + file + "': " + (tensor.empty() ? "" : "tensor '" + std::string(tensor) + "': ") + what),
        tensor_(tensor) {}
  //! The tensor it names (empty when the file itself is at fault).
  const std::string& tensor() const noexcept { return tensor_; }

 private:
  std::string tensor_;
};

//! One tensor of a safetensors file.
struct stored_tensor {
  std::string name;
  tensor_desc desc;          // dtype and shape
  std::uint64_t offset = 0;  // of its first byte, from the start of the file
  std::uint64_t bytes = 0;
};

//! Whether a file may hold tensors that the plan has no parameter for (a tied head, buffers).
enum class extra_tensors : bool { reject, allow };

class safetensors_file {
 public:
  //! Reads and checks the header: 8 bytes of little-endian header size, then that much JSON,
  //! then the data, where every tensor's byte range must lie and match its dtype and shape.
  explicit safetensors_file(std::string path) : path_(std::move(path)) {
    std::ifstream in(path_, std::ios::binary | std::ios::ate);
    if (!in) throw load_error(path_, "", "cannot open the file");
    const std::uint64_t file_bytes = std::uint64_t(in.tellg());
    unsigned char size_bytes[8]{};
    in.seekg(0);
    if (file_bytes < 8 || !in.read(reinterpret_cast<char*>(size_bytes), 8)) throw load_error(path_, "", "shorter than its 8-byte header size");
    std::uint64_t header_bytes = 0;
    for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | size_bytes[i];
    if (header_bytes > file_bytes - 8) throw load_error(path_, "", "its header size (" + std::to_string(header_bytes) + " bytes) runs past the end of the file");
    std::string header(header_bytes, '\0');
    if (!in.read(header.data(), std::streamsize(header_bytes))) throw load_error(path_, "", "cannot read its header");
    const nlohmann::json json = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) throw load_error(path_, "", "its header is not a JSON object");
    const std::uint64_t data_begin = 8 + header_bytes, data_bytes = file_bytes - data_begin;
    for (const auto& [name, entry] : json.items()) {
      if (name == "__metadata__") continue;
      tensors_.push_back(parse(name, entry, data_begin, data_bytes));
      index_.emplace(tensors_.back().name, tensors_.size() - 1);
    }
  }

  const std::string& path() const noexcept { return path_; }
  const std::vector<stored_tensor>& tensors() const noexcept { return tensors_; }
  //! The tensor of that name, or null.
  const stored_tensor* find(std::string_view name) const {
    const auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
  }
  //! Copies tensor t's bytes to `to` (t.bytes bytes of host memory).
  void read(const stored_tensor& t, void* to) const {
    std::ifstream in(path_, std::ios::binary);
    in.seekg(std::streamoff(t.offset));
    if (!in || !in.read(static_cast<char*>(to), std::streamsize(t.bytes))) throw load_error(path_, t.name, "cannot read its data");
  }

 private:
  stored_tensor parse(const std::string& name, const nlohmann::json& e, std::uint64_t data_begin, std::uint64_t data_bytes) const {
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      throw load_error(path_, name, "its header entry lacks dtype, shape or data_offsets");
    stored_tensor t;
    t.name = name;
    const auto& dt = e["dtype"];
    bool known = false;
    for (const dtype_info& d : dtype_table)
      if (dt.is_string() && dt.get<std::string>() == d.safetensors) t.desc.dtype = d.id, known = true;
    if (!known) {
      std::string names;  // from the table, so a new dtype is listed without another edit
      for (const dtype_info& d : dtype_table) names += (names.empty() ? "" : ", ") + std::string(d.safetensors);
      throw load_error(path_, name, "dtype " + dt.dump() + " is not one ctgraph has (" + names + ")");
    }
    const auto& shape = e["shape"];
    if (!shape.is_array() || shape.size() > std::size_t(max_rank)) throw load_error(path_, name, "its shape is not a list of at most 6 extents");
    t.desc.rank = int(shape.size());
    for (int i = 0; i < t.desc.rank; ++i) {
      if (!shape[std::size_t(i)].is_number_unsigned()) throw load_error(path_, name, "its shape has an extent that is not a non-negative integer");
      t.desc.dims[i] = shape[std::size_t(i)].get<std::int64_t>();
    }
    const auto& range = e["data_offsets"];
    if (!range.is_array() || range.size() != 2 || !range[0].is_number_unsigned() || !range[1].is_number_unsigned())
      throw load_error(path_, name, "its data_offsets are not two non-negative integers");
    const std::uint64_t begin = range[0].get<std::uint64_t>(), end = range[1].get<std::uint64_t>();
    if (begin > end || end > data_bytes) throw load_error(path_, name, "its data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) + ") lie outside the file's " + std::to_string(data_bytes) + " bytes of data");
    if (end - begin != t.desc.bytes())
      throw load_error(path_, name, "its data_offsets hold " + std::to_string(end - begin) + " bytes, but its dtype and shape need " + std::to_string(t.desc.bytes()));
    t.offset = data_begin + begin;
    t.bytes = end - begin;
    return t;
  }

  std::string path_;
  std::vector<stored_tensor> tensors_;
  std::unordered_map<std::string, std::size_t> index_;
};

//! The file's tensor for each parameter of `p` (by tensor index; null for other tensors). Throws
//! `load_error` naming the first parameter that is missing or differs in dtype or shape, and,
//! with extra_tensors::reject, the first tensor of the file that no parameter takes. With
//! `slices`, a parameter that takes a slice of its tensor (count > 1) matches a file's tensor of
//! its shape with the slice's dimension `count` times as long.
template <std::size_t N>
std::vector<const stored_tensor*> match_parameters(const plan<N>& p, const safetensors_file& f,
                                                   extra_tensors extra = extra_tensors::reject, const slice_rule& slices = {}) {
  std::vector<const stored_tensor*> found(std::size_t(p.tensor_count()), nullptr);
  std::unordered_map<std::string_view, bool> taken;
  for (int v = 0; v < p.tensor_count(); ++v) {
    const node_desc& d = p.node(v);
    if (d.kind != tensor_kind::parameter) continue;
    const stored_tensor* t = f.find(d.name);
    if (!t) throw load_error(f.path(), d.name, "the graph has this parameter, the file does not");
    if (t->desc.dtype != d.out.dtype)
      throw load_error(f.path(), d.name, "the file stores it as " + std::string(name_of(t->desc.dtype)) + ", the graph declares " + std::string(name_of(d.out.dtype)));
    const tensor_slice s = slices ? slices(d.name) : tensor_slice{};
    if (s.count < 1 || s.index < 0 || s.index >= s.count || s.dim < 0 || (s.count > 1 && s.dim >= d.out.rank))
      throw load_error(f.path(), d.name, "the slice rule asks for slice " + std::to_string(s.index) + " of " + std::to_string(s.count) + " along dimension " +
                                             std::to_string(s.dim) + " of a tensor of rank " + std::to_string(d.out.rank) + ": no such slice");
    if (s.count > 1 && !t->desc.same_shape(s.whole_of(d.out)))
      throw load_error(f.path(), d.name, "the graph declares " + detail::shape_string(d.out) + " as slice " + std::to_string(s.index) + " of " + std::to_string(s.count) +
                                             " along dimension " + std::to_string(s.dim) + ", which needs " + detail::shape_string(s.whole_of(d.out)) +
                                             " in the file; the file's tensor is " + detail::shape_string(t->desc) + ". Check the world size and which dimension the rule splits");
    if (s.count == 1 && !t->desc.same_shape(d.out))
      throw load_error(f.path(), d.name, "the file's tensor is " + detail::shape_string(t->desc) + ", the graph declares " + detail::shape_string(d.out));
    found[std::size_t(v)] = t;
    taken.emplace(t->name, true);
  }
  if (extra == extra_tensors::reject)
    for (const stored_tensor& t : f.tensors())
      if (!taken.contains(t.name))
        throw load_error(f.path(), t.name, "the file has this tensor, the graph has no parameter of that name (pass extra_tensors::allow to skip it)");
  return found;
}

}  // namespace ctg
