#pragma once
//! Where a buffer lives. Each class except `external` is one arena.
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace ctg {

enum class memory_class : std::uint8_t { device, symmetric, pinned_host, external };

inline constexpr int memory_class_count = 4;

//! Every buffer's offset in its arena is a multiple of this (and so is each output of a
//! multi-output node within its buffer).
inline constexpr std::size_t arena_alignment = 256;

constexpr std::size_t align_up(std::size_t v, std::size_t a = arena_alignment) {
  return (v + a - 1) / a * a;
}

constexpr std::string_view name_of(memory_class c) {
  switch (c) {
    case memory_class::device: return "device";
    case memory_class::symmetric: return "symmetric";
    case memory_class::pinned_host: return "pinned_host";
    case memory_class::external: return "external";
  }
  return "?";
}

}  // namespace ctg
