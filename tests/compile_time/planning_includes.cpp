// What a planning translation unit parses: <ctgraph/planning.hpp> must not bring in <vector> or
// <algorithm> (about 0.15 s each in each of nvcc's three front ends, in every file that plans;
// passes/scratch.hpp says what the passes use instead). The guards are libstdc++'s and libc++'s.
#include <ctgraph/planning.hpp>

#if defined(_GLIBCXX_VECTOR) || defined(_LIBCPP_VECTOR)
#error "ctgraph/planning.hpp includes <vector>: use detail::scratch<T> (passes/scratch.hpp) in the planning headers"
#endif
#if defined(_GLIBCXX_ALGORITHM) || defined(_LIBCPP_ALGORITHM)
#error "ctgraph/planning.hpp includes <algorithm>: the planning headers write their own loops"
#endif
