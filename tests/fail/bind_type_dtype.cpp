// requires: cuda
// expect: ctgraph: bind<T>\(ptr\): the pointer's element type is not the dtype of tensor T
#include <ctgraph/runtime.hpp>
using namespace ctg;
using x = input<"x", f16, shape<1024>>;
void run(float* dx) { auto b = bind<x>(dx); }
int main() {}
