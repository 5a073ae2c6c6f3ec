// expect: ctgraph: the graph is empty
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
constexpr auto p = make_plan<graph<>>();
int main() {}
