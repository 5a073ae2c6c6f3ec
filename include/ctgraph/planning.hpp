#pragma once
//! What a translation unit needs to plan and prove a graph at compile time: graphs as types or
//! values, the ops, the passes, make_plan, check_plan and the plan's queries. No CUDA, and none of
//! the text the dumps, pictures and run-time builder make (their std::string, iostreams and
//! exceptions cost nvcc about 0.7 s a translation unit: tests/compile_time/RESULTS.md).
#include <ctgraph/meta/fixed_string.hpp>
#include <ctgraph/meta/host_device.hpp>

#include <ctgraph/graph/dtype.hpp>
#include <ctgraph/graph/errc.hpp>
#include <ctgraph/graph/graph.hpp>
#include <ctgraph/graph/graph_value.hpp>
#include <ctgraph/graph/memory_class.hpp>
#include <ctgraph/graph/node.hpp>
#include <ctgraph/graph/op.hpp>
#include <ctgraph/graph/ops/argmax.hpp>
#include <ctgraph/graph/ops/attention.hpp>
#include <ctgraph/graph/ops/cat.hpp>
#include <ctgraph/graph/ops/collectives.hpp>
#include <ctgraph/graph/ops/copy.hpp>
#include <ctgraph/graph/ops/elementwise.hpp>
#include <ctgraph/graph/ops/embedding.hpp>
#include <ctgraph/graph/ops/extra_output.hpp>
#include <ctgraph/graph/ops/host_op.hpp>
#include <ctgraph/graph/ops/matmul.hpp>
#include <ctgraph/graph/ops/norm.hpp>
#include <ctgraph/graph/ops/permute.hpp>
#include <ctgraph/graph/ops/reshape.hpp>
#include <ctgraph/graph/ops/rotary.hpp>
#include <ctgraph/graph/ops/silu.hpp>
#include <ctgraph/graph/ops/slice.hpp>
#include <ctgraph/graph/ops/softmax.hpp>
#include <ctgraph/graph/ops/split.hpp>
#include <ctgraph/graph/ops/state.hpp>
#include <ctgraph/graph/repeat.hpp>
#include <ctgraph/graph/shape.hpp>
#include <ctgraph/graph/tensor.hpp>

#include <ctgraph/passes/flatten.hpp>
#include <ctgraph/passes/run_passes.hpp>

#include <ctgraph/plan/make_plan.hpp>
#include <ctgraph/plan/plan.hpp>
#include <ctgraph/plan/plan_family.hpp>
#include <ctgraph/plan/check_plan.hpp>
