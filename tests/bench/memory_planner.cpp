// Memory-planner benchmark (prints JSON): arena / lower bound for ctgraph's assign_offsets,
// greedy by size (best fit) and an exact-size reuse pool, on generated hard interval sets and on
// MiniMalloc CSV files given on the command line.
//   memory_planner [--sets K] [--intervals N] [--search S] [--write-csv DIR] [file.csv ...]
// --write-csv writes the generated sets in MiniMalloc's format (for compile_intervals.py).
#include <ctgraph/passes/lower_bound.hpp>
#include <ctgraph/passes/offsets.hpp>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "intervals.hpp"

namespace {
using namespace ctg;

bool sound(const std::vector<interval>& xs, std::size_t arena) {
  for (std::size_t i = 0; i < xs.size(); ++i) {
    if (xs[i].offset + xs[i].bytes > arena) return false;
    for (std::size_t j = i + 1; j < xs.size(); ++j)
      if (xs[i].first <= xs[j].last && xs[j].first <= xs[i].last && xs[i].offset < xs[j].offset + xs[j].bytes &&
          xs[j].offset < xs[i].offset + xs[i].bytes)
        return false;
  }
  return true;
}

struct result {
  std::string name;
  std::size_t n, bound, ctgraph, greedy, pool;
  double ms;
  bool ok;
};

result run(const std::string& name, std::vector<interval> xs, int search) {
  result r{name, xs.size(), lower_bound(xs), 0, 0, 0, 0, false};
  std::vector<interval> g = xs;
  r.greedy = greedy_by_size(g);
  r.pool = bench::exact_size_pool(xs);
  auto t0 = std::chrono::steady_clock::now();
  r.ctgraph = assign_offsets(xs, search);
  r.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.ok = sound(xs, r.ctgraph) && sound(g, r.greedy);
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  int sets = 20, intervals = 450, search = run_time_search_steps;
  std::vector<std::string> files;
  std::string csv_dir;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--sets") && i + 1 < argc) sets = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--intervals") && i + 1 < argc) intervals = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--search") && i + 1 < argc) search = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--write-csv") && i + 1 < argc) csv_dir = argv[++i];
    else files.push_back(argv[i]);
  }
  std::vector<result> rs;
  for (int s = 0; s < sets; ++s) {
    auto xs = bench::hard_intervals(std::uint32_t(1000 + s), intervals);
    if (!csv_dir.empty()) bench::write_minimalloc_csv(csv_dir + "/hard-" + std::to_string(s) + ".csv", xs);
    rs.push_back(run("hard-" + std::to_string(s), std::move(xs), search));
  }
  for (const auto& f : files) rs.push_back(run(f, bench::read_minimalloc_csv(f), search));
  double sum_c = 0, sum_g = 0, sum_p = 0, max_c = 0;
  bool all_ok = true;
  std::printf("{\n  \"search_steps\": %d,\n  \"sets\": [\n", search);
  for (std::size_t i = 0; i < rs.size(); ++i) {
    const result& r = rs[i];
    double c = double(r.ctgraph) / double(r.bound), g = double(r.greedy) / double(r.bound), p = double(r.pool) / double(r.bound);
    sum_c += c, sum_g += g, sum_p += p, max_c = std::max(max_c, c);
    all_ok = all_ok && r.ok;
    std::printf("    {\"name\": \"%s\", \"intervals\": %zu, \"lower_bound\": %zu, \"ctgraph\": %.4f, \"greedy_by_size\": %.4f, "
                "\"exact_size_pool\": %.4f, \"ctgraph_ms\": %.2f, \"sound\": %s}%s\n",
                r.name.c_str(), r.n, r.bound, c, g, p, r.ms, r.ok ? "true" : "false", i + 1 < rs.size() ? "," : "");
  }
  double n = double(rs.size());
  std::printf("  ],\n  \"mean\": {\"ctgraph\": %.4f, \"greedy_by_size\": %.4f, \"exact_size_pool\": %.4f},\n"
              "  \"max_ctgraph\": %.4f,\n  \"all_sound\": %s\n}\n",
              sum_c / n, sum_g / n, sum_p / n, max_c, all_ok ? "true" : "false");
  return all_ok ? 0 : 1;
}
