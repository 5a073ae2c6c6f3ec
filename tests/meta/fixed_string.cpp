#include <ctgraph/meta/fixed_string.hpp>

#include <doctest/doctest.h>

TEST_CASE("fixed_string: literal, view and indexed names") {
  constexpr ctg::fixed_string s = "h0";
  static_assert(s.size() == 2 && s.view() == "h0");
  static_assert(ctg::indexed<"w", 0>.view() == "w0");
  static_assert(ctg::indexed<"layer", 95>.view() == "layer95");
  static_assert(ctg::indexed<"x", 1000>.view() == "x1000");
  static_assert(ctg::indexed<"transformer.h.", 11, ".attn.c_attn.weight">.view() == "transformer.h.11.attn.c_attn.weight");
  CHECK(ctg::indexed<"layer", 95>.view() == "layer95");
  constexpr ctg::fixed_string<4> cut(std::string_view("abcdef"));
  static_assert(cut.view() == "abc");
  CHECK(cut.view() == "abc");
}
