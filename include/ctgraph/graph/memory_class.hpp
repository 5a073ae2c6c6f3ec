#pragma once
//! Where a buffer lives. Each class except `external` is one arena.
#include <cstdint>
#include <string_view>

namespace ctg {

enum class memory_class : std::uint8_t { device, symmetric, pinned_host, external };

inline constexpr int memory_class_count = 4;

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
