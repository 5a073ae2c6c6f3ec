// NCCL on one GPU: a one-rank communicator, the version check, a symmetric arena, a device
// communicator, and every collective launch (ncclAllReduce, the device-API one-shot all-reduce,
// ncclReduceScatter, ncclAllGather) run eagerly and replayed from a captured CUDA graph on
// f32, f16 and bf16 inputs placed in the symmetric window. With one rank each is a copy, so the
// output must equal the input bit for bit. Teardown runs in the order NCCL needs: graph
// executables, device communicator, window (deregister, free), communicator.
// Needs a GPU: the test binary's main exits with 77 (skipped) when there is none.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <doctest/doctest.h>
#include <nccl.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <ctgraph/runtime/allocation_counter.hpp>
#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/handles.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>
#include <ctgraph/runtime/nccl/all_reduce.cuh>
#include <ctgraph/runtime/nccl/device_comm.hpp>
#include <ctgraph/runtime/nccl/symmetric_arena.hpp>
#include <ctgraph/runtime/nccl/version.hpp>
#include <ctgraph/runtime/binding.hpp>

#include "gpu_util.hpp"

namespace nccl_test {
using namespace ctg;

//! A one-rank communicator on the current device, NVLink multicast off.
struct communicator {
  ncclComm_t comm = nullptr;
  communicator() {
    setenv("NCCL_NVLS_ENABLE", "0", 1);
    int device = 0;
    CTG_CHECK("test", cudaGetDevice(&device));
    CTG_CHECK("test", ncclCommInitAll(&comm, 1, &device));
  }
  communicator(const communicator&) = delete;
  communicator& operator=(const communicator&) = delete;
  ~communicator() {
    if (!comm) return;
    ncclCommFinalize(comm);
    ncclCommDestroy(comm);
  }
};

template <class T>
std::vector<T> random_values(std::size_t n, unsigned seed) {
  std::vector<T> v = test::random_values<T>(n, -4.f, 4.f, seed);
  if (n > 1) v[1] = T(-0.0f);  // a sum that starts from +0 would lose the sign
  return v;
}

node_desc make_node(std::string_view name, dtype_id t, std::int64_t out_elements) {
  node_desc d;
  d.name = name;
  d.out.dtype = t;
  d.out.rank = 1;
  d.out.dims[0] = out_elements;
  return d;
}

launch_context make_context(const node_desc& d, cudaStream_t s, const void* in, std::int64_t in_elements, void* out) {
  launch_context c;
  c.stream = s;
  c.node = &d;
  c.inputs[0] = in;
  c.input_desc[0] = d.out;
  c.input_desc[0].dims[0] = in_elements;
  c.input_count = 1;
  c.output = out;
  return c;
}

using launcher = void (*)(const launch_context&, const collective_context&);

//! Captures one launch on `s` into an executable.
graph_exec capture(cudaStream_t s, launcher launch, const launch_context& c, const collective_context& cc) {
  return instantiate_graph(ctg::capture(s, "test", [&] { launch(c, cc); }), "test");
}

using test::device_buffer;

template <class T>
bool same_bits(const std::vector<T>& a, const void* device, std::size_t n) {
  std::vector<T> b(n);
  CTG_CHECK("test", cudaMemcpy(b.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost));
  return std::memcmp(a.data(), b.data(), n * sizeof(T)) == 0;
}

//! Input: n elements at `offset` in the window. Runs `launch` eagerly, then from a captured
//! graph twice (the second time on new input, so the graph reads live memory), and checks that
//! the output equals the input each time. The graph is destroyed on return, before its caller
//! tears down the device communicator and the window.
template <class T>
void copy_case(launcher launch, std::string_view op, const symmetric_arena& arena, collective_context cc, cudaStream_t s,
               std::size_t offset, std::size_t n) {
  INFO(op, ", dtype ", name_of(dtype_of<T>()), ", ", n, " elements at window offset ", offset);
  REQUIRE(arena.contains(static_cast<std::byte*>(arena.get()) + offset, n * sizeof(T)));
  void* in = static_cast<std::byte*>(arena.get()) + offset;
  cc.input_offset = arena.offset_of(in);
  device_buffer out(n * sizeof(T));
  const node_desc d = make_node("collective", dtype_of<T>(), std::int64_t(n));
  const launch_context c = make_context(d, s, in, std::int64_t(n), out.p);

  auto h = random_values<T>(n, unsigned(n + offset));
  CTG_CHECK("test", cudaMemcpyAsync(in, h.data(), n * sizeof(T), cudaMemcpyHostToDevice, s));
  CTG_CHECK("test", cudaMemsetAsync(out.p, 0xff, n * sizeof(T), s));  // on s: a legacy-stream memset would race the non-blocking stream
  launch(c, cc);
  CTG_CHECK("test", cudaStreamSynchronize(s));
  CHECK(same_bits(h, out.p, n));

  graph_exec g = capture(s, launch, c, cc);
  for (unsigned round = 0; round < 2; ++round) {
    h = random_values<T>(n, 1000 + round);
    // On s: a pageable cudaMemcpy may return before its DMA lands, and s does not wait for it.
    CTG_CHECK("test", cudaMemcpyAsync(in, h.data(), n * sizeof(T), cudaMemcpyHostToDevice, s));
    CTG_CHECK("test", cudaMemsetAsync(out.p, 0xff, n * sizeof(T), s));  // on s: a legacy-stream memset would race the non-blocking stream
    CTG_CHECK("test", cudaGraphLaunch(g.get(), s));
    CTG_CHECK("test", cudaStreamSynchronize(s));
    CHECK(same_bits(h, out.p, n));
  }
}

TEST_CASE("nccl: errors carry NCCL's message and the call") {
  try {
    CTG_CHECK("some node", ncclCommCount(nullptr, nullptr));
    FAIL("ncclCommCount(nullptr, nullptr) did not fail");
  } catch (const runtime_error& e) {
    CHECK(e.node() == "some node");
    CHECK(e.call().find("ncclCommCount") != std::string::npos);
    CHECK(std::string(e.what()).find(ncclGetErrorString(ncclInvalidArgument)) != std::string::npos);
  }
}

TEST_CASE("nccl: the version check reads the library loaded at run time") {
  CHECK(nccl_runtime_version() >= NCCL_VERSION(2, 28, 9));
  CHECK_NOTHROW(require_nccl_symmetric("symmetric memory"));
  CHECK_NOTHROW(require_nccl(2, 8, 4, "an old feature"));
  try {
    require_nccl(99, 0, 0, "a future feature");
    FAIL("require_nccl(99, 0, 0) passed");
  } catch (const runtime_error& e) {
    CHECK(e.node() == "instantiate");
    CHECK(e.call() == "ncclGetVersion");
    CHECK(std::string(e.what()).find("needs NCCL 99.0.0 or newer; found " + detail::nccl_version_string(nccl_runtime_version())) !=
          std::string::npos);
  }
}

TEST_CASE("nccl: one rank, symmetric window, device communicator, all collectives eager and captured") {
  communicator world;  // destroyed last
  owned_stream stream;
  {
    cudaStream_t s = nullptr;
    CTG_CHECK("test", cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    stream = owned_stream(s);
  }
  const long long before = allocation_count();
  allocation_counter seen;
  const std::size_t granularity = symmetric_granularity();
  MESSAGE("allocation granularity of device memory: " << granularity << " bytes");
  CHECK(granularity % NCCL_WIN_REQUIRED_ALIGNMENT == 0);
  symmetric_arena arena(world.comm, (std::size_t{3} << 20) + 1);  // rounds up: 4 MiB at a 2 MiB granularity
  CHECK(allocation_count() == before + 1);
  // ncclMemAlloc reaches the driver (cuMemCreate) through entry points NCCL looks up itself;
  // the counter sees it there.
  MESSAGE("ncclMemAlloc made these allocation calls: " << seen.calls());
  CHECK(seen.count() >= 1);
  CHECK(arena.bytes() == ((std::size_t{3} << 20) + granularity) / granularity * granularity);
  CHECK(reinterpret_cast<std::uintptr_t>(arena.get()) % NCCL_WIN_REQUIRED_ALIGNMENT == 0);
  REQUIRE(arena.window() != nullptr);

  {  // moves keep one owner; the moved-from arena owns nothing
    symmetric_arena moved = std::move(arena);
    CHECK(arena.get() == nullptr);
    CHECK(arena.window() == nullptr);
    arena = std::move(moved);
    CHECK(moved.get() == nullptr);
  }
  REQUIRE(arena.get() != nullptr);

  device_comm dev(world.comm, 8);
  REQUIRE(dev);
  CHECK(dev.lsa_barriers() == 8);
  CHECK(dev->nRanks == 1);
  CHECK(dev->lsaSize == 1);

  collective_context cc;
  cc.comm = world.comm;
  cc.ranks = 1;
  cc.window = arena.window();
  cc.dev = dev.get();
  cudaStream_t s = stream.get();

  constexpr std::size_t mib = std::size_t{1} << 20;
  SUBCASE("ncclAllReduce") {
    copy_case<float>(runtime_ops::launch_all_reduce_nccl, "all_reduce", arena, cc, s, 0, (1 << 18) + 3);
    copy_case<__nv_bfloat16>(runtime_ops::launch_all_reduce_nccl, "all_reduce", arena, cc, s, 2 * mib, 100003);
    copy_case<__half>(runtime_ops::launch_all_reduce_nccl, "all_reduce", arena, cc, s, 3 * mib, 4096);
  }
  SUBCASE("one-shot all-reduce on the device API") {
    // 16-byte packs (aligned), and element by element (offset by one bf16); more elements than
    // the 8 CTAs x 512 threads cover in one pass.
    copy_case<float>(runtime_ops::launch_all_reduce_one_shot, "all_reduce", arena, cc, s, 0, (1 << 18) + 3);
    copy_case<__nv_bfloat16>(runtime_ops::launch_all_reduce_one_shot, "all_reduce", arena, cc, s, 2 * mib, 100003);
    copy_case<__nv_bfloat16>(runtime_ops::launch_all_reduce_one_shot, "all_reduce", arena, cc, s, 2 * mib + 2, 77777);
    copy_case<__half>(runtime_ops::launch_all_reduce_one_shot, "all_reduce", arena, cc, s, 3 * mib, 1);
  }
  SUBCASE("ncclReduceScatter and ncclAllGather") {
    copy_case<float>(runtime_ops::launch_reduce_scatter_nccl, "reduce_scatter", arena, cc, s, 0, 65536);
    copy_case<__nv_bfloat16>(runtime_ops::launch_reduce_scatter_nccl, "reduce_scatter", arena, cc, s, mib, 1001);
    copy_case<float>(runtime_ops::launch_all_gather_nccl, "all_gather", arena, cc, s, 0, 65536);
    copy_case<__nv_bfloat16>(runtime_ops::launch_all_gather_nccl, "all_gather", arena, cc, s, mib, 1001);
  }
  SUBCASE("misuse is reported, naming the node") {
    device_buffer out(16);
    const node_desc d = make_node("ar", dtype_id::i32, 4);
    const launch_context c = make_context(d, s, arena.get(), 4, out.p);
    CHECK_THROWS_AS(runtime_ops::launch_all_reduce_nccl(c, cc), runtime_error);
    CHECK_THROWS_AS(runtime_ops::launch_all_reduce_one_shot(c, cc), runtime_error);
    const node_desc f = make_node("ar", dtype_id::f32, 4);
    collective_context no_dev = cc;
    no_dev.dev = nullptr;
    CHECK_THROWS_AS(runtime_ops::launch_all_reduce_one_shot(make_context(f, s, arena.get(), 4, out.p), no_dev), runtime_error);
    CHECK_THROWS_AS(arena.offset_of(out.p), runtime_error);
  }
  CTG_CHECK("test", cudaStreamSynchronize(s));
  // Teardown in reverse order of declaration: device communicator, window (deregister, free),
  // stream, communicator. Each case's graph executable was destroyed inside copy_case.
}

}  // namespace nccl_test
