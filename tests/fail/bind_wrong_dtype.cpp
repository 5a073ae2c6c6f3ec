// requires: cuda
// expect: ctgraph: the pointer's element type is not the dtype of the graph input or parameter it binds
#include <ctgraph/runtime.hpp>
using namespace ctg;
using x = input<"x", bf16, shape<1024>>;
struct h : node<"h", ops::relu, x> {};
void run(float* dx) { auto ex = instantiate<graph<h>>(nullptr, bindings(bind<"x">(dx))); }
int main() {}
