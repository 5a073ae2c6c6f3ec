// expect: ctgraph: static_desc<T> needs every input of T to be a tensor type; a ref<"name"> input has no static description
#include <ctgraph/ctgraph.hpp>
using namespace ctg;
using x = input<"x", f32, shape<8>>;
struct a : node<"a", ops::relu, x> {};
struct b : node<"b", ops::add, a, ref<"a">> {};
constexpr tensor_desc d = static_desc<b>;
int main() {}
