// State tensors on a GPU: a captured decode step writes its row into a cache at the position held
// in device memory and advances it, so a second run sees the first run's write one row further
// on; the host refuses a step past the cache's end before launching anything and the executor
// stays usable (set_position, reset_state); a prefill and a decode executor share one bound
// cache and position; a position the host cannot follow (a graph input) is checked on the
// device; replays allocate nothing.
#include <ctgraph/runtime.hpp>
#include <ctgraph/runtime/allocation_counter.hpp>

#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "gpu_util.hpp"

namespace state_gpu_test {
using namespace ctg;
using test::device_vector;

constexpr std::int64_t length = 8, heads = 2, head_dim = 64, width = heads * head_dim;
using cache = state<"cache", f32, shape<length, heads, head_dim>>;
using pos = state<"pos", i32, shape<1>>;
using x = input<"x", f32, shape<1, width>>;
struct rows : node<"rows", ops::reshape<shape<1, heads, head_dim>>, x> {};
struct write : node<"write", ops::cache_write<0>, cache, pos, rows> {};
struct whole : node<"whole", ops::reshape<shape<length, width>>, write> {};
struct seen : node<"seen", ops::scale<1, 1>, whole> {};  // the cache after this run's write, copied into the arena
struct next : node<"next", ops::advance<1>, pos, seen> {};
using step = graph<seen, next>;
constexpr auto step_plan = make_plan<step>();
static_assert(step_plan.partition_count() == 1 && step_plan.state_count() == 2 && !check_plan(step_plan));
static_assert(step_plan.arena_bytes(memory_class::device) == length * width * 4);  // seen only: no state in the arena

std::vector<float> row_of(float v) { return std::vector<float>(std::size_t(width), v); }
template <class T>
std::vector<T> download(const void* p, std::size_t n) {
  std::vector<T> h(n);
  REQUIRE(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost) == cudaSuccess);
  return h;
}
//! Row r of a [length, width] cache, as floats.
std::vector<float> cache_row(const std::vector<float>& c, std::int64_t r) {
  return std::vector<float>(c.begin() + r * width, c.begin() + (r + 1) * width);
}

TEST_CASE("state: a second run sees the first run's write, one row further on") {
  device_vector<float> dx{std::size_t(width)};
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<step>(st, bindings(bind<x>(dx.ptr)));  // the state is the executor's
    CHECK(ex.position() == 0);
    CHECK(ex.data("write") == ex.data("cache"));  // a write's output is the state itself
    CHECK(ex.data("next") == ex.data("pos"));
    for (float v : download<float>(ex.data("cache"), std::size_t(length * width))) REQUIRE(v == 0.f);  // zero-filled
    // One captured graph: the write, the copy and the advance, no memset or allocation.
    const test::captured_nodes nodes = test::nodes_of(ex.captured_graph(0));
    CHECK(nodes.kernels == 3);
    CHECK(nodes.mem_allocs + nodes.memsets + nodes.memcpys == 0);

    const std::vector<float> a = test::random_floats(std::size_t(width), 1), b = test::random_floats(std::size_t(width), 2);
    dx.upload(a);
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    dx.upload(b);
    ex.run();  // the same graph: the position it reads on the device is now 1
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    const std::vector<float> c = download<float>(ex.data("cache"), std::size_t(length * width));
    CHECK(cache_row(c, 0) == a);
    CHECK(cache_row(c, 1) == b);
    for (std::int64_t r = 2; r < length; ++r) CHECK(cache_row(c, r) == row_of(0.f));
    CHECK(download<std::int32_t>(ex.data("pos"), 1)[0] == 2);
    CHECK(ex.position() == 2);
    CHECK(download<float>(ex.data("seen"), std::size_t(length * width)) == c);  // read after the write
  }
  cudaStreamDestroy(st);
}

TEST_CASE("state: the host refuses a step past the cache's end, and the executor stays usable") {
  device_vector<float> dx{std::size_t(width)};
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<step>(st, {bind("x", dx.ptr, dx.n)});
    dx.upload(row_of(1.f));
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    allocation_counter replays;  // after a first run, as in executor.cu
    for (std::int64_t r = 1; r < length; ++r) {
      dx.upload(row_of(float(r + 1)));
      ex.run();
      REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    }
    INFO("allocation calls during the replays: " << replays.calls());
    CHECK(replays.count() == 0);  // runs allocate nothing, state or not
    CHECK(ex.position() == length);
    dx.upload(row_of(99.f));
    CHECK_THROWS_WITH_AS(ex.run(), doctest::Contains("failed in node 'write'"), runtime_error);
    CHECK_THROWS_WITH_AS(ex.run(), doctest::Contains("1 row(s) from position 8 of 'cache', which holds 8"), runtime_error);
    CHECK_THROWS_WITH_AS(ex.run(), doctest::Contains("nothing was launched"), runtime_error);
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    std::vector<float> c = download<float>(ex.data("cache"), std::size_t(length * width));
    for (std::int64_t r = 0; r < length; ++r) CHECK(cache_row(c, r) == row_of(float(r + 1)));  // untouched
    CHECK(download<std::int32_t>(ex.data("pos"), 1)[0] == length);
    CHECK(ex.position() == length);
    ex.check();  // the device never saw a position out of range

    // Usable: go back to row 3 and write it again.
    ex.set_position(3);
    CHECK(ex.position() == 3);
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    c = download<float>(ex.data("cache"), std::size_t(length * width));
    CHECK(cache_row(c, 3) == row_of(99.f));
    CHECK(cache_row(c, 2) == row_of(3.f));
    CHECK(cache_row(c, 4) == row_of(5.f));
    CHECK(download<std::int32_t>(ex.data("pos"), 1)[0] == 4);
    CHECK(ex.position() == 4);

    // reset_state: every state zero, the position 0.
    ex.reset_state();
    CHECK(ex.position() == 0);
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    for (float v : download<float>(ex.data("cache"), std::size_t(length * width))) REQUIRE(v == 0.f);
    CHECK(download<std::int32_t>(ex.data("pos"), 1)[0] == 0);
    dx.upload(row_of(7.f));
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    c = download<float>(ex.data("cache"), std::size_t(length * width));
    CHECK(cache_row(c, 0) == row_of(7.f));
    CHECK(cache_row(c, 1) == row_of(0.f));
    CHECK(ex.position() == 1);
    CHECK_THROWS_WITH_AS(ex.position("cache"), doctest::Contains("no position held in state has this name"), runtime_error);
    CHECK_THROWS_AS(ex.set_position(std::int64_t(1) << 40), runtime_error);  // not an i32
    CHECK(ex.position("pos") == 1);
  }
  cudaStreamDestroy(st);
}

// A prefill step: 4 rows at once, then the position moves by 4.
constexpr std::int64_t prompt = 4;
using prompt_rows = input<"prompt_rows", f32, shape<prompt, heads, head_dim>>;
struct fill : node<"fill", ops::cache_write<0>, cache, pos, prompt_rows> {};
struct moved : node<"moved", ops::advance<prompt>, pos, fill> {};
using prefill = graph<moved>;

TEST_CASE("state: a prefill and a decode executor share one bound cache and position") {
  const std::size_t cells = std::size_t(length * width);
  device_vector<float> dcache(std::vector<float>(cells, -1.f)), dprompt(test::random_floats(std::size_t(prompt * width), 3)), dx{std::size_t(width)};
  device_vector<std::int32_t> dpos(std::vector<std::int32_t>{0});
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto pre = instantiate<prefill>(st, {bind("prompt_rows", dprompt.ptr, dprompt.n), bind("cache", dcache.ptr, cells), bind("pos", dpos.ptr, 1)});
    auto dec = instantiate<step>(st, bindings(bind<x>(dx.ptr), bind<cache>(dcache.ptr), bind<pos>(dpos.ptr)));
    CHECK(pre.data("cache") == dcache.ptr);
    CHECK(dec.data("cache") == dcache.ptr);
    CHECK(download<float>(dcache.ptr, 1)[0] == -1.f);  // bound state is the user's: not zero-filled
    pre.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(pre.position() == prompt);
    CHECK(dec.position() == 0);  // it follows its own runs: told below
    dec.sync_position();
    CHECK(dec.position() == prompt);
    const std::vector<float> r = test::random_floats(std::size_t(width), 4);
    dx.upload(r);
    dec.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    const std::vector<float> c = download<float>(dcache.ptr, cells), p = dprompt.download();
    CHECK(std::vector<float>(c.begin(), c.begin() + prompt * width) == p);
    CHECK(cache_row(c, prompt) == r);
    for (std::int64_t row = prompt + 1; row < length; ++row) CHECK(cache_row(c, row) == row_of(-1.f));
    CHECK(dpos.download()[0] == prompt + 1);
    // The prefill executor, told where the position is, refuses a prompt that no longer fits.
    pre.sync_position();
    CHECK(pre.position() == prompt + 1);
    CHECK_THROWS_WITH_AS(pre.run(), doctest::Contains("4 row(s) from position 5 of 'cache'"), runtime_error);
    // reset_state zero-fills bound state too.
    dec.reset_state();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    for (float v : dcache.download()) REQUIRE(v == 0.f);
    CHECK(dpos.download()[0] == 0);
    // Rebinding the cache: the next write goes to the new one, at the position followed.
    device_vector<float> other(std::vector<float>(cells, 0.f));
    dec.rebind(bind("cache", other.ptr, cells));
    dec.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(cache_row(other.download(), 0) == r);
    CHECK(dec.position() == 1);
  }
  cudaStreamDestroy(st);
}

// Writes along a later dimension ([kv heads, length, head dim]), several rows at once, bf16, an
// i64 position; and rows of 12 bytes (no 16-byte moves).
using heads_cache = state<"heads_cache", bf16, shape<2, 8, 64>>;
using at64 = state<"at64", i64, shape<1>>;
using chunk = input<"chunk", bf16, shape<2, 3, 64>>;
using narrow = state<"narrow", f32, shape<10, 3>>;
using narrow_row = input<"narrow_row", f32, shape<1, 3>>;
struct put_heads : node<"put_heads", ops::cache_write<1>, heads_cache, at64, chunk> {};
struct put_narrow : node<"put_narrow", ops::cache_write<-2>, narrow, at64, narrow_row> {};
struct step3 : node<"step3", ops::advance<3>, at64, put_heads, put_narrow> {};

TEST_CASE("state: writes along a later dimension, several rows, an i64 position, narrow rows") {
  const auto h0 = test::random_values<__nv_bfloat16>(2 * 3 * 64, -1, 1, 5), h1 = test::random_values<__nv_bfloat16>(2 * 3 * 64, -1, 1, 6);
  device_vector<__nv_bfloat16> dchunk(h0);
  device_vector<float> dnarrow(std::vector<float>{1.f, 2.f, 3.f});
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<graph<step3>>(st, bindings(bind<chunk>(dchunk.ptr), bind<narrow_row>(dnarrow.ptr)));
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    dchunk.upload(h1);
    dnarrow.upload({4.f, 5.f, 6.f});
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(ex.position() == 6);
    CHECK(download<std::int64_t>(ex.data("at64"), 1)[0] == 6);
    const auto c = download<__nv_bfloat16>(ex.data("heads_cache"), 2 * 8 * 64);
    int bad = 0;
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < 8; ++t)
        for (int i = 0; i < 64; ++i) {
          const float got = test::host_float(c[std::size_t((h * 8 + t) * 64 + i)]);
          const float want = t < 3 ? test::host_float(h0[std::size_t((h * 3 + t) * 64 + i)])
                             : t < 6 ? test::host_float(h1[std::size_t((h * 3 + t - 3) * 64 + i)])
                                     : 0.f;
          bad += got != want;
        }
    CHECK(bad == 0);
    CHECK(download<float>(ex.data("narrow"), 30) ==
          std::vector<float>{1, 2, 3, 0, 0, 0, 0, 0, 0, 4, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0});
    // 6 + 3 rows do not fit in 8: refused at the first write of the run, in schedule order.
    CHECK_THROWS_WITH_AS(ex.run(), doctest::Contains("3 row(s) from position 6 of 'heads_cache', which holds 8"), runtime_error);
    CHECK(ex.position() == 6);
    ex.set_position(7);  // the heads cache cannot take 3 rows at 7 either; the narrow one could
    CHECK_THROWS_WITH_AS(ex.run(), doctest::Contains("failed in node 'put_heads'"), runtime_error);
    ex.set_position(5);
    ex.run();
    REQUIRE(cudaStreamSynchronize(st) == cudaSuccess);
    CHECK(ex.position() == 8);
    CHECK(download<float>(ex.data("narrow"), 30)[15] == 4.f);  // row 5
  }
  cudaStreamDestroy(st);
}

// A position given by the user each run (a graph input): the host cannot follow it, the device
// checks it.
using at = input<"at", i32, shape<1>>;
struct put : node<"put", ops::cache_write<0>, cache, at, rows> {};
struct put_seen : node<"put_seen", ops::scale<1, 1>, node<"put_whole", ops::reshape<shape<length, width>>, put>> {};

TEST_CASE("state: a position the host cannot follow is checked on the device") {
  device_vector<float> dx(row_of(5.f));
  device_vector<std::int32_t> dat(std::vector<std::int32_t>{100});
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<graph<put_seen>>(st, bindings(bind<x>(dx.ptr), bind<at>(dat.ptr)));
    CHECK_THROWS_WITH_AS(ex.position(), doctest::Contains("holds no position in state"), runtime_error);
    ex.run();  // not refused: the host cannot know the position
    CHECK_THROWS_WITH_AS(ex.check(), doctest::Contains("position 100 is outside the state"), runtime_error);
    for (float v : download<float>(ex.data("cache"), std::size_t(length * width))) REQUIRE(v == 0.f);  // nothing written
    ex.check();  // reported once, then cleared
    dat.upload({-1});
    ex.run();
    CHECK_THROWS_WITH_AS(ex.check(), doctest::Contains("position -1 is outside the state"), runtime_error);
    dat.upload({7});
    ex.run();
    ex.check();
    CHECK(cache_row(download<float>(ex.data("cache"), std::size_t(length * width)), 7) == row_of(5.f));
  }
  cudaStreamDestroy(st);
}

}  // namespace state_gpu_test

// Greedy decoding on the device: a step reads its token from a history held in state at the
// position (cache_read), picks the next one (argmax of its logits row) and writes it one further
// on (cache_write<0, 1>), then advances: run after run, with no trip to the host, the history
// follows the table's chain. The table row of token i peaks at (3 i + 1) mod V.
namespace greedy_gpu_test {
using namespace ctg;
constexpr std::int64_t vocab = 11, history = 8;
using tokens = state<"tokens", i32, shape<history>>;
using pos = state<"pos", i32, shape<1>>;
using table = parameter<"table", f32, shape<vocab, vocab>>;
struct id : node<"id", ops::cache_read<0, 1>, tokens, pos> {};
struct logits : node<"logits", ops::embedding, id, table> {};
struct choice : node<"choice", ops::argmax, logits> {};
struct put : node<"put", ops::cache_write<0, 1>, tokens, pos, choice> {};
struct next : node<"next", ops::advance<1>, pos, put> {};
using step = graph<logits, next>;
static_assert(make_plan<step>().partition_count() == 1 && !check_plan(make_plan<step>()));

TEST_CASE("state: greedy decoding on the device: a token read at the position, argmax, written one further on") {
  std::vector<float> t(std::size_t(vocab * vocab));
  for (std::int64_t i = 0; i < vocab; ++i)
    for (std::int64_t j = 0; j < vocab; ++j) t[std::size_t(i * vocab + j)] = j == (3 * i + 1) % vocab ? 2.f : float(j % 3) * 0.5f;
  test::device_vector<float> dt(t);
  cudaStream_t st;
  REQUIRE(cudaStreamCreate(&st) == cudaSuccess);
  {
    auto ex = instantiate<step>(st, bindings(bind<table>(dt.ptr)));
    const std::int32_t first = 4;
    REQUIRE(cudaMemcpy(ex.data("tokens"), &first, 4, cudaMemcpyHostToDevice) == cudaSuccess);
    for (int k = 0; k < history - 1; ++k) ex.run();
    ex.check();
    std::vector<std::int32_t> h(static_cast<std::size_t>(history));
    REQUIRE(cudaMemcpy(h.data(), ex.data("tokens"), h.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
    std::int32_t want = first;
    for (std::int64_t i = 0; i < history; ++i, want = std::int32_t((3 * want + 1) % vocab)) CHECK_MESSAGE(h[std::size_t(i)] == want, "token ", i);
    CHECK(ex.position() == history - 1);
    // The next step would write past the history: refused before launching, the history kept.
    CHECK_THROWS_WITH_AS(ex.run(), doctest::Contains("2 row(s) from position 7 of 'tokens', which holds 8"), runtime_error);
    ex.set_position(2);
    ex.run();
    ex.check();
    CHECK(ex.position() == 3);
  }
  cudaStreamDestroy(st);
}
}  // namespace greedy_gpu_test
