#pragma once
//! Element types. A dtype is a tag type (`ctg::bf16`) carrying a `dtype_id` value.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ctg {

enum class dtype_id : std::uint8_t { f32, f16, bf16, i32, i64, u8 };

constexpr std::size_t size_of(dtype_id d) {
  switch (d) {
    case dtype_id::f32: case dtype_id::i32: return 4;
    case dtype_id::f16: case dtype_id::bf16: return 2;
    case dtype_id::i64: return 8;
    case dtype_id::u8: return 1;
  }
  return 0;
}

constexpr std::string_view name_of(dtype_id d) {
  switch (d) {
    case dtype_id::f32: return "f32";
    case dtype_id::f16: return "f16";
    case dtype_id::bf16: return "bf16";
    case dtype_id::i32: return "i32";
    case dtype_id::i64: return "i64";
    case dtype_id::u8: return "u8";
  }
  return "?";
}

template <dtype_id Id>
struct dtype_tag {
  static constexpr dtype_id id = Id;
};

struct f32 : dtype_tag<dtype_id::f32> {};
struct f16 : dtype_tag<dtype_id::f16> {};
struct bf16 : dtype_tag<dtype_id::bf16> {};
struct i32 : dtype_tag<dtype_id::i32> {};
struct i64 : dtype_tag<dtype_id::i64> {};
struct u8 : dtype_tag<dtype_id::u8> {};

//! A dtype tag: a type with a `static constexpr dtype_id id`.
template <class T>
concept dtype = requires {
  { T::id } -> std::convertible_to<dtype_id>;
};

}  // namespace ctg
