// all_reduce_bench: bf16 all-reduce (sum) latency on every GPU of the host, each variant timed
// inside a captured CUDA graph. Prints one JSON object on stdout (progress on stderr); exits 77
// where no GPU is present.
//
// Variants:  ctgraph_nccl_symmetric  runtime_ops::launch_all_reduce_nccl, input and output in one
//                                    symmetric window (ctg::symmetric_arena), so NCCL 2.28 can
//                                    take its symmetric kernels
//            ctgraph_one_shot        runtime_ops::launch_all_reduce_one_shot (NCCL device API,
//                                    ctg::device_comm), input and output in the same window
//            nccl_plain              ncclAllReduce on ordinary cudaMalloc buffers
// Sizes:     1 KiB .. 64 MiB (x4), bf16 elements.
// Ranks:     one thread per GPU (all of cudaGetDeviceCount), communicators from ncclCommInitAll,
//            NCCL_NVLS_ENABLE=0; each thread on its device with its own stream.
// Timing:    20 back-to-back all-reduces captured into one graph; 5 warm-up replays; 5 trials of
//            R replays (R by size), all ranks replaying the same graphs, a host barrier before
//            each trial; rank 0 times each trial with CUDA events. Reported: the median over
//            trials of the time per all-reduce (trial time / (R x 20)), in microseconds.
// Checking:  once per size and variant, before timing: every rank's input is rank+1; one replay;
//            every element of every rank's output must be n(n+1)/2 (bf16; exact for n <= 16).
//
// Run: build/<preset>/tests/bench/all_reduce_bench   (or nvcc -std=c++20 -arch=sm_90 -I include
//      tests/bench/all_reduce.cu -o arb -lnccl -lcublasLt -lcublas && ./arb)
#include <cuda_bf16.h>
#include <cuda_runtime.h>
#include <nccl.h>

#include <algorithm>
#include <array>
#include <barrier>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/handles.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>
#include <ctgraph/runtime/nccl/all_reduce.cuh>
#include <ctgraph/runtime/nccl/device_comm.hpp>
#include <ctgraph/runtime/nccl/symmetric_arena.hpp>
#include <ctgraph/runtime/nccl/version.hpp>

namespace arb {
using namespace ctg;

constexpr std::size_t kib = 1024, mib = kib * kib;
constexpr std::array<std::size_t, 9> sizes{kib, 4 * kib, 16 * kib, 64 * kib, 256 * kib, mib, 4 * mib, 16 * mib, 64 * mib};
constexpr std::size_t max_bytes = 64 * mib;
constexpr int ops_per_graph = 20;
constexpr int warmup_replays = 5;
constexpr int trials = 5;

enum variant : int { nccl_symmetric = 0, one_shot = 1, nccl_plain = 2, variant_count = 3 };
constexpr const char* variant_names[variant_count] = {"ctgraph_nccl_symmetric", "ctgraph_one_shot", "nccl_plain"};

//! Graph replays per trial: enough to dwarf launch jitter at small sizes, few at large ones.
constexpr int replays_for(std::size_t bytes) { return bytes <= 256 * kib ? 50 : bytes <= 4 * mib ? 20 : 5; }

__global__ void fill_bf16(__nv_bfloat16* p, std::size_t n, float v) {
  const __nv_bfloat16 x = __float2bfloat16_rn(v);
  for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += std::size_t(gridDim.x) * blockDim.x) p[i] = x;
}

void fill(void* p, std::size_t n, float v, cudaStream_t s) {
  const unsigned grid = unsigned(std::min<std::size_t>((n + 255) / 256, 1024));
  fill_bf16<<<grid, 256, 0, s>>>(static_cast<__nv_bfloat16*>(p), n, v);
  CTG_CHECK("bench", cudaGetLastError());
}

std::uint16_t bf16_bits(float v) {
  const __nv_bfloat16 b = __float2bfloat16_rn(v);
  std::uint16_t u = 0;
  std::memcpy(&u, &b, sizeof u);
  return u;
}

//! What the ranks share. Each rank writes only its own slots; std::barrier orders the reads.
struct shared {
  int n = 0;
  std::vector<ncclComm_t> comms;
  std::barrier<> sync;
  std::vector<std::string> arena_error, dev_error;                      // per rank; empty: fine
  std::vector<char> correct;                                            // [rank][size][variant]
  std::array<std::array<double, variant_count>, sizes.size()> us{};     // rank 0's medians; NaN: not run
  explicit shared(int ranks)
      : n(ranks), comms(std::size_t(ranks), nullptr), sync(ranks), arena_error(std::size_t(ranks)),
        dev_error(std::size_t(ranks)), correct(std::size_t(ranks) * sizes.size() * variant_count, 0) {
    for (auto& row : us) row.fill(NAN);
  }
  char& correct_at(int rank, std::size_t size, int v) { return correct[(std::size_t(rank) * sizes.size() + size) * variant_count + std::size_t(v)]; }
  static std::string first_error(const std::vector<std::string>& e) {
    for (std::size_t r = 0; r < e.size(); ++r)
      if (!e[r].empty()) return "rank " + std::to_string(r) + ": " + e[r];
    return {};
  }
};

//! Captures `ops_per_graph` back-to-back launches on `s` into an executable.
template <class Launch>
graph_exec capture(cudaStream_t s, Launch&& launch) {
  return instantiate_graph(ctg::capture(s, "bench", [&] {
                       for (int i = 0; i < ops_per_graph; ++i) launch();
                     }),
                     "bench");
}

void rank_main(shared& sh, int rank) {
  CTG_CHECK("bench", cudaSetDevice(rank));
  const ncclComm_t comm = sh.comms[std::size_t(rank)];
  const int n = sh.n;
  {
    owned_stream stream;
    {
      cudaStream_t s = nullptr;
      CTG_CHECK("bench", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      stream = owned_stream(s);
    }
    const cudaStream_t s = stream.get();
    cudaEvent_t start = nullptr, stop = nullptr;  // rank 0 only
    if (rank == 0) {
      CTG_CHECK("bench", cudaEventCreate(&start));
      CTG_CHECK("bench", cudaEventCreate(&stop));
    }
    allocation plain_in(allocation_kind::device, max_bytes, "bench"), plain_out(allocation_kind::device, max_bytes, "bench");

    // Symmetric window: input at offset 0, output at offset max_bytes. Creation is collective;
    // every rank then learns whether every rank succeeded, so all skip the same variants.
    std::optional<symmetric_arena> arena;
    try {
      arena.emplace(comm, 2 * max_bytes);
    } catch (const std::exception& e) {
      sh.arena_error[std::size_t(rank)] = e.what();
    }
    sh.sync.arrive_and_wait();
    const bool arena_ok = shared::first_error(sh.arena_error).empty();
    std::optional<device_comm> dev;
    if (arena_ok) {
      try {
        dev.emplace(comm);
        if ((*dev)->lsaSize != (*dev)->nRanks)
          sh.dev_error[std::size_t(rank)] = "only " + std::to_string((*dev)->lsaSize) + " of " + std::to_string((*dev)->nRanks) +
                                            " ranks share an LSA (load/store) team";
      } catch (const std::exception& e) {
        sh.dev_error[std::size_t(rank)] = e.what();
      }
    } else {
      sh.dev_error[std::size_t(rank)] = "no symmetric window";
    }
    sh.sync.arrive_and_wait();
    const bool dev_ok = arena_ok && shared::first_error(sh.dev_error).empty();
    const bool available[variant_count] = {arena_ok, dev_ok, true};

    void* sym_in = arena_ok ? arena->get() : nullptr;
    void* sym_out = arena_ok ? static_cast<std::byte*>(arena->get()) + max_bytes : nullptr;
    const std::uint16_t expected = bf16_bits(float(n) * float(n + 1) / 2.0f);
    std::vector<std::uint16_t> host(max_bytes / sizeof(std::uint16_t));

    for (std::size_t si = 0; si < sizes.size(); ++si) {
      const std::size_t bytes = sizes[si], elements = bytes / sizeof(__nv_bfloat16);
      const int replays = replays_for(bytes);
      if (rank == 0) std::fprintf(stderr, "all_reduce_bench: %zu bytes\n", bytes);
      fill(plain_in.get(), elements, float(rank + 1), s);
      if (arena_ok) fill(sym_in, elements, float(rank + 1), s);
      CTG_CHECK("bench", cudaStreamSynchronize(s));

      node_desc d;
      d.name = "all_reduce";
      d.out.dtype = dtype_id::bf16;
      d.out.rank = 1;
      d.out.dims[0] = std::int64_t(elements);

      for (int v = 0; v < variant_count; ++v) {
        if (!available[v]) continue;
        void* in = v == nccl_plain ? plain_in.get() : sym_in;
        void* out = v == nccl_plain ? plain_out.get() : sym_out;
        launch_context c;
        c.stream = s;
        c.node = &d;
        c.inputs[0] = in;
        c.input_desc[0] = d.out;
        c.input_count = 1;
        c.output = out;
        collective_context cc;
        cc.comm = comm;
        cc.ranks = n;
        if (v != nccl_plain) {
          cc.window = arena->window();
          cc.input_offset = arena->offset_of(in);
        }
        if (v == one_shot) cc.dev = dev->get();

        sh.sync.arrive_and_wait();
        graph_exec g = capture(s, [&] {
          switch (v) {
            case nccl_symmetric: runtime_ops::launch_all_reduce_nccl(c, cc); break;
            case one_shot: runtime_ops::launch_all_reduce_one_shot(c, cc); break;
            default:
              CTG_CHECK("bench", ncclAllReduce(in, out, elements, ncclBfloat16, ncclSum, comm, s));
          }
        });

        // Correctness: one replay on a poisoned output.
        CTG_CHECK("bench", cudaMemsetAsync(out, 0xff, bytes, s));
        CTG_CHECK("bench", cudaGraphLaunch(g.get(), s));
        CTG_CHECK("bench", cudaStreamSynchronize(s));
        CTG_CHECK("bench", cudaMemcpy(host.data(), out, bytes, cudaMemcpyDeviceToHost));
        sh.correct_at(rank, si, v) =
            std::all_of(host.begin(), host.begin() + std::ptrdiff_t(elements), [&](std::uint16_t x) { return x == expected; });

        for (int i = 0; i < warmup_replays; ++i) CTG_CHECK("bench", cudaGraphLaunch(g.get(), s));
        CTG_CHECK("bench", cudaStreamSynchronize(s));

        std::vector<double> per_op_us;
        for (int t = 0; t < trials; ++t) {
          sh.sync.arrive_and_wait();
          if (rank == 0) CTG_CHECK("bench", cudaEventRecord(start, s));
          for (int i = 0; i < replays; ++i) CTG_CHECK("bench", cudaGraphLaunch(g.get(), s));
          if (rank == 0) CTG_CHECK("bench", cudaEventRecord(stop, s));
          CTG_CHECK("bench", cudaStreamSynchronize(s));
          if (rank == 0) {
            float ms = 0;
            CTG_CHECK("bench", cudaEventElapsedTime(&ms, start, stop));
            per_op_us.push_back(double(ms) * 1000.0 / double(replays * ops_per_graph));
          }
        }
        if (rank == 0) {
          std::sort(per_op_us.begin(), per_op_us.end());
          sh.us[si][std::size_t(v)] = per_op_us[per_op_us.size() / 2];
        }
        sh.sync.arrive_and_wait();
        // g (the graph executable) is destroyed here, before the device comm and the window.
      }
    }

    CTG_CHECK("bench", cudaStreamSynchronize(s));
    sh.sync.arrive_and_wait();
    // Teardown, collective where NCCL's calls are: device comm, window (deregister, free),
    // cudaMalloc buffers, events, stream; then the communicator.
    dev.reset();
    arena.reset();
    plain_out = allocation();
    plain_in = allocation();
    if (rank == 0) {
      CTG_CHECK("bench", cudaEventDestroy(start));
      CTG_CHECK("bench", cudaEventDestroy(stop));
    }
  }
  CTG_CHECK("bench", ncclCommFinalize(comm));
  CTG_CHECK("bench", ncclCommDestroy(comm));
}

std::string quoted(const std::string& s) {
  std::string o = "\"";
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') o += '\\', o += ch;
    else if (static_cast<unsigned char>(ch) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", ch);
      o += b;
    } else o += ch;
  }
  return o + "\"";
}

std::string num(double x) {
  if (std::isnan(x)) return "null";
  char b[32];
  std::snprintf(b, sizeof b, "%.3f", x);
  return b;
}

}  // namespace arb

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    (void)cudaGetLastError();
    std::fprintf(stderr, "all_reduce_bench: no GPU: skipped\n");
    return 77;
  }
  try {
    using namespace arb;
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    cudaDeviceProp prop{};
    CTG_CHECK("bench", cudaGetDeviceProperties(&prop, 0));
    const std::string nccl_version = detail::nccl_version_string(nccl_runtime_version());
    std::fprintf(stderr, "all_reduce_bench: %d x %s, NCCL %s\n", devices, prop.name, nccl_version.c_str());

    shared sh(devices);
    std::vector<int> device_list(static_cast<std::size_t>(devices));
    for (int i = 0; i < devices; ++i) device_list[std::size_t(i)] = i;
    CTG_CHECK("bench", ncclCommInitAll(sh.comms.data(), devices, device_list.data()));

    std::vector<std::thread> threads;
    for (int r = 0; r < devices; ++r)
      threads.emplace_back([&sh, r] {
        try {
          rank_main(sh, r);
        } catch (const std::exception& e) {
          // The other ranks would wait for this one forever in their next collective.
          std::fprintf(stderr, "all_reduce_bench: rank %d: %s\n", r, e.what());
          std::fflush(stderr);
          std::_Exit(1);
        }
      });
    for (auto& t : threads) t.join();

    const std::string arena_error = shared::first_error(sh.arena_error);
    const std::string dev_error = shared::first_error(sh.dev_error);
    std::printf("{\"gpu\": %s, \"gpus\": %d, \"nccl\": %s, \"dtype\": \"bf16\", \"ops_per_graph\": %d, \"trials\": %d,\n",
                quoted(prop.name).c_str(), devices, quoted(nccl_version).c_str(), ops_per_graph, trials);
    std::printf(" \"statistic\": \"median over trials of CUDA-event time per all-reduce on rank 0, us\",\n");
    if (!arena_error.empty()) std::printf(" \"symmetric_error\": %s,\n", quoted(arena_error).c_str());
    if (!dev_error.empty()) std::printf(" \"one_shot_error\": %s,\n", quoted(dev_error).c_str());
    std::printf(" \"sizes\": [");
    for (std::size_t si = 0; si < sizes.size(); ++si) {
      bool all = true;
      std::string per_variant;
      for (int v = 0; v < variant_count; ++v) {
        const bool ran = !std::isnan(sh.us[si][std::size_t(v)]);
        bool ok = ran;
        for (int r = 0; r < devices && ran; ++r) ok = ok && sh.correct_at(r, si, v) != 0;
        if (ran) all = all && ok;
        per_variant += std::string(", \"") + variant_names[v] + "_correct\": " + (ran ? (ok ? "true" : "false") : "null");
      }
      std::printf("%s\n  {\"bytes\": %zu, \"elements\": %zu, \"graph_replays\": %d", si ? "," : "", sizes[si],
                  sizes[si] / sizeof(__nv_bfloat16), replays_for(sizes[si]));
      for (int v = 0; v < variant_count; ++v) std::printf(", \"%s_us\": %s", variant_names[v], num(sh.us[si][std::size_t(v)]).c_str());
      std::printf(", \"correct\": %s%s}", all ? "true" : "false", per_variant.c_str());
    }
    std::printf("]}\n");
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "all_reduce_bench: %s\n", e.what());
    return 1;
  }
}
