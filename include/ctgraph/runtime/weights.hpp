#pragma once
//! device_weights: a plan's parameters loaded from a safetensors file, checked against the plan
//! (each present with its dtype and shape; `ctg::load_error` names the first that is not), and
//! uploaded once into one device allocation, each tensor 256-byte aligned. `bindings()` binds them
//! all: `ctg::instantiate<g>(stream, weights.bindings(...inputs...))`. With a slice_rule, each
//! rank of a tensor-parallel plan loads its slices of the same file.
#include <cuda_runtime.h>

#include <initializer_list>
#include <string>
#include <vector>

#include <ctgraph/io/safetensors.hpp>
#include <ctgraph/io/tensor_slice.hpp>
#include <ctgraph/graph/memory_class.hpp>
#include <ctgraph/plan/plan.hpp>
#include <ctgraph/runtime/binding.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/memory.hpp>

namespace ctg {

class device_weights {
 public:
  device_weights() = default;

  //! Reads `path`'s header, matches every parameter of `p` (extra_tensors::allow skips tensors
  //! the graph does not name), and uploads them through one pinned staging buffer.
  template <std::size_t N>
  device_weights(const plan<N>& p, const std::string& path, extra_tensors extra = extra_tensors::reject)
      : device_weights(p, path, slice_rule{}, extra) {}

  //! The same, where `slices` gives parameters a slice of their file's tensor (tensor
  //! parallelism: this rank's rows or columns of a Hugging Face weight): the file's tensor is read
  //! whole and the slice uploaded (one 2-D copy). A file's tensor whose shape is not the
  //! parameter's times the slice count is a `load_error` naming it.
  template <std::size_t N>
  device_weights(const plan<N>& p, const std::string& path, const slice_rule& slices, extra_tensors extra = extra_tensors::reject) {
    const safetensors_file file(path);
    const std::vector<const stored_tensor*> found = match_parameters(p, file, extra, slices);
    std::vector<std::size_t> offset(found.size());
    std::size_t total = 0, largest = 0;
    for (std::size_t v = 0; v < found.size(); ++v) {
      if (!found[v]) continue;
      offset[v] = total;
      total = align_up(total + p.node(int(v)).out.bytes());
      largest = std::max<std::size_t>(largest, found[v]->bytes);
    }
    memory_ = allocation(allocation_kind::device, total, "device_weights");
    bytes_ = total;
    const allocation staging(allocation_kind::pinned_host, largest, "device_weights");
    for (std::size_t v = 0; v < found.size(); ++v) {
      if (!found[v]) continue;
      const stored_tensor& t = *found[v];
      const node_desc& d = p.node(int(v));
      std::byte* to = memory_.bytes() + offset[v];
      file.read(t, staging.get());
      // Slice `index` of `count` along `dim`: `outer` runs of `part` bytes, `whole` bytes apart.
      const tensor_slice s = slices ? slices(d.name) : tensor_slice{};
      std::size_t outer = 1, part = d.out.bytes(), whole = part;
      if (s.count > 1) {
        for (int i = 0; i < s.dim; ++i) outer *= std::size_t(d.out.dims[i]);
        part = d.out.bytes() / outer, whole = part * std::size_t(s.count);
      }
      CTG_CHECK(t.name, cudaMemcpy2D(to, part, staging.bytes() + std::size_t(s.index) * part, whole, part, outer, cudaMemcpyHostToDevice));
      bindings_.push_back({d.name, to, t.desc.dtype, d.out.bytes()});
    }
  }

  //! A binding per parameter, then `more` (the graph inputs, another executor's state).
  std::vector<binding> bindings(std::initializer_list<binding> more = {}) const { return bindings(std::vector<binding>(more)); }
  std::vector<binding> bindings(const std::vector<binding>& more) const {
    std::vector<binding> all = bindings_;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
  //! Device bytes held (the tensors, each 256-byte aligned).
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  allocation memory_;
  std::size_t bytes_ = 0;
  std::vector<binding> bindings_;  // names are the plan's: keep the plan alive (a constexpr plan is)
};

}  // namespace ctg
