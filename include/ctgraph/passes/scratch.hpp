#pragma once
//! scratch<T>: a pass's working array, allocated and not initialised. Constant evaluators charge a
//! std::vector's zeroing per element (g++ 12: about 61 operations an int, 2 M for a 32,768-entry
//! table; `new T[n]`: none), so a pass writes each entry before it reads it (at compile time a
//! read of one it did not write is an error) or asks for a fill. Also what the planning headers
//! use instead of std::vector: <vector> (and <algorithm>) cost nvcc about 0.15 s each to parse, in
//! each of its three front ends, in every file that includes ctgraph/planning.hpp.
#include <cstddef>

namespace ctg::detail {

template <class T>
class scratch {
 public:
  constexpr scratch() = default;  // empty: nothing allocated
  constexpr explicit scratch(std::size_t n) : data_(new T[n == 0 ? 1 : n]), size_(n) {}
  constexpr scratch(std::size_t n, const T& value) : scratch(n) {
    for (std::size_t i = 0; i < n; ++i) data_[i] = value;
  }
  constexpr scratch(scratch&& o) noexcept : data_(o.data_), size_(o.size_) { o.data_ = nullptr, o.size_ = 0; }
  constexpr scratch& operator=(scratch&& o) noexcept {
    if (this != &o) {
      delete[] data_;
      data_ = o.data_, size_ = o.size_;
      o.data_ = nullptr, o.size_ = 0;
    }
    return *this;
  }
  constexpr ~scratch() { delete[] data_; }
  constexpr T* data() const { return data_; }
  constexpr T& operator[](std::size_t i) const { return data_[i]; }
  constexpr std::size_t size() const { return size_; }
  constexpr bool empty() const { return size_ == 0; }

 private:
  T* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace ctg::detail
