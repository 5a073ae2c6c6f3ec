// runtime_bench: ctgraph's executor against eager launches of the same kernels and against the
// same launches captured by hand into CUDA graphs, on one GPU, in one run. Prints one JSON
// object on stdout (progress on stderr); exits 77 where no GPU is present.
//
// Workloads:  mlp16 / mlp4096  8 x (bf16 matmul [T,4096]x[4096,4096] -> relu), T = 16 / 4096
//             ew64             64 f32 elementwise kernels on 1M floats (relu, scale 1/2,
//                              add of the previous-but-one tensor, gelu)
//             round_trip       f32 matmul [16,1024]x[1024,1024] -> to_host -> host op (square)
//                              -> to_device -> matmul
// Variants:   eager       the plan's nodes launched one by one through ctg::runtime_ops, on
//                         buffers of our own laid out at the plan's offsets
//             cuda_graph  that same launch sequence captured by hand (one graph per run of
//                         capturable nodes; host ops run between, after a synchronisation)
//             ctgraph     executor::run()
// Timing: 20 warm-up runs; 5 trials of K runs; medians over trials, per run:
//   gpu_us            CUDA events around the K runs of a trial
//   host_us           wall time of the K host calls with no synchronisation inside
//   wall_us           wall time per run when synchronising after every run
//   host_overhead_us  wall_us - gpu_us
#include <ctgraph/runtime.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

namespace bench {
using namespace ctg;

constexpr int warmup_runs = 20;
constexpr int trials = 5;

// ---------------------------------------------------------------------------------------------
// Workloads as types
// ---------------------------------------------------------------------------------------------
constexpr std::int64_t hidden = 4096;
constexpr std::size_t mlp_layers = 8;

template <std::int64_t Tokens>
struct mlp {
  using x = input<"x", bf16, shape<Tokens, hidden>>;
  template <class X, std::size_t I>
  struct layer : node<indexed<"y", I>, ops::relu,
                      node<indexed<"h", I>, ops::matmul, X, parameter<indexed<"w", I>, bf16, shape<hidden, hidden>>>> {
  };
  using model = graph<repeat<mlp_layers, layer, x>>;
};

constexpr std::int64_t ew_elements = std::int64_t{1} << 20;
constexpr std::size_t ew_steps = 64;
using ew_x = input<"x", f32, shape<ew_elements>>;

//! The input of step X (the previous-but-one tensor of the next step), or X itself for the graph
//! input, which has none (only reached when not selected below).
template <class X>
struct input_of {
  using type = X;
};
template <class X>
  requires requires { typename X::input_type; }
struct input_of<X> {
  using type = typename X::input_type;
};

//! Step I: e_I = relu / scale 1/2 / add(previous, previous-but-one) / gelu of X, by I % 4.
template <class X, std::size_t I>
struct step : std::conditional_t<I % 4 == 0, node<indexed<"e", I>, ops::relu, X>,
                std::conditional_t<I % 4 == 1, node<indexed<"e", I>, ops::scale<1, 2>, X>,
                std::conditional_t<I % 4 == 2, node<indexed<"e", I>, ops::add, X, typename input_of<X>::type>,
                                   node<indexed<"e", I>, ops::gelu, X>>>> {
  using input_type = X;
};
using ew_model = graph<repeat<ew_steps, step, ew_x>>;

constexpr std::int64_t rt_m = 16, rt_k = 1024;
struct square_on_host {
  void operator()(const host_args& a) const {
    const float* in = a.input<float>(0);
    float* out = a.out<float>();
    for (std::int64_t i = 0; i < a.output_desc.elements(); ++i) out[i] = in[i] * in[i];
  }
};
using rt_x = input<"x", f32, shape<rt_m, rt_k>>;
using rt_w = parameter<"w", f32, shape<rt_k, rt_k>>;
struct rt_h : node<"h", ops::matmul, rt_x, rt_w> {};
struct rt_on_host : node<"on_host", ops::to_host, rt_h> {};
struct rt_squared : node<"squared", ops::host_op<square_on_host>, rt_on_host> {};
struct rt_back : node<"back", ops::to_device, rt_squared> {};
struct rt_y : node<"y", ops::matmul, rt_back, rt_w> {};
using rt_model = graph<rt_y>;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------
//! A device buffer owned here (cudaMalloc is 256-byte aligned).
struct device_buffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit device_buffer(std::size_t n) : bytes(n) { CTG_CHECK("bench", cudaMalloc(&ptr, n)); }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  ~device_buffer() {
    if (ptr) cudaFree(ptr);
  }
  template <class T>
  T* as() const { return static_cast<T*>(ptr); }
};

struct lcg {
  unsigned s;
  float next() {  // uniform in [-1, 1]
    s = s * 1664525u + 1013904223u;
    return float(int(s >> 9) % 2001 - 1000) / 1000.f;
  }
};

void upload_random_f32(device_buffer& d, std::size_t n, unsigned seed, float scale) {
  std::vector<float> h(n);
  lcg r{seed};
  for (float& v : h) v = r.next() * scale;
  CTG_CHECK("bench", cudaMemcpy(d.ptr, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  CTG_CHECK("bench", cudaDeviceSynchronize());  // a pageable upload may still be in flight
}
void upload_random_bf16(device_buffer& d, std::size_t n, unsigned seed, float scale) {
  std::vector<__nv_bfloat16> h(n);
  lcg r{seed};
  for (auto& v : h) v = __float2bfloat16(r.next() * scale);
  CTG_CHECK("bench", cudaMemcpy(d.ptr, h.data(), n * sizeof(__nv_bfloat16), cudaMemcpyHostToDevice));
  CTG_CHECK("bench", cudaDeviceSynchronize());  // a pageable upload may still be in flight
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

using clock_type = std::chrono::steady_clock;
double us_since(clock_type::time_point t0, clock_type::time_point t1) {
  return std::chrono::duration<double, std::micro>(t1 - t0).count();
}

struct timing {
  double gpu_us = 0, host_us = 0, wall_us = 0, host_overhead_us = 0;
};

class event {
 public:
  event() { CTG_CHECK("bench", cudaEventCreate(&e_)); }
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  ~event() { cudaEventDestroy(e_); }
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

//! Times `once()` (one run, enqueued on `st`) as described at the top of the file.
template <class F>
timing measure(cudaStream_t st, int k, F&& once) {
  for (int i = 0; i < warmup_runs; ++i) once();
  CTG_CHECK("bench", cudaStreamSynchronize(st));
  event start, stop;
  std::vector<double> gpu, host, wall;
  for (int t = 0; t < trials; ++t) {
    CTG_CHECK("bench", cudaEventRecord(start.get(), st));
    for (int i = 0; i < k; ++i) once();
    CTG_CHECK("bench", cudaEventRecord(stop.get(), st));
    CTG_CHECK("bench", cudaEventSynchronize(stop.get()));
    float ms = 0;
    CTG_CHECK("bench", cudaEventElapsedTime(&ms, start.get(), stop.get()));
    gpu.push_back(double(ms) * 1000.0 / k);
  }
  for (int t = 0; t < trials; ++t) {
    CTG_CHECK("bench", cudaStreamSynchronize(st));
    const auto t0 = clock_type::now();
    for (int i = 0; i < k; ++i) once();
    const auto t1 = clock_type::now();
    CTG_CHECK("bench", cudaStreamSynchronize(st));
    host.push_back(us_since(t0, t1) / k);
  }
  for (int t = 0; t < trials; ++t) {
    CTG_CHECK("bench", cudaStreamSynchronize(st));
    const auto t0 = clock_type::now();
    for (int i = 0; i < k; ++i) {
      once();
      CTG_CHECK("bench", cudaStreamSynchronize(st));
    }
    const auto t1 = clock_type::now();
    wall.push_back(us_since(t0, t1) / k);
  }
  timing r;
  r.gpu_us = median(gpu);
  r.host_us = median(host);
  r.wall_us = median(wall);
  r.host_overhead_us = r.wall_us - r.gpu_us;
  return r;
}

// ---------------------------------------------------------------------------------------------
// Eager launches of the plan's nodes, and the same launches captured by hand
// ---------------------------------------------------------------------------------------------
//! Runs the nodes of an executor's plan one by one through ctg::runtime_ops (what executor does
//! inside its captures and fallback regions), on arenas of its own laid out at the plan's
//! offsets; graph inputs and parameters are the executor's bound tensors (never written).
//! `capture()` records the same launches by hand: one CUDA graph per maximal run of capturable
//! nodes; `replay()` launches them, running the other nodes eagerly in between.
template <std::size_t N>
class eager_runner {
 public:
  eager_runner(const executor<N>& ex, cudaStream_t st) : p_(ex.plan_of()), st_(st) {
    const flat_graph<N>& g = p_.graph;
    device_ = allocation(allocation_kind::device, p_.arena_bytes(memory_class::device), "eager device arena");
    pinned_ = allocation(allocation_kind::pinned_host, p_.arena_bytes(memory_class::pinned_host), "eager pinned arena");
    workspace_ = allocation(allocation_kind::device, matmul_workspace_bytes, "eager cuBLASLt workspace");
    cublasLtHandle_t h = nullptr;
    CTG_CHECK("eager", cublasLtCreate(&h));
    lt_ = cublas_lt(h);
    ptr_.assign(std::size_t(g.node_count), nullptr);
    for (int v = 0; v < g.node_count; ++v) {
      const node_desc& d = g.nodes[v];
      if (d.kind != tensor_kind::node) {
        ptr_[std::size_t(v)] = ex.data(d.name);  // the same user tensors as the executor
        continue;
      }
      if (g.owner[v] != v) continue;  // a view: below
      const buffer_desc& b = g.buffers[v];
      if (b.memory == memory_class::symmetric) throw runtime_error(d.name, "eager", "symmetric memory is not benchmarked");
      if (b.opaque) {
        opaque_.emplace_back(allocation_kind::device, b.bytes, d.name);
        ptr_[std::size_t(v)] = opaque_.back().get();
      } else {
        ptr_[std::size_t(v)] = (b.memory == memory_class::pinned_host ? pinned_ : device_).bytes() + b.offset;
      }
    }
    for (int s = 0; s < g.step_count; ++s) {
      const int v = g.schedule[s];
      if (g.owner[v] != v) ptr_[std::size_t(v)] = ptr_[std::size_t(g.owner[v])];
    }
    for (int s = 0; s < g.step_count; ++s) {
      const int v = g.schedule[s];
      const launch_context c =
          context_of(g, v, ptr_.data(), st_, lt_.get(), workspace_.get(), matmul_workspace_bytes);
      ctx_.push_back(c);
    }
  }
  eager_runner(const eager_runner&) = delete;
  eager_runner& operator=(const eager_runner&) = delete;

  void run() {
    for (std::size_t s = 0; s < ctx_.size(); ++s) launch(s);
  }

  void capture() {
    segments_.clear();
    for (std::size_t s = 0; s < ctx_.size();) {
      const bool capturable = ctx_[s].node->traits.capturable;
      std::size_t e = s;
      while (e + 1 < ctx_.size() && ctx_[e + 1].node->traits.capturable == capturable) ++e;
      segment seg{s, e, capturable, graph_exec()};
      if (capturable) {
        seg.exec = instantiate_graph(ctg::capture(st_, "cuda_graph", [&] {
                                 for (std::size_t i = s; i <= e; ++i) launch(i);
                               }),
                               "cuda_graph");
      }
      segments_.push_back(std::move(seg));
      s = e + 1;
    }
  }

  void replay() {
    for (const segment& seg : segments_) {
      if (seg.capturable) {
        CTG_CHECK("cuda_graph", cudaGraphLaunch(seg.exec.get(), st_));
      } else {
        for (std::size_t i = seg.first; i <= seg.last; ++i) launch(i);
      }
    }
  }

  int graph_count() const {
    int n = 0;
    for (const segment& seg : segments_) n += seg.capturable;
    return n;
  }

  void* data(std::string_view name) const {
    const int i = p_.index_of(name);
    if (i < 0) throw runtime_error(name, "eager", "no tensor of this name");
    return ptr_[std::size_t(i)];
  }

 private:
  struct segment {
    std::size_t first = 0, last = 0;
    bool capturable = true;
    graph_exec exec;
  };

  void launch(std::size_t s) {
    const launch_context& c = ctx_[s];
    if (!runtime_ops::launch_local(c)) throw runtime_error(c.node->name, "eager", "this op is not benchmarked");
  }

  // Teardown runs bottom-up: graph executables before the memory they point into.
  const plan<N>& p_;
  cudaStream_t st_;
  allocation device_, pinned_, workspace_;
  std::vector<allocation> opaque_;
  cublas_lt lt_;
  std::vector<void*> ptr_;
  std::vector<launch_context> ctx_;
  std::vector<segment> segments_;
};

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------
std::string num(double v) {
  if (!std::isfinite(v)) return "null";
  char b[64];
  std::snprintf(b, sizeof b, "%.6g", v);
  return b;
}
std::string ratio(double a, double b) {
  if (!(b > 0)) return "null";
  char s[64];
  std::snprintf(s, sizeof s, "%.4f", a / b);
  return s;
}
std::string quoted(std::string_view s) {
  std::string r = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') r += '\\', r += c;
    else if (static_cast<unsigned char>(c) < 0x20) r += ' ';
    else r += c;
  }
  return r + "\"";
}
std::string to_json(const timing& t) {
  return "{\"gpu_us\": " + num(t.gpu_us) + ", \"host_us\": " + num(t.host_us) + ", \"wall_us\": " + num(t.wall_us) +
         ", \"host_overhead_us\": " + num(t.host_overhead_us) + "}";
}

// ---------------------------------------------------------------------------------------------
// One workload: verify the three variants agree, then time them
// ---------------------------------------------------------------------------------------------
std::vector<float> download_as_float(const void* p, const tensor_desc& t) {
  const std::size_t n = std::size_t(t.elements());
  std::vector<float> out(n);
  if (t.dtype == dtype_id::f32) {
    CTG_CHECK("bench", cudaMemcpy(out.data(), p, n * sizeof(float), cudaMemcpyDefault));
  } else if (t.dtype == dtype_id::bf16) {
    std::vector<__nv_bfloat16> h(n);
    CTG_CHECK("bench", cudaMemcpy(h.data(), p, n * sizeof(__nv_bfloat16), cudaMemcpyDefault));
    for (std::size_t i = 0; i < n; ++i) out[i] = __bfloat162float(h[i]);
  } else {
    throw runtime_error("bench", "download", "unexpected output dtype");
  }
  return out;
}

struct compare_result {
  bool equal = true;  // bit for bit (compared as floats; the bf16 -> float conversion is exact)
  double max_abs_diff = 0;
};
void compare_into(compare_result& r, const std::vector<float>& a, const std::vector<float>& b) {
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) r.equal = false;
    r.max_abs_diff = std::max(r.max_abs_diff, std::fabs(double(a[i]) - double(b[i])));
  }
}

template <std::size_t N>
std::string bench_workload(const char* name, executor<N>& ex, cudaStream_t st, std::string_view output, int k) {
  std::fprintf(stderr, "[%s] preparing\n", name);
  eager_runner<N> eager(ex, st);
  eager.capture();
  const plan<N>& p = ex.plan_of();
  const int out_index = p.index_of(output);
  if (out_index < 0) throw runtime_error(output, "bench", "no output of this name");
  const tensor_desc out_desc = p.node(out_index).out;

  // Correctness: one run of each variant, outputs compared bit for bit with ctgraph's.
  CTG_CHECK("bench", cudaMemsetAsync(eager.data(output), 0, out_desc.bytes(), st));
  eager.run();
  CTG_CHECK("bench", cudaStreamSynchronize(st));
  const auto out_eager = download_as_float(eager.data(output), out_desc);
  CTG_CHECK("bench", cudaMemsetAsync(eager.data(output), 0, out_desc.bytes(), st));
  eager.replay();
  CTG_CHECK("bench", cudaStreamSynchronize(st));
  const auto out_graph = download_as_float(eager.data(output), out_desc);
  CTG_CHECK("bench", cudaMemsetAsync(ex.data(output), 0, out_desc.bytes(), st));
  ex.run();
  CTG_CHECK("bench", cudaStreamSynchronize(st));
  const auto out_ctg = download_as_float(ex.data(output), out_desc);
  compare_result cmp;
  compare_into(cmp, out_eager, out_ctg);
  compare_into(cmp, out_graph, out_ctg);
  bool finite = true;
  double mean_abs = 0;
  for (float v : out_ctg) finite = finite && std::isfinite(v), mean_abs += std::fabs(double(v));
  mean_abs /= double(out_ctg.size());
  if (!cmp.equal) std::fprintf(stderr, "[%s] WARNING: outputs differ (max |diff| %g)\n", name, cmp.max_abs_diff);

  std::fprintf(stderr, "[%s] eager\n", name);
  const timing t_eager = measure(st, k, [&] { eager.run(); });
  std::fprintf(stderr, "[%s] cuda_graph\n", name);
  const timing t_graph = measure(st, k, [&] { eager.replay(); });
  std::fprintf(stderr, "[%s] ctgraph\n", name);
  const timing t_ctg = measure(st, k, [&] { ex.run(); });
  std::fprintf(stderr, "[%s] gpu_us eager %.2f cuda_graph %.2f ctgraph %.2f\n", name, t_eager.gpu_us, t_graph.gpu_us, t_ctg.gpu_us);

  std::ostringstream o;
  o << "{\"runs_per_trial\": " << k << ", \"steps\": " << p.step_count() << ", \"partitions\": " << p.partition_count()
    << ", \"hand_captured_graphs\": " << eager.graph_count() << ",\n     \"eager\": " << to_json(t_eager)
    << ",\n     \"cuda_graph\": " << to_json(t_graph) << ",\n     \"ctgraph\": " << to_json(t_ctg)
    << ",\n     \"ctgraph_over_cuda_graph\": {\"gpu_us\": " << ratio(t_ctg.gpu_us, t_graph.gpu_us)
    << ", \"host_us\": " << ratio(t_ctg.host_us, t_graph.host_us) << ", \"wall_us\": " << ratio(t_ctg.wall_us, t_graph.wall_us)
    << "},\n     \"ctgraph_over_eager\": {\"gpu_us\": " << ratio(t_ctg.gpu_us, t_eager.gpu_us)
    << ", \"host_us\": " << ratio(t_ctg.host_us, t_eager.host_us) << ", \"wall_us\": " << ratio(t_ctg.wall_us, t_eager.wall_us)
    << "},\n     \"outputs_equal\": " << (cmp.equal ? "true" : "false") << ", \"max_abs_diff\": " << num(cmp.max_abs_diff)
    << ", \"output_finite\": " << (finite ? "true" : "false") << ", \"output_mean_abs\": " << num(mean_abs) << "}";
  return o.str();
}

template <std::int64_t Tokens>
std::string bench_mlp(const char* name, cudaStream_t st, int k) {
  const std::size_t nx = std::size_t(Tokens) * hidden, nw = std::size_t(hidden) * hidden;
  device_buffer x(nx * 2), w(nw * mlp_layers * 2);
  upload_random_bf16(x, nx, 7, 1.f);
  upload_random_bf16(w, nw * mlp_layers, 11, 0.03f);
  auto* dw = w.as<__nv_bfloat16>();
  auto ex = instantiate<typename mlp<Tokens>::model>(
      st, {bind("x", x.as<__nv_bfloat16>(), nx), bind("w0", dw, nw), bind("w1", dw + nw, nw), bind("w2", dw + 2 * nw, nw),
           bind("w3", dw + 3 * nw, nw), bind("w4", dw + 4 * nw, nw), bind("w5", dw + 5 * nw, nw),
           bind("w6", dw + 6 * nw, nw), bind("w7", dw + 7 * nw, nw)});
  return bench_workload(name, ex, st, "y7", k);
}

std::string bench_ew(cudaStream_t st, int k) {
  device_buffer x(std::size_t(ew_elements) * 4);
  upload_random_f32(x, std::size_t(ew_elements), 5, 1.f);
  auto ex = instantiate<ew_model>(st, {bind("x", x.as<float>(), std::size_t(ew_elements))});
  return bench_workload("ew64", ex, st, "e63", k);
}

std::string bench_round_trip(cudaStream_t st, int k) {
  device_buffer x(std::size_t(rt_m * rt_k) * 4), w(std::size_t(rt_k * rt_k) * 4);
  upload_random_f32(x, std::size_t(rt_m * rt_k), 3, 1.f);
  upload_random_f32(w, std::size_t(rt_k * rt_k), 13, 0.05f);
  auto ex = instantiate<rt_model>(st, {bind("x", x.as<float>(), std::size_t(rt_m * rt_k)),
                                       bind("w", w.as<float>(), std::size_t(rt_k * rt_k))});
  return bench_workload("round_trip", ex, st, "y", k);
}

// ---------------------------------------------------------------------------------------------
// Instantiation of run-time-built graphs
// ---------------------------------------------------------------------------------------------
constexpr std::size_t builder_capacity = 4200;
constexpr std::int64_t chain_elements = 64 * 1024;

std::string bench_instantiate(cudaStream_t st) {
  device_buffer x(std::size_t(chain_elements) * 4);
  upload_random_f32(x, std::size_t(chain_elements), 9, 1.f);
  std::ostringstream o;
  o << "[";
  bool first = true;
  for (int n : {64, 256, 1024, 4096}) {
    std::fprintf(stderr, "[instantiate] %d nodes\n", n);
    auto b = std::make_unique<graph_builder<builder_capacity>>();  // large: on the heap
    int prev = b->input("x", tensor_desc{dtype_id::f32, 1, {chain_elements}});
    for (int i = 0; i < n; ++i) {
      std::string node_name = "n" + std::to_string(i);
      prev = i % 2 == 0 ? b->add<ops::relu>(node_name, {prev}) : b->add<ops::scale<1, 2>>(node_name, {prev});
    }
    b->output(prev);
    const auto t0 = clock_type::now();
    auto p = std::make_unique<plan<builder_capacity>>(b->build());
    const auto t1 = clock_type::now();
    if (!p->ok()) throw runtime_error("instantiate", "graph_builder", "the chain was rejected");
    std::vector<double> ms;
    for (int rep = 0; rep < 3; ++rep) {
      CTG_CHECK("bench", cudaDeviceSynchronize());
      const auto a = clock_type::now();
      {
        executor<builder_capacity> ex(*p, st, {bind("x", x.as<float>(), std::size_t(chain_elements))});
        const auto z = clock_type::now();
        ms.push_back(us_since(a, z) / 1000.0);
        if (rep == 0) {  // it runs
          ex.run();
          CTG_CHECK("bench", cudaStreamSynchronize(st));
        }
      }
    }
    o << (first ? "" : ", ") << "{\"nodes\": " << n << ", \"ms\": " << num(median(ms))
      << ", \"plan_ms\": " << num(us_since(t0, t1) / 1000.0) << "}";
    first = false;
  }
  o << "]";
  return o.str();
}

}  // namespace bench

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    std::fprintf(stderr, "runtime_bench: no GPU: skipped\n");
    return 77;
  }
  try {
    using namespace bench;
    int dev = 0;
    CTG_CHECK("bench", cudaGetDevice(&dev));
    cudaDeviceProp prop{};
    CTG_CHECK("bench", cudaGetDeviceProperties(&prop, dev));
    cudaStream_t st = nullptr;
    CTG_CHECK("bench", cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
    std::fprintf(stderr, "runtime_bench on %s\n", prop.name);
    const std::string mlp16 = bench_mlp<16>("mlp16", st, 200);
    const std::string mlp4096 = bench_mlp<4096>("mlp4096", st, 20);
    const std::string ew64 = bench_ew(st, 200);
    const std::string round_trip = bench_round_trip(st, 200);
    const std::string inst = bench_instantiate(st);
    CTG_CHECK("bench", cudaStreamSynchronize(st));
    CTG_CHECK("bench", cudaStreamDestroy(st));
    std::printf("{\"gpu\": %s, \"date\": %s, \"warmup_runs\": %d, \"trials\": %d, \"statistic\": \"median over trials, per run\",\n",
                quoted(prop.name).c_str(), quoted(__DATE__).c_str(), warmup_runs, trials);
    std::printf(" \"workloads\": {\n  \"mlp16\": %s,\n  \"mlp4096\": %s,\n  \"ew64\": %s,\n  \"round_trip\": %s},\n",
                mlp16.c_str(), mlp4096.c_str(), ew64.c_str(), round_trip.c_str());
    std::printf(" \"instantiate\": %s}\n", inst.c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "runtime_bench: %s\n", e.what());
    return 1;
  }
}
