#pragma once
// Pseudo-random values for every parameter of a plan, in one device allocation, each tensor at an
// aligned offset: for benchmarks and GPU checks of models whose real weights do not matter (step
// times, a family's member against a single-size executor). Parameters of one name are bound to
// every plan of the model (a family's members and its single-size executors alike).
#include <cstddef>
#include <string>
#include <vector>

#include <ctgraph/runtime.hpp>

#include "harness.hpp"

namespace bench {

class random_parameters {
 public:
  //! Each parameter of `p` uniform in [-scale, scale] (bf16 or f32), seeded by `seed` and its index.
  template <std::size_t N>
  random_parameters(const ctg::plan<N>& p, unsigned seed, float scale) {
    std::size_t bytes = 0;
    for (int v = 0; v < p.tensor_count(); ++v)
      if (p.node(v).kind == ctg::tensor_kind::parameter) bytes += ctg::align_up(p.node(v).out.bytes());
    memory_ = ctg::allocation(ctg::allocation_kind::device, bytes, "random parameters");
    bytes_ = bytes;
    std::byte* at = memory_.bytes();
    for (int v = 0; v < p.tensor_count(); ++v) {
      const ctg::node_desc& d = p.node(v);
      if (d.kind != ctg::tensor_kind::parameter) continue;
      const std::size_t n = std::size_t(d.out.elements());
      if (d.out.dtype == ctg::dtype_id::bf16) bench_harness::upload_random_bf16(at, n, seed + unsigned(v), scale);
      else if (d.out.dtype == ctg::dtype_id::f32) bench_harness::upload_random_f32(at, n, seed + unsigned(v), scale);
      else throw ctg::runtime_error(d.name, "random_parameters", "only bf16 and f32 parameters are filled");
      bindings_.push_back({d.name, at, d.out.dtype, d.out.bytes()});
      at += ctg::align_up(d.out.bytes());
    }
  }
  //! A binding per parameter, then `more` (the graph inputs).
  std::vector<ctg::binding> bindings(const std::vector<ctg::binding>& more) const {
    std::vector<ctg::binding> all = bindings_;
    all.insert(all.end(), more.begin(), more.end());
    return all;
  }
  //! Device bytes held (the tensors, each aligned).
  std::size_t bytes() const noexcept { return bytes_; }

 private:
  ctg::allocation memory_;
  std::size_t bytes_ = 0;
  std::vector<ctg::binding> bindings_;  // names are the plan's: keep the plan alive (a constexpr plan is)
};

}  // namespace bench
