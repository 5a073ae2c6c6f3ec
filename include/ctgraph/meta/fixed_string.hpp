#pragma once
//! A string usable as a template argument: tensor and node names are `fixed_string`s.
#include <cstddef>
#include <string_view>

namespace ctg {

template <std::size_t N>
struct fixed_string {
  char data[N]{};  // N counts the terminating zero

  constexpr fixed_string() = default;
  constexpr fixed_string(const char (&s)[N]) {
    for (std::size_t i = 0; i < N; ++i) data[i] = s[i];
  }
  //! Copies the first N - 1 characters of `s` (the caller sized N from `s`).
  constexpr explicit fixed_string(std::string_view s) {
    for (std::size_t i = 0; i + 1 < N && i < s.size(); ++i) data[i] = s[i];
  }
  constexpr std::string_view view() const { return {data, N - 1}; }
  static constexpr std::size_t size() { return N - 1; }
};

template <std::size_t N>
fixed_string(const char (&)[N]) -> fixed_string<N>;

namespace detail {
constexpr std::size_t decimal_digits(std::size_t v) {
  std::size_t d = 1;
  while (v >= 10) v /= 10, ++d;
  return d;
}
}  // namespace detail

//! `indexed<"w", 3>` is "w3", `indexed<"h.", 3, ".ln_1.weight">` is "h.3.ln_1.weight": names for
//! repeated layers.
template <fixed_string Prefix, std::size_t I, fixed_string Suffix = fixed_string<1>{}>
inline constexpr auto indexed = [] {
  constexpr std::size_t p = Prefix.size(), d = detail::decimal_digits(I), n = Suffix.size();
  fixed_string<p + d + n + 1> s;
  for (std::size_t k = 0; k < p; ++k) s.data[k] = Prefix.data[k];
  std::size_t v = I;
  for (std::size_t k = 0; k < d; ++k, v /= 10) s.data[p + d - 1 - k] = char('0' + v % 10);
  for (std::size_t k = 0; Suffix.data[k] != '\0'; ++k) s.data[p + d + k] = Suffix.data[k];  // (k < n warns when n is 0)
  return s;
}();

//! indexed's counterpart for an index known only in a constant evaluation's loop (a graph_value's
//! names): `numbered("layers.", i, ".q")` is "layers.3.q" for i = 3, as a string_view.
struct numbered {
  static constexpr std::size_t most = 96;  // characters; a longer name is cut (and then clashes: an error)
  char text[most]{};
  std::size_t size = 0;
  constexpr numbered(std::string_view prefix, long long i, std::string_view suffix = {}) {
    append(prefix);
    if (i < 0) append("-");
    std::size_t v = i < 0 ? 0 - static_cast<std::size_t>(i) : static_cast<std::size_t>(i);
    const std::size_t d = detail::decimal_digits(v);
    for (std::size_t k = 0; k < d && size + d - 1 - k < most; ++k, v /= 10) text[size + d - 1 - k] = char('0' + v % 10);
    size = size + d < most ? size + d : most;
    append(suffix);
  }
  constexpr operator std::string_view() const { return {text, size}; }

 private:
  constexpr void append(std::string_view s) {
    for (char c : s)
      if (size < most) text[size++] = c;
  }
};

}  // namespace ctg
