// The runtime without NCCL (built with CTGRAPH_NCCL=0): a single-GPU plan instantiates, and no
// NCCL header is included. Compiled, not run, by the test runtime.without_nccl.
#include <ctgraph/runtime.hpp>

#if CTGRAPH_NCCL
#error "this file is built with CTGRAPH_NCCL=0"
#endif
#ifdef NCCL_H_
#error "the runtime included nccl.h although CTGRAPH_NCCL is 0"
#endif

namespace without_nccl {
using x = ctg::input<"x", ctg::f32, ctg::shape<1024>>;
struct r : ctg::node<"r", ctg::ops::relu, x> {};
struct s : ctg::node<"s", ctg::ops::scale<1, 2>, r> {};

void run(float* dx) {
  auto ex = ctg::instantiate<ctg::graph<s>>(nullptr, {ctg::bind("x", dx, 1024)});
  ex.run();
}
}  // namespace without_nccl
