// requires: cuda
// expect: ctgraph: this plan has collectives, which need NCCL >= 2.28.9, and this build has none
#define CTGRAPH_NCCL 0  // as CMake defines it where it finds no NCCL
#include <ctgraph/runtime.hpp>
using namespace ctg;
using x = input<"x", f32, shape<1024>>;
struct h : node<"h", ops::relu, x> {};
struct a : node<"a", ops::all_reduce, h> {};
void run(float* dx) { auto ex = instantiate<graph<a>>(nullptr, {bind("x", dx, 1024)}); }
int main() {}
