#pragma once
//! Launching the way users launch: one process per GPU, started by torchrun (RANK, WORLD_SIZE,
//! LOCAL_RANK), by Open MPI's mpirun (OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE,
//! OMPI_COMM_WORLD_LOCAL_RANK), or alone (one rank). `launched_communicator` reads that
//! environment, selects the GPU by local rank, obtains the NCCL unique id and makes the
//! communicator (ncclCommInitRank), which it owns.
//!
//! The unique id: where CTGRAPH_NCCL_ID holds it (256 hex digits), every rank takes it from there.
//! Otherwise rank 0 creates it (ncclGetUniqueId) and publishes it in the file CTGRAPH_NCCL_ID_FILE
//! names (written under a temporary name, then renamed: a reader never sees a partial file); the
//! other ranks wait for that file (`launch_options::id_timeout`) and read it; rank 0 removes it
//! once every rank has joined. Name a fresh file per launch (`/tmp/ctgraph_nccl_id.$$` in the
//! shell that starts the launcher): a file left by an earlier launch that crashed would hand out
//! a stale id. One rank needs neither variable.
#include <cuda_runtime.h>
#include <nccl.h>

#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>

#include <ctgraph/runtime/communicator.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/nccl/error.hpp>

namespace ctg {

//! Where this process stands in its launch.
struct launch_environment {
  int rank = 0, world_size = 1, local_rank = 0;
  std::string_view launcher = "none";  // "torchrun", "mpirun" or "none" (one rank)
};

//! Looks an environment variable up: null where it is not set.
using environment_lookup = std::function<const char*(const char*)>;

namespace detail {

//! The process's environment (std::getenv).
inline const char* process_environment(const char* name) { return std::getenv(name); }

//! The variables one launcher sets; the local rank is optional (absent: the rank, one node).
struct launcher_variables {
  std::string_view launcher;
  const char *rank, *world_size, *local_rank;
};
inline constexpr launcher_variables launchers[] = {
    {"torchrun", "RANK", "WORLD_SIZE", "LOCAL_RANK"},
    {"mpirun", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK"},
};

inline runtime_error launch_error(std::string_view call, const std::string& what) { return runtime_error("launch", call, what); }

//! `name`'s value as a whole number >= `least`.
inline int launch_number(const char* name, const char* text, int least) {
  const std::string s(text);
  std::size_t used = 0;
  long v = -1;
  try {
    v = std::stol(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (s.empty() || used != s.size() || v < least || v > 1 << 20)
    throw launch_error("reading the launcher environment",
                       std::string(name) + " is '" + s + "', not a whole number of at least " + std::to_string(least) + ". Launch with torchrun or mpirun, or unset it to run one rank");
  return int(v);
}

}  // namespace detail

//! The launch this process belongs to: torchrun's variables, else Open MPI's, else one rank.
//! Throws ctg::runtime_error naming the variable where one is set and its partner is not, or
//! where a value is no rank of the world.
inline launch_environment read_launch_environment(const environment_lookup& lookup = detail::process_environment) {
  for (const detail::launcher_variables& l : detail::launchers) {
    const char *rank = lookup(l.rank), *size = lookup(l.world_size), *local = lookup(l.local_rank);
    if (!rank && !size) continue;
    if (!rank || !size)
      throw detail::launch_error("reading the launcher environment",
                                 std::string(rank ? l.rank : l.world_size) + " is set but " + (rank ? l.world_size : l.rank) + " is not. " +
                                     std::string(l.launcher) + " sets both; set both, or neither to run one rank");
    launch_environment e;
    e.launcher = l.launcher;
    e.world_size = detail::launch_number(l.world_size, size, 1);
    e.rank = detail::launch_number(l.rank, rank, 0);
    e.local_rank = local ? detail::launch_number(l.local_rank, local, 0) : e.rank;
    if (e.rank >= e.world_size)
      throw detail::launch_error("reading the launcher environment", std::string(l.rank) + " is " + std::to_string(e.rank) + ", but " + l.world_size + " is " +
                                                                          std::to_string(e.world_size) + ": a rank is below the world size");
    if (e.local_rank > e.rank)
      throw detail::launch_error("reading the launcher environment", std::string(l.local_rank) + " is " + std::to_string(e.local_rank) + ", above " + l.rank + " (" +
                                                                          std::to_string(e.rank) + "): a local rank counts the ranks of one node");
    return e;
  }
  return {};
}

//! The id as 256 hex digits (two per byte, in order).
inline std::string nccl_id_hex(const ncclUniqueId& id) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string s;
  for (char c : id.internal) {
    const auto b = static_cast<unsigned char>(c);
    s += digits[b >> 4], s += digits[b & 15];
  }
  return s;
}

//! The id that `text` holds in hex (surrounding white space ignored); `where` names its source in
//! the error.
inline ncclUniqueId nccl_id_from_hex(std::string_view text, std::string_view where) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  ncclUniqueId id{};
  auto nibble = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; };
  bool ok = text.size() == 2 * sizeof(id.internal);
  for (std::size_t i = 0; ok && i < sizeof(id.internal); ++i) {
    const int hi = nibble(text[2 * i]), lo = nibble(text[2 * i + 1]);
    ok = hi >= 0 && lo >= 0;
    id.internal[i] = static_cast<char>(hi << 4 | lo);
  }
  if (!ok)
    throw detail::launch_error("reading the NCCL unique id", std::string(where) + " holds " + std::to_string(text.size()) + " characters, not the " +
                                                                 std::to_string(2 * sizeof(id.internal)) + " hex digits of an NCCL unique id (ctg::nccl_id_hex writes them)");
  return id;
}

namespace detail {
inline std::string id_file_header(int world_size) { return "ctgraph NCCL unique id, world size " + std::to_string(world_size); }
}  // namespace detail

//! Writes `id` to `path` for a world of `world_size` ranks: under a temporary name beside it,
//! then renamed, so a reader never sees a partial file.
inline void publish_nccl_id(const ncclUniqueId& id, const std::string& path, int world_size) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << detail::id_file_header(world_size) << '\n' << nccl_id_hex(id) << '\n';
    out.close();
    if (!out)
      throw detail::launch_error("publishing the NCCL unique id", "cannot write '" + temporary + "'. CTGRAPH_NCCL_ID_FILE must name a file in a folder that rank 0 can write and every rank can read");
  }
  std::error_code e;
  std::filesystem::rename(temporary, path, e);
  if (e) {
    std::filesystem::remove(temporary, e);
    throw detail::launch_error("publishing the NCCL unique id", "cannot rename '" + temporary + "' to '" + path + "': " + e.message());
  }
}

//! Waits up to `timeout` for the file `publish_nccl_id` writes at `path`, then reads the id.
//! Throws naming the file when it does not come, or when it was written for another world size
//! (a file left by another launch).
inline ncclUniqueId wait_for_nccl_id(const std::string& path, int world_size, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::error_code e;
  while (!std::filesystem::exists(path, e)) {
    if (std::chrono::steady_clock::now() >= deadline)
      throw detail::launch_error("waiting for the NCCL unique id", "rank 0 did not publish '" + path + "' within " + std::to_string(timeout.count()) +
                                                                       " ms. Check that rank 0 started and that CTGRAPH_NCCL_ID_FILE names the same file, on a file system every rank sees");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::ifstream in(path);
  std::string header, hex;
  std::getline(in, header);
  std::getline(in, hex);
  if (header != detail::id_file_header(world_size))
    throw detail::launch_error("waiting for the NCCL unique id", "'" + path + "' begins '" + header + "', not '" + detail::id_file_header(world_size) +
                                                                     "': a file of another launch? Name a fresh file per launch");
  return nccl_id_from_hex(hex, "'" + path + "'");
}

//! How `launched_communicator` waits for the id.
struct launch_options {
  std::chrono::milliseconds id_timeout = std::chrono::seconds(120);  // for the ranks other than 0
};

//! This rank's NCCL communicator, made from the launch environment, and owned (move-only;
//! ncclCommFinalize and ncclCommDestroy at the end). Destroy the executors that use it first.
class launched_communicator {
 public:
  //! Selects GPU `local_rank` (GPU 0 where the process sees only one, as with one
  //! CUDA_VISIBLE_DEVICES per rank), obtains the unique id, then ncclCommInitRank. Every failure
  //! is a ctg::runtime_error naming the call; nothing is left behind.
  explicit launched_communicator(const launch_environment& env = read_launch_environment(), launch_options options = {},
                                 const environment_lookup& lookup = detail::process_environment)
      : env_(env) {
    // Where the id comes from is settled before any GPU or NCCL call: a launch without it fails at once.
    const char* hex = lookup("CTGRAPH_NCCL_ID");
    const char* file = lookup("CTGRAPH_NCCL_ID_FILE");
    if (!hex && env.world_size > 1 && !(file && *file))
      throw detail::launch_error("ncclGetUniqueId", std::to_string(env.world_size) + " ranks (" + std::string(env.launcher) +
                                                        ") need one NCCL unique id: set CTGRAPH_NCCL_ID_FILE to a fresh path that every rank can read (rank 0 writes it), or CTGRAPH_NCCL_ID to the id in hex");
    int devices = 0;
    CTG_CHECK("launch", cudaGetDeviceCount(&devices));
    device_ = devices == 1 ? 0 : env.local_rank;
    if (device_ >= devices)
      throw detail::launch_error("cudaSetDevice", "local rank " + std::to_string(env.local_rank) + " needs GPU " + std::to_string(device_) + ", but this process sees " +
                                                      std::to_string(devices) + ". Start at most as many ranks per node as it has GPUs");
    CTG_CHECK("launch", cudaSetDevice(device_));
    ncclUniqueId id{};
    const bool publish = !hex && env.rank == 0 && env.world_size > 1;
    if (hex) {
      id = nccl_id_from_hex(hex, "CTGRAPH_NCCL_ID");
    } else if (env.rank == 0) {
      CTG_CHECK("launch", ncclGetUniqueId(&id));
      if (publish) publish_nccl_id(id, file, env.world_size);
    } else {
      id = wait_for_nccl_id(file, env.world_size, options.id_timeout);
    }
    ncclComm_t comm = nullptr;
    const ncclResult_t r = ncclCommInitRank(&comm, env.world_size, id, env.rank);
    if (publish) {
      std::error_code ignored;  // every rank has joined (or failed): the file has served
      std::filesystem::remove(file, ignored);
    }
    if (r != ncclSuccess) {
      const runtime_error error("launch", "ncclCommInitRank", detail::nccl_message(r));
      if (comm) ncclCommAbort(comm);
      throw error;
    }
    comm_ = comm;
  }

  launched_communicator(const launched_communicator&) = delete;
  launched_communicator& operator=(const launched_communicator&) = delete;
  launched_communicator(launched_communicator&& o) noexcept : env_(o.env_), device_(o.device_), comm_(std::exchange(o.comm_, nullptr)) {}
  launched_communicator& operator=(launched_communicator&& o) noexcept {
    if (this != &o) {
      release();
      env_ = o.env_, device_ = o.device_, comm_ = std::exchange(o.comm_, nullptr);
    }
    return *this;
  }
  ~launched_communicator() { release(); }

  ncclComm_t get() const noexcept { return comm_; }
  //! What `instantiate` takes: the communicator, not owned, with this rank (checked there).
  communicator ref() const { return communicator{comm_, env_.rank}; }
  const launch_environment& environment() const noexcept { return env_; }
  int rank() const noexcept { return env_.rank; }
  int world_size() const noexcept { return env_.world_size; }
  int local_rank() const noexcept { return env_.local_rank; }
  //! The GPU it selected.
  int device() const noexcept { return device_; }

 private:
  void release() noexcept {
    if (!comm_) return;
    ncclCommFinalize(comm_);
    ncclCommDestroy(comm_);
    comm_ = nullptr;
  }

  launch_environment env_;
  int device_ = 0;
  ncclComm_t comm_ = nullptr;
};

}  // namespace ctg
