// The launch environment without a GPU: torchrun's and Open MPI's variables read into a rank, a
// world size and a local rank (one rank where neither is set); every malformed environment is a
// runtime_error naming the variable; the NCCL unique id through hex and through the file rank 0
// publishes (written under a temporary name, renamed; a reader times out, or refuses a file of
// another world size, with the file's name). The GPU half (a one-rank communicator from the
// environment) is in nccl.cu.
#include <ctgraph/runtime/nccl/launch.hpp>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>

namespace launch_test {
using namespace ctg;

//! An environment of its own: the variables in `vars`, nothing else.
environment_lookup only(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

//! What reading `vars` throws, or "" when it reads.
std::string failure(std::map<std::string, std::string> vars) {
  try {
    read_launch_environment(only(std::move(vars)));
  } catch (const runtime_error& e) {
    CHECK(e.node() == "launch");
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST_CASE("launch: torchrun's and Open MPI's variables, else one rank") {
  const launch_environment none = read_launch_environment(only({}));
  CHECK((none.rank == 0 && none.world_size == 1 && none.local_rank == 0 && none.launcher == "none"));

  const launch_environment t = read_launch_environment(only({{"RANK", "3"}, {"WORLD_SIZE", "4"}, {"LOCAL_RANK", "1"}}));
  CHECK((t.rank == 3 && t.world_size == 4 && t.local_rank == 1 && t.launcher == "torchrun"));

  const launch_environment m = read_launch_environment(
      only({{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}}));
  CHECK((m.rank == 1 && m.world_size == 2 && m.local_rank == 1 && m.launcher == "mpirun"));

  // Without a local rank: one node, the local rank is the rank.
  CHECK(read_launch_environment(only({{"RANK", "1"}, {"WORLD_SIZE", "2"}})).local_rank == 1);
  // torchrun's variables come first where both launchers' are set (torchrun under mpirun).
  CHECK(read_launch_environment(only({{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}}))
            .launcher == "torchrun");
}

TEST_CASE("launch: a malformed environment names the variable and the fix") {
  CHECK(contains(failure({{"RANK", "0"}}), "RANK is set but WORLD_SIZE is not. torchrun sets both"));
  CHECK(contains(failure({{"OMPI_COMM_WORLD_SIZE", "2"}}), "OMPI_COMM_WORLD_SIZE is set but OMPI_COMM_WORLD_RANK is not. mpirun sets both"));
  CHECK(contains(failure({{"RANK", "one"}, {"WORLD_SIZE", "2"}}), "RANK is 'one', not a whole number of at least 0"));
  CHECK(contains(failure({{"RANK", "0"}, {"WORLD_SIZE", "0"}}), "WORLD_SIZE is '0', not a whole number of at least 1"));
  CHECK(contains(failure({{"RANK", "1x"}, {"WORLD_SIZE", "2"}}), "RANK is '1x'"));
  CHECK(contains(failure({{"RANK", "2"}, {"WORLD_SIZE", "2"}}), "RANK is 2, but WORLD_SIZE is 2: a rank is below the world size"));
  CHECK(contains(failure({{"RANK", "0"}, {"WORLD_SIZE", "2"}, {"LOCAL_RANK", "1"}}), "LOCAL_RANK is 1, above RANK (0)"));
  CHECK(contains(failure({{"RANK", "-1"}, {"WORLD_SIZE", "2"}}), "reading the launcher environment failed in node 'launch'"));
}

TEST_CASE("launch: two ranks without an id to share fail before any GPU call") {
  try {
    launched_communicator comm(read_launch_environment(only({{"RANK", "1"}, {"WORLD_SIZE", "2"}})), {}, only({}));
    FAIL("no error");
  } catch (const runtime_error& e) {
    CHECK(e.call() == "ncclGetUniqueId");
    CHECK(contains(e.what(), "2 ranks (torchrun) need one NCCL unique id: set CTGRAPH_NCCL_ID_FILE"));
  }
}

ncclUniqueId some_id(unsigned seed) {
  ncclUniqueId id{};
  for (std::size_t i = 0; i < sizeof(id.internal); ++i) id.internal[i] = static_cast<char>((i * 37 + seed) & 0xff);
  return id;
}
bool same(const ncclUniqueId& a, const ncclUniqueId& b) { return std::equal(std::begin(a.internal), std::end(a.internal), std::begin(b.internal)); }

TEST_CASE("launch: the NCCL unique id through hex") {
  const ncclUniqueId id = some_id(5);
  const std::string hex = nccl_id_hex(id);
  CHECK(hex.size() == 256);
  CHECK(same(nccl_id_from_hex(hex, "CTGRAPH_NCCL_ID"), id));
  CHECK(same(nccl_id_from_hex("  " + hex + "\n", "CTGRAPH_NCCL_ID"), id));  // as a shell or a file may hold it
  for (const std::string& bad : {hex.substr(1), hex + "0", std::string(256, 'g')}) {
    try {
      nccl_id_from_hex(bad, "CTGRAPH_NCCL_ID");
      FAIL("no error");
    } catch (const runtime_error& e) {
      CHECK(contains(e.what(), "CTGRAPH_NCCL_ID holds " + std::to_string(bad.size()) + " characters, not the 256 hex digits of an NCCL unique id"));
    }
  }
}

TEST_CASE("launch: the id file, published by rank 0 and read by the others") {
  const std::string path = "/tmp/ctgraph_launch_test_id." + std::to_string(::getpid());
  std::filesystem::remove(path);
  const ncclUniqueId id = some_id(9);
  // A reader that starts first waits for the file.
  ncclUniqueId read{};
  std::thread reader([&] { read = wait_for_nccl_id(path, 2, std::chrono::seconds(10)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  publish_nccl_id(id, path, 2);
  reader.join();
  CHECK(same(read, id));
  // Nothing but the file itself: the temporary name was renamed.
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator("/tmp"))
    files += f.path().string().starts_with(path);
  CHECK(files == 1);

  // A file for another world size: a stale file of another launch.
  try {
    wait_for_nccl_id(path, 4, std::chrono::milliseconds(10));
    FAIL("no error");
  } catch (const runtime_error& e) {
    CHECK(contains(e.what(), "begins 'ctgraph NCCL unique id, world size 2', not 'ctgraph NCCL unique id, world size 4'"));
  }
  std::filesystem::remove(path);

  // No file: the reader gives up after its timeout, naming the file.
  const auto t0 = std::chrono::steady_clock::now();
  try {
    wait_for_nccl_id(path, 2, std::chrono::milliseconds(100));
    FAIL("no error");
  } catch (const runtime_error& e) {
    CHECK(e.call() == "waiting for the NCCL unique id");
    CHECK(contains(e.what(), "rank 0 did not publish '" + path + "' within 100 ms"));
  }
  CHECK(std::chrono::steady_clock::now() - t0 >= std::chrono::milliseconds(100));

  // A folder that does not exist: the publisher names the file it could not write.
  try {
    publish_nccl_id(id, "/nonexistent_ctgraph_folder/id", 2);
    FAIL("no error");
  } catch (const runtime_error& e) {
    CHECK(contains(e.what(), "cannot write '/nonexistent_ctgraph_folder/id.tmp."));
  }
}

}  // namespace launch_test
