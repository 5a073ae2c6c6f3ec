// Collectives through the executor, on however many ranks CTG_RANKS asks for (1 by default; the
// multi_gpu test runs all GPUs): both all_reduce algorithms inside captured graphs, the inserted
// DMA copy for a graph input, identical bits on every rank, and bad communicators.
#include <ctgraph/runtime.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <mutex>
#include <string>

#include "gpu_util.hpp"
#include "ranks.hpp"

namespace collectives_test {
using namespace ctg;
using test::device_vector;

constexpr std::int64_t m = 16, k = 256;
using x = input<"x", f32, shape<m, k>>;
using w = parameter<"w", f32, shape<k, k>>;
struct h0 : node<"h0", ops::matmul, x, w> {};
struct y0 : node<"y0", ops::all_reduce, h0> {};
struct h1 : node<"h1", ops::matmul, y0, w> {};
struct y1 : node<"y1", ops::all_reduce, h1> {};
using tp = graph<y1>;
constexpr auto tp_plan = make_plan<tp>();
static_assert(tp_plan.memory_of<h0>() == memory_class::symmetric && tp_plan.copy_count() == 0);

std::vector<float> host_matmul(const std::vector<float>& A, const std::vector<float>& B) { return test::host_matmul(A, B, m, k, k); }

TEST_CASE("collectives: matmul -> all_reduce on every rank, both algorithms, captured") {
  const int ranks = test::ranks_to_use();
  REQUIRE(ranks >= 1);
  const auto hx = test::random_floats(std::size_t(m * k), 11), hw = test::random_floats(std::size_t(k * k), 12, -0.1f, 0.1f);
  std::vector<float> want = host_matmul(hx, hw);
  for (float& v : want) v *= float(ranks);
  want = host_matmul(want, hw);
  for (float& v : want) v *= float(ranks);
  for (auto algorithm : {communicator::all_reduce_algorithm::nccl, communicator::all_reduce_algorithm::one_shot}) {
    CAPTURE(int(algorithm));
    std::vector<std::vector<float>> results(static_cast<std::size_t>(ranks));
    test::run_ranks(ranks, [&](int rank, ncclComm_t comm) {
      device_vector<float> dx(hx), dw(hw);
      cudaStream_t st;
      CTG_CHECK("test", cudaStreamCreate(&st));
      {
        auto ex = instantiate<tp>(st, {bind("x", dx.ptr, dx.n), bind("w", dw.ptr, dw.n)},
                                  communicator{comm, rank, algorithm});
        for (int i = 0; i < 10; ++i) ex.run();
        CTG_CHECK("test", cudaStreamSynchronize(st));
        std::vector<float> out(std::size_t(m * k));
        CTG_CHECK("test", cudaMemcpy(out.data(), ex.data("y1"), out.size() * 4, cudaMemcpyDeviceToHost));
        results[std::size_t(rank)] = out;
      }
      cudaStreamDestroy(st);
    });
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, std::fabs(double(results[0][i]) - want[i]) / (1 + std::fabs(double(want[i]))));
    CHECK(worst < 1e-4);
    for (int r = 1; r < ranks; ++r) CHECK(results[std::size_t(r)] == results[0]);  // identical bits
  }
}

// A graph input straight into a collective: the plan inserts one DMA copy into the window.
struct direct : node<"direct", ops::all_reduce, x> {};
TEST_CASE("collectives: the inserted copy of a graph input runs as a memcpy node") {
  constexpr auto p = make_plan<graph<direct>>();
  static_assert(p.copy_count() == 1);
  const int ranks = test::ranks_to_use();
  const auto hx = test::random_floats(std::size_t(m * k), 13);
  std::vector<std::vector<float>> results(static_cast<std::size_t>(ranks));
  test::run_ranks(ranks, [&](int rank, ncclComm_t comm) {
    device_vector<float> dx(hx);
    auto ex = instantiate<graph<direct>>(nullptr, {bind("x", dx.ptr, dx.n)}, communicator{comm});
    // What was captured: the copy into the window is one memcpy node reading x (a DMA copy, not
    // a copy kernel); the all_reduce is the graph's only other work.
    const test::copy_check copies = test::captured_copies(ex);
    const test::captured_nodes nodes = test::nodes_of(ex.captured_graph(0));
    CHECK(copies.planned == 1);
    CHECK(copies.matched == 1);
    CHECK(copies.memcpy_nodes == 1);
    CHECK(nodes.copies.at(0).src == dx.ptr);
    CHECK(nodes.kernels >= 1);  // the one-shot all_reduce (16 KiB: automatic picks it)
    CHECK(nodes.mem_allocs == 0);
    ex.run();
    CTG_CHECK("test", cudaDeviceSynchronize());
    std::vector<float> out(hx.size());
    CTG_CHECK("test", cudaMemcpy(out.data(), ex.data("direct"), out.size() * 4, cudaMemcpyDeviceToHost));
    results[std::size_t(rank)] = out;
  });
  int bad = 0;
  for (std::size_t i = 0; i < hx.size(); ++i) bad += results[0][i] != hx[i] * float(ranks);
  CHECK(bad == 0);
}

struct scatter : node<"scatter", ops::reduce_scatter<16>, h0> {};
TEST_CASE("collectives: bad communicators are named errors") {
  device_vector<float> dx(std::size_t(m * k)), dw(std::size_t(k * k));
  auto message = [&](auto&& f) {
    try {
      f();
    } catch (const runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("no exception");
  };
  CHECK(message([&] { instantiate<tp>(nullptr, {bind("x", dx.ptr, dx.n), bind("w", dw.ptr, dw.n)}); })
            .find("pass a ctg::communicator") != std::string::npos);
  test::run_ranks(1, [&](int, ncclComm_t comm) {
    CHECK(message([&] { instantiate<tp>(nullptr, {bind("x", dx.ptr, dx.n), bind("w", dw.ptr, dw.n)}, communicator{comm, 5}); })
              .find("rank 5 was given, but the communicator is rank 0") != std::string::npos);
    CHECK(message([&] { instantiate<graph<scatter>>(nullptr, {bind("x", dx.ptr, dx.n), bind("w", dw.ptr, dw.n)}, communicator{comm}); })
              .find("planned for 16 ranks, but the communicator has 1") != std::string::npos);
  });
}

// The launch environment on one GPU: torchrun's variables for one rank, then the id in hex; the
// communicator runs the matmul -> all_reduce plan (one rank: each all_reduce a copy).
TEST_CASE("launch: a one-rank communicator from the launch environment runs the plan") {
  setenv("NCCL_NVLS_ENABLE", "0", 1);
  const auto hx = test::random_floats(std::size_t(m * k), 14), hw = test::random_floats(std::size_t(k * k), 15, -0.1f, 0.1f);
  const std::vector<float> want = host_matmul(host_matmul(hx, hw), hw);
  test::scoped_env rank("RANK", "0"), size("WORLD_SIZE", "1"), local("LOCAL_RANK", "0");
  launched_communicator comm;
  CHECK(comm.environment().launcher == "torchrun");
  CHECK((comm.rank() == 0 && comm.world_size() == 1 && comm.device() == 0));
  int count = 0, user_rank = -1;
  CTG_CHECK("test", ncclCommCount(comm.get(), &count));
  CTG_CHECK("test", ncclCommUserRank(comm.get(), &user_rank));
  CHECK((count == 1 && user_rank == 0));
  {
    device_vector<float> dx(hx), dw(hw);
    auto ex = instantiate<tp>(nullptr, {bind("x", dx.ptr, dx.n), bind("w", dw.ptr, dw.n)}, comm.ref());
    ex.run();
    CTG_CHECK("test", cudaDeviceSynchronize());
    std::vector<float> out(want.size());
    CTG_CHECK("test", cudaMemcpy(out.data(), ex.data("y1"), out.size() * 4, cudaMemcpyDeviceToHost));
    double worst = 0;
    for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::fabs(double(out[i]) - want[i]) / (1 + std::fabs(double(want[i]))));
    CHECK(worst < 1e-4);
  }
  // Every rank takes the id from CTGRAPH_NCCL_ID; a move hands the communicator over.
  ncclUniqueId id{};
  CTG_CHECK("test", ncclGetUniqueId(&id));
  test::scoped_env hex("CTGRAPH_NCCL_ID", nccl_id_hex(id).c_str());
  launched_communicator from_hex;
  launched_communicator moved = std::move(from_hex);
  CHECK(from_hex.get() == nullptr);
  CTG_CHECK("test", ncclCommCount(moved.get(), &count));
  CHECK(count == 1);
}
}  // namespace collectives_test
