// requires: cuda
// expect: ctgraph: this binding names a node's output
#include <ctgraph/runtime.hpp>
using namespace ctg;
using x = input<"x", f32, shape<1024>>;
struct h : node<"h", ops::relu, x> {};
void run(float* dx, float* dh) { auto ex = instantiate<graph<h>>(nullptr, bindings(bind<x>(dx), bind<"h">(dh))); }
int main() {}
