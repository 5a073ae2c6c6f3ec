#pragma once
//! scratch<T>: a pass's working array, allocated and not initialised. Constant evaluators charge a
//! std::vector's zeroing per element (g++ 12: about 61 operations an int, 2 M for a 32,768-entry
//! table; `new T[n]`: none), so a pass writes each entry before it reads it (at compile time a
//! read of one it did not write is an error) or asks for a fill.
#include <cstddef>

namespace ctg::detail {

template <class T>
class scratch {
 public:
  constexpr explicit scratch(std::size_t n = 0) : data_(new T[n == 0 ? 1 : n]) {}
  constexpr scratch(std::size_t n, const T& value) : scratch(n) {
    for (std::size_t i = 0; i < n; ++i) data_[i] = value;
  }
  constexpr scratch(scratch&& o) noexcept : data_(o.data_) { o.data_ = nullptr; }
  constexpr scratch& operator=(scratch&& o) noexcept {
    if (this != &o) {
      delete[] data_;
      data_ = o.data_;
      o.data_ = nullptr;
    }
    return *this;
  }
  constexpr ~scratch() { delete[] data_; }
  constexpr T* data() const { return data_; }
  constexpr T& operator[](std::size_t i) const { return data_[i]; }

 private:
  T* data_;
};

}  // namespace ctg::detail
