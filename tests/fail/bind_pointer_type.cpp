// requires: cuda
// expect: ctgraph: bind\(\) takes float, __half, __nv_bfloat16, int32_t, int64_t, uint8_t or bool pointers
#include <ctgraph/runtime.hpp>
double* device_doubles();  // f64 is not a ctgraph dtype
int main() {
  auto b = ctg::bind("x", device_doubles(), 8);
  (void)b;
}
