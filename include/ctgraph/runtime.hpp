#pragma once
//! ctgraph's runtime (CUDA, cuBLASLt, NVTX3; NCCL >= 2.28.9 for collectives, where the build has
//! it: CTGRAPH_NCCL): include from .cu files. Weights from safetensors files are
//! <ctgraph/runtime/weights.hpp> (needs nlohmann_json: ctgraph::safetensors).
#include <ctgraph/ctgraph.hpp>

#include <ctgraph/runtime/binding.hpp>
#include <ctgraph/runtime/capture.hpp>
#include <ctgraph/runtime/dtype.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/executor.hpp>
#include <ctgraph/runtime/family_executor.hpp>
#include <ctgraph/runtime/handles.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>
#include <ctgraph/runtime/node_hook.hpp>
#include <ctgraph/runtime/nccl/available.hpp>
#if CTGRAPH_NCCL
#include <ctgraph/runtime/nccl/device_comm.hpp>
#include <ctgraph/runtime/nccl/launch.hpp>
#include <ctgraph/runtime/nccl/symmetric_arena.hpp>
#include <ctgraph/runtime/nccl/symmetric_collectives.hpp>
#include <ctgraph/runtime/nccl/version.hpp>
#endif
