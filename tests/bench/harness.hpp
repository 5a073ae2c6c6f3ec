#pragma once
// What runtime_bench (ctgraph) and runtime_baseline (plain CUDA) share, so that both are timed
// and reported the same way: the pseudo-random inputs, the timing loop, JSON, an output hash and
// the summary file. Plain C++ and the CUDA runtime only: no ctgraph header.
//
// Timing: 20 warm-up runs; 5 trials of K runs; medians over trials, per run:
//   gpu_us            CUDA events around the K runs of a trial
//   host_us           wall time of the K host calls with no synchronisation inside
//   wall_us           wall time per run when synchronising after every run
//   host_overhead_us  wall_us - gpu_us
//
// Summary (tests/bench/results/summary.json): ONE flat JSON object of
// "workload.variant.metric" -> number for the latest run of each variant, plus "gpu" and
// "date". Each benchmark merges its own keys when run with `--summary PATH` (torch_bench.py does
// the same in Python); keys it does not write are kept.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bench_harness {

inline constexpr int warmup_runs = 20;
inline constexpr int trials = 5;

inline void check(cudaError_t e, const char* call) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(call) + ": " + cudaGetErrorString(e));
}
#define BENCH_CHECK(call) ::bench_harness::check((call), #call)

// --- inputs ----------------------------------------------------------------------------------
struct lcg {
  unsigned s;
  float next() {  // uniform in [-1, 1]
    s = s * 1664525u + 1013904223u;
    return float(int(s >> 9) % 2001 - 1000) / 1000.f;
  }
};

//! n values uniform in [-scale, scale] from `seed`, written to device memory `d` as f32 or bf16.
inline void upload_random_f32(void* d, std::size_t n, unsigned seed, float scale) {
  std::vector<float> h(n);
  lcg r{seed};
  for (float& v : h) v = r.next() * scale;
  BENCH_CHECK(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaDeviceSynchronize());  // a pageable upload may still be in flight
}
inline void upload_random_bf16(void* d, std::size_t n, unsigned seed, float scale) {
  std::vector<__nv_bfloat16> h(n);
  lcg r{seed};
  for (auto& v : h) v = __float2bfloat16(r.next() * scale);
  BENCH_CHECK(cudaMemcpy(d, h.data(), n * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  BENCH_CHECK(cudaDeviceSynchronize());
}

// --- timing ----------------------------------------------------------------------------------
struct timing {
  double gpu_us = 0, host_us = 0, wall_us = 0, host_overhead_us = 0;
};

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

using clock_type = std::chrono::steady_clock;
inline double us_since(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

//! Times `once()` (one run, enqueued on `st`) as described at the top of the file.
template <class F>
timing measure(cudaStream_t st, int k, F&& once) {
  for (int i = 0; i < warmup_runs; ++i) once();
  BENCH_CHECK(cudaStreamSynchronize(st));
  cudaEvent_t start = nullptr, stop = nullptr;
  BENCH_CHECK(cudaEventCreate(&start));
  BENCH_CHECK(cudaEventCreate(&stop));
  std::vector<double> gpu, host, wall;
  for (int t = 0; t < trials; ++t) {
    BENCH_CHECK(cudaEventRecord(start, st));
    for (int i = 0; i < k; ++i) once();
    BENCH_CHECK(cudaEventRecord(stop, st));
    BENCH_CHECK(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CHECK(cudaEventElapsedTime(&ms, start, stop));
    gpu.push_back(double(ms) * 1000.0 / k);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  for (int t = 0; t < trials; ++t) {
    BENCH_CHECK(cudaStreamSynchronize(st));
    const auto t0 = clock_type::now();
    for (int i = 0; i < k; ++i) once();
    const auto t1 = clock_type::now();
    BENCH_CHECK(cudaStreamSynchronize(st));
    host.push_back(us_since(t0, t1) / k);
  }
  for (int t = 0; t < trials; ++t) {
    BENCH_CHECK(cudaStreamSynchronize(st));
    const auto t0 = clock_type::now();
    for (int i = 0; i < k; ++i) {
      once();
      BENCH_CHECK(cudaStreamSynchronize(st));
    }
    wall.push_back(us_since(t0, clock_type::now()) / k);
  }
  timing r;
  r.gpu_us = median(gpu);
  r.host_us = median(host);
  r.wall_us = median(wall);
  r.host_overhead_us = r.wall_us - r.gpu_us;
  return r;
}

// --- JSON ------------------------------------------------------------------------------------
inline std::string number(double v) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}

inline std::string json_string(std::string_view v) {
  std::string r = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') r += '\\', r += c;
    else if (static_cast<unsigned char>(c) < 0x20) r += ' ';
    else r += c;
  }
  return r + "\"";
}

inline std::string to_json(const timing& t) {
  return "{\"gpu_us\": " + number(t.gpu_us) + ", \"host_us\": " + number(t.host_us) + ", \"wall_us\": " + number(t.wall_us) +
         ", \"host_overhead_us\": " + number(t.host_overhead_us) + "}";
}

//! `"output_hash": ..., "output_finite": ..., "output_mean_abs": ...` of an f32 or bf16 output in
//! device memory. The hash is FNV-1a of its bytes: equal hashes mean identical bits.
inline std::string describe_output(const void* device, std::size_t bytes, bool bf16) {
  std::vector<unsigned char> h(bytes);
  BENCH_CHECK(cudaMemcpy(h.data(), device, bytes, cudaMemcpyDefault));
  std::uint64_t hash = 1469598103934665603ull;
  for (unsigned char b : h) hash = (hash ^ b) * 1099511628211ull;
  const std::size_t n = bytes / (bf16 ? 2 : 4);
  double mean_abs = 0;
  bool finite = true;
  for (std::size_t i = 0; i < n; ++i) {
    float v;
    if (bf16) {
      __nv_bfloat16 b;
      std::memcpy(&b, &h[i * 2], 2);
      v = __bfloat162float(b);
    } else {
      std::memcpy(&v, &h[i * 4], 4);
    }
    finite = finite && std::isfinite(v);
    mean_abs += std::fabs(double(v));
  }
  char s[160];
  std::snprintf(s, sizeof s, "\"output_hash\": \"%016llx\", \"output_finite\": %s, \"output_mean_abs\": %s",
                static_cast<unsigned long long>(hash), finite ? "true" : "false", number(mean_abs / double(n)).c_str());
  return s;
}

// --- the summary file ------------------------------------------------------------------------
//! Values as they are written: a number or a quoted string.
using entries = std::map<std::string, std::string>;

//! Reads a flat object of string keys and number or string values (what `merge` and Python's
//! json.dump write). A missing file is an empty summary.
inline entries read_summary(const std::string& path) {
  entries e;
  std::ifstream in(path);
  if (!in) return e;
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string s = ss.str();
  std::size_t i = 0;
  auto is_space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  auto skip = [&] {
    while (i < s.size() && (is_space(s[i]) || s[i] == ',' || s[i] == '{' || s[i] == '}')) ++i;
  };
  auto string_at = [&] {  // s[i] == '"'; the literal with its quotes and escapes
    const std::size_t start = i++;
    while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
    ++i;
    return s.substr(start, i - start);
  };
  for (skip(); i < s.size(); skip()) {
    if (s[i] != '"') throw std::runtime_error("summary: " + path + " is not a flat JSON object");
    std::string key = string_at();
    key = key.substr(1, key.size() - 2);
    while (i < s.size() && (s[i] == ':' || is_space(s[i]))) ++i;
    if (i < s.size() && s[i] == '"') {
      e[key] = string_at();
    } else {
      const std::size_t start = i;
      while (i < s.size() && s[i] != ',' && s[i] != '}' && !is_space(s[i])) ++i;
      e[key] = s.substr(start, i - start);
    }
  }
  return e;
}

//! Merges `update` into the summary at `path` and rewrites it, one key a line, sorted.
inline void merge_summary(const std::string& path, const entries& update) {
  entries e = read_summary(path);
  for (const auto& [k, v] : update) e[k] = v;
  std::ofstream out(path);
  if (!out) throw std::runtime_error("summary: cannot write " + path);
  out << "{";
  bool first = true;
  for (const auto& [k, v] : e) {
    out << (first ? "\n " : ",\n ") << json_string(k) << ": " << v;
    first = false;
  }
  out << "\n}\n";
}

//! "<workload>.<variant>.us" (GPU µs per run), ".host_us", ".wall_us", ".overhead_us".
inline void summarise(entries& s, const std::string& workload, const std::string& variant, const timing& t) {
  const std::string p = workload + "." + variant + ".";
  s[p + "us"] = number(t.gpu_us);
  s[p + "gpu_us"] = number(t.gpu_us);  // the name the issues use for the same number
  s[p + "host_us"] = number(t.host_us);
  s[p + "wall_us"] = number(t.wall_us);
  s[p + "overhead_us"] = number(t.host_overhead_us);
}

//! Today's date (UTC), YYYY-MM-DD.
inline std::string today() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[16];
  std::strftime(b, sizeof b, "%Y-%m-%d", &tm);
  return b;
}

//! The word after `flag` on the command line, or empty.
inline std::string flag_value(int argc, char** argv, std::string_view flag) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::string_view(argv[i]) == flag) return argv[i + 1];
  return {};
}
//! The path after `--summary` on the command line, or empty.
inline std::string summary_path(int argc, char** argv) { return flag_value(argc, argv, "--summary"); }

//! Prints the benchmark's JSON header line and, with a summary path, merges `s` (plus the GPU's
//! name and the date) into it.
inline void finish(const char* program, const cudaDeviceProp& prop, const std::string& workloads_json,
                   entries s, const std::string& path) {
  const std::string date = today();
  std::printf("{\"gpu\": %s, \"date\": \"%s\", \"program\": \"%s\", \"warmup_runs\": %d, \"trials\": %d, "
              "\"statistic\": \"median over trials, per run\",\n%s}\n",
              json_string(prop.name).c_str(), date.c_str(), program, warmup_runs, trials, workloads_json.c_str());
  if (path.empty()) return;
  s["gpu"] = json_string(prop.name);
  s["date"] = json_string(date);
  merge_summary(path, s);
  std::fprintf(stderr, "%s: updated %s\n", program, path.c_str());
}

//! A benchmark's main: exits 77 (skipped) without a GPU; else runs body(prop, stream) on a
//! non-blocking stream of GPU 0 and returns 0, or says what it threw and returns 1.
template <class Body>
int gpu_main(const char* program, Body&& body) {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    std::fprintf(stderr, "%s: no GPU: skipped\n", program);
    return 77;
  }
  try {
    cudaDeviceProp prop{};
    BENCH_CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t st = nullptr;
    BENCH_CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    std::fprintf(stderr, "%s on %s\n", program, prop.name);
    body(prop, st);
    BENCH_CHECK(cudaStreamSynchronize(st));
    BENCH_CHECK(cudaStreamDestroy(st));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: %s\n", program, e.what());
    return 1;
  }
}

//! The whole main of a benchmark whose body is `run(stream)` -> its JSON: gpu_main, then finish
//! with `summary` as run left it (merged where the command line says `--summary PATH`).
template <class Run>
int bench_main(const char* program, int argc, char** argv, const entries& summary, Run&& run) {
  return gpu_main(program, [&](const cudaDeviceProp& prop, cudaStream_t st) {
    const std::string body = run(st);
    finish(program, prop, body, summary, summary_path(argc, argv));
  });
}

}  // namespace bench_harness
