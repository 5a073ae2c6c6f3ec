// 05_tp_mlp_plan: the 8-layer tensor-parallel MLP (matmul -> all_reduce; 16 tokens, hidden 4096,
// bf16) planned twice: with an opaque all_reduce (it allocates its own output, like a
// functional collective) and with the out-variant all_reduce. It shows the table from
// DESIGN.md as static_asserts — 9 buffers (1 symmetric + 8 device) and 7 reuses against 2
// (1 symmetric + 1 device) and 14 — prints both plans and checks them with check_plan.
#include <ctgraph/ctgraph.hpp>

#include <iostream>

namespace tp {
using namespace ctg;

constexpr std::int64_t tokens = 16, hidden = 4096;
using x = input<"x", bf16, shape<tokens, hidden>>;

struct opaque_all_reduce : ops::all_reduce {
  static constexpr op_traits traits = [] {
    op_traits t = ops::all_reduce::traits;
    t.result = op_result::opaque;
    return t;
  }();
};

template <class AllReduce>
struct with {
  template <class X, std::size_t I>
  struct layer : node<indexed<"y", I>, AllReduce,
                      node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"w", I>, bf16, shape<hidden, hidden>>>> {};
};

constexpr auto opaque = make_plan<graph<repeat<8, with<opaque_all_reduce>::layer, x>>>();
constexpr auto out_variant = make_plan<graph<repeat<8, with<ops::all_reduce>::layer, x>>>();

// Buffers = distinct storage (buffer_count - reuse_count); an opaque output is its own storage.
static_assert(opaque.storage_count() == 9 && opaque.reuse_count() == 7);
static_assert(opaque.storage_count(memory_class::symmetric) == 1 && opaque.storage_count(memory_class::device) == 8);
static_assert(out_variant.storage_count() == 2 && out_variant.reuse_count() == 14);
static_assert(out_variant.storage_count(memory_class::symmetric) == 1 && out_variant.storage_count(memory_class::device) == 1);
// The matmuls write straight into the symmetric arena: no copy, and captured in place.
static_assert(out_variant.copy_count() == 0 && out_variant.partition(0).static_input_copies == 0);
// Every rank registers the same window: its size is a compile-time constant.
static_assert(out_variant.arena_bytes(memory_class::symmetric) == tokens * hidden * 2);
}  // namespace tp

int main() {
  std::cout << "opaque all_reduce:\n" << tp::opaque << "\nout-variant all_reduce:\n" << tp::out_variant;
  for (auto v : {ctg::check_plan(tp::opaque), ctg::check_plan(tp::out_variant)})
    if (v) {
      std::cerr << "unsound plan: " << v.what << "\n";
      return 1;
    }
  std::cout << "plans checked: sound\n";
}
