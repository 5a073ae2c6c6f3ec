#pragma once
// The model and the sizes of buckets_bench (buckets.cu), shared with the compile-time measurement
// of its family (tests/compile_time/family.py): bf16 y [B, 1024] = relu(x [B, 1024] x
// w1 [1024, 4096]) x w2 [4096, 1024], planned at 35 batch sizes from 1 to 512 (vLLM-like capture
// sizes: 1, 2, 4, 8 ... 128 by 8, 144 ... 256 by 16, 288 ... 512 by 32). Host-only.
#include <cstdint>
#include <utility>

#include <ctgraph/ctgraph.hpp>

namespace buckets_model {
using namespace ctg;

constexpr std::int64_t model_width = 1024, hidden_width = 4096;
template <std::int64_t B>
using mlp_at = graph<node<"y", ops::matmul,
                          node<"a", ops::relu, node<"h", ops::matmul, input<"x", bf16, shape<B, model_width>>, parameter<"w1", bf16, shape<model_width, hidden_width>>>>,
                          parameter<"w2", bf16, shape<hidden_width, model_width>>>>;

using size_list = std::integer_sequence<std::int64_t, 1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 104, 112, 120, 128,  //
                                        144, 160, 176, 192, 208, 224, 240, 256, 288, 320, 352, 384, 416, 448, 480, 512>;
template <std::int64_t... S>
plan_family<mlp_at, S...> family_of(std::integer_sequence<std::int64_t, S...>);
using family = decltype(family_of(size_list{}));
static_assert(family::size_count == 35 && family::sizes[0] == 1 && family::largest == 512);
}  // namespace buckets_model
