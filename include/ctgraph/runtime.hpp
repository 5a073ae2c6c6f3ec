#pragma once
//! ctgraph's runtime (CUDA, cuBLASLt, NVTX3): include from .cu files.
#include <ctgraph/ctgraph.hpp>

#include <ctgraph/runtime/binding.hpp>
#include <ctgraph/runtime/error.hpp>
#include <ctgraph/runtime/executor.hpp>
#include <ctgraph/runtime/handles.hpp>
#include <ctgraph/runtime/launch_context.hpp>
#include <ctgraph/runtime/memory.hpp>
