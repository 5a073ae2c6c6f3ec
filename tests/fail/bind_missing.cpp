// requires: cuda
// expect: ctgraph: a graph input or parameter is not bound
#include <ctgraph/runtime.hpp>
using namespace ctg;
using x = input<"x", f32, shape<16, 64>>;
using w = parameter<"w", f32, shape<64, 64>>;
struct h : node<"h", ops::matmul, x, w> {};
void run(float* dx) { auto ex = instantiate<graph<h>>(nullptr, bindings(bind<x>(dx))); }
int main() {}
