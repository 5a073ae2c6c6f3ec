#pragma once
//! Normalisations over the last dimension: ops::layer_norm<Eps> (x, weight [, bias]) and
//! ops::rms_norm<Eps> (x, weight). y = (x - mean) / sqrt(var + Eps) * weight (+ bias), or
//! y = x / sqrt(mean(x^2) + Eps) * weight; computed in float, output in x's dtype and shape.
//! Epsilon is the op's template argument (a float, as written: layer_norm<1e-5f>). The runtime
//! runs both with `launch_norm` (runtime/ops/norm.cuh). ops::layer_norm_stats<Eps> also gives
//! each row's mean and 1/sqrt(var + Eps) (PyTorch's native_layer_norm): three outputs.
//! ops::batch_norm<Eps> normalises over channels (dimension 1) with running statistics, as
//! PyTorch's BatchNorm in eval mode: five inputs.
#include <cstddef>

#include <ctgraph/graph/op.hpp>

namespace ctg::ops {

namespace detail {
//! Inputs: x [..., D], then `params` vectors [D] of x's dtype (weight, bias).
constexpr output_result norm_output(std::span<const tensor_desc> in, std::size_t min_params, std::size_t max_params) {
  if (in.size() < 1 + min_params || in.size() > 1 + max_params) return output_result::fail(errc::wrong_arity);
  const tensor_desc& x = in[0];
  if (x.rank == 0) return output_result::fail(errc::shape_mismatch);
  for (std::size_t k = 1; k < in.size(); ++k) {
    if (in[k].dtype != x.dtype) return output_result::fail(errc::dtype_mismatch);
    if (in[k].rank != 1 || in[k].dims[0] != x.dims[x.rank - 1]) return output_result::fail(errc::shape_mismatch);
  }
  return {x};
}

//! Traits, output rule and launch of a normalisation: subtracting the mean or not, with up to
//! MaxParams vectors (weight, bias).
template <float Eps, bool Center, std::size_t MaxParams>
struct norm {
  static constexpr float epsilon = Eps;
  static constexpr op_traits traits{.as_prologue = !Center && MaxParams == 1 ? prologue::rms_norm : prologue::none};
  static constexpr output_result output(std::span<const tensor_desc> in) { return norm_output(in, 1, MaxParams); }
  template <class Launch>
  static void launch(const Launch& l) { launch_norm(l, Eps, Center); }
};
}  // namespace detail

//! Layer normalisation (GPT-2, BERT): weight and an optional bias.
template <float Eps = 1e-5f>
struct layer_norm : detail::norm<Eps, /*center=*/true, /*max_params=*/2> {
  static_assert(Eps > 0.f, "ctgraph: ops::layer_norm needs a positive epsilon. Write e.g. ops::layer_norm<1e-5f>.");
  static constexpr std::string_view name = "layer_norm";
};

//! Layer normalisation with its statistics, for a backward pass or a fused consumer: output 0 is
//! y, output 1 each row's mean and output 2 its 1/sqrt(var + Eps), both f32 [..., 1] (name them
//! with ctg::output<"ln.mean", ln, 1>).
template <float Eps = 1e-5f>
struct layer_norm_stats {
  static_assert(Eps > 0.f, "ctgraph: ops::layer_norm_stats needs a positive epsilon. Write e.g. ops::layer_norm_stats<1e-5f>.");
  static constexpr std::string_view name = "layer_norm_stats";
  static constexpr float epsilon = Eps;
  static constexpr op_traits traits{};
  static constexpr int outputs = 3;
  static constexpr output_result output(std::span<const tensor_desc> in, int k) {
    output_result r = detail::norm_output(in, 1, 2);
    if (r.error != errc::ok || k == 0) return r;
    r.out.dtype = dtype_id::f32;
    r.out.dims[r.out.rank - 1] = 1;
    return r;
  }
  template <class Launch>
  static void launch(const Launch& l) {
    launch_norm(l, Eps, true, l.template out<layer_norm_stats, float>(1), l.template out<layer_norm_stats, float>(2));
  }
};

//! Batch normalisation for inference (PyTorch's nn.BatchNorm*d in eval mode): x [N, C, ...],
//! then weight, bias, running mean and running variance [C], one dtype;
//! y = (x - mean[c]) / sqrt(var[c] + Eps) * weight[c] + bias[c] over channel c = dimension 1.
template <float Eps = 1e-5f>
struct batch_norm {
  static_assert(Eps > 0.f, "ctgraph: ops::batch_norm needs a positive epsilon. Write e.g. ops::batch_norm<1e-5f>.");
  static constexpr std::string_view name = "batch_norm";
  static constexpr float epsilon = Eps;
  static constexpr op_traits traits{.in_place = true};  // each element read once, then written
  static constexpr output_result output(std::span<const tensor_desc> in) {
    if (in.size() != 5) return output_result::fail(errc::wrong_arity);
    const tensor_desc& x = in[0];
    if (x.rank < 2) return output_result::fail(errc::shape_mismatch);
    for (std::size_t k = 1; k < in.size(); ++k) {
      if (in[k].dtype != x.dtype) return output_result::fail(errc::dtype_mismatch);
      if (in[k].rank != 1 || in[k].dims[0] != x.dims[1]) return output_result::fail(errc::shape_mismatch);
    }
    return {x};
  }
  template <class Launch>
  static void launch(const Launch& l) { launch_batch_norm(l, Eps); }
};

//! Root-mean-square normalisation (Llama): weight only.
template <float Eps = 1e-6f>
struct rms_norm : detail::norm<Eps, /*center=*/false, /*max_params=*/1> {
  static_assert(Eps > 0.f, "ctgraph: ops::rms_norm needs a positive epsilon. Write e.g. ops::rms_norm<1e-6f>.");
  static constexpr std::string_view name = "rms_norm";
};

}  // namespace ctg::ops
