#pragma once
//! ctgraph's host-only core: graphs as types, compile-time passes, the plan (planning.hpp), and
//! the plan as text and pictures and the run-time graph builder. No CUDA needed.
#include <ctgraph/planning.hpp>

#include <ctgraph/plan/graph_builder.hpp>
#include <ctgraph/plan/to_dot.hpp>
#include <ctgraph/plan/to_string.hpp>
#include <ctgraph/plan/to_svg.hpp>
