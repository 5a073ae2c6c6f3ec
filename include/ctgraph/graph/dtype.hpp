#pragma once
//! Element types. A dtype is a tag type (`ctg::bf16`) carrying a `dtype_id` value.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ctg {

enum class dtype_id : std::uint8_t { f32, f16, bf16, i32, i64, u8, boolean };  // the order of dtype_table

//! One row per dtype, indexed by its id: what every layer needs to know about it. (The runtime's
//! CUDA, cuBLASLt and NCCL names are columns of its own tables, runtime/dtype.hpp.)
struct dtype_info {
  dtype_id id;
  std::string_view name;
  std::size_t bytes;
  bool floating;                // the float types: matmuls, elementwise kernels and NCCL's symmetric sums
  std::string_view safetensors;  // its name in a safetensors header
};

inline constexpr dtype_info dtype_table[] = {
    {dtype_id::f32, "f32", 4, true, "F32"},  {dtype_id::f16, "f16", 2, true, "F16"}, {dtype_id::bf16, "bf16", 2, true, "BF16"},
    {dtype_id::i32, "i32", 4, false, "I32"}, {dtype_id::i64, "i64", 8, false, "I64"}, {dtype_id::u8, "u8", 1, false, "U8"},
    {dtype_id::boolean, "bool", 1, false, "BOOL"},  // one byte, 0 or 1, as PyTorch stores it
};
inline constexpr int dtype_count = int(sizeof(dtype_table) / sizeof(dtype_table[0]));

constexpr const dtype_info& info_of(dtype_id d) { return dtype_table[int(d)]; }
constexpr std::size_t size_of(dtype_id d) { return info_of(d).bytes; }
constexpr std::string_view name_of(dtype_id d) { return info_of(d).name; }
constexpr bool is_floating(dtype_id d) { return info_of(d).floating; }

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
//! Masks (`torch.bool`): one byte per element; the C++ element type is `bool`. (Its name is
//! "bool" in plans; `bool` itself is a keyword.)
struct boolean : dtype_tag<dtype_id::boolean> {};

namespace detail {
constexpr bool dtype_table_in_id_order() {
  for (int i = 0; i < dtype_count; ++i)
    if (int(dtype_table[i].id) != i) return false;
  return true;
}
static_assert(dtype_table_in_id_order(), "dtype_table lists the dtypes in dtype_id order");
}  // namespace detail

//! A dtype tag: a type with a `static constexpr dtype_id id`.
template <class T>
concept dtype = requires {
  { T::id } -> std::convertible_to<dtype_id>;
};

}  // namespace ctg
