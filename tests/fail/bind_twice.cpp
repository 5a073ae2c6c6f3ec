// requires: cuda
// expect: ctgraph: this graph input or parameter is bound twice
#include <ctgraph/runtime.hpp>
using namespace ctg;
using x = input<"x", f32, shape<1024>>;
struct h : node<"h", ops::relu, x> {};
void run(float* dx) { auto ex = instantiate<graph<h>>(nullptr, bindings(bind<x>(dx), bind<"x">(dx))); }
int main() {}
