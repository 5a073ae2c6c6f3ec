#pragma once
//! graph_builder: builds a flat graph at run time and plans it with the same passes that
//! make_plan runs at compile time (for property tests, tools and debuggers). Names (and the ops of
//! nodes added with given traits) are stored in the builder: keep it alive while its plan is used.
#include <deque>
#include <initializer_list>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <ctgraph/graph/node.hpp>
#include <ctgraph/passes/run_passes.hpp>
#include <ctgraph/plan/plan.hpp>

namespace ctg {

template <std::size_t N>
class graph_builder {
 public:
  int input(std::string name, tensor_desc t) { return leaf(std::move(name), tensor_kind::input, t); }
  int parameter(std::string name, tensor_desc t) { return leaf(std::move(name), tensor_kind::parameter, t); }
  //! A state tensor (ctg::state): kept across runs, never placed by the memory planner.
  int state(std::string name, tensor_desc t) { return leaf(std::move(name), tensor_kind::state, t); }

  //! A node of op `Op`; its output comes from the op's output rule.
  template <op Op>
  int add(std::string name, std::initializer_list<int> inputs, bool in_place = false) {
    return add<Op>(std::move(name), inputs.begin(), int(inputs.size()), in_place);
  }
  template <op Op>
  int add(std::string name, const int* inputs, int count, bool in_place = false) {
    node_desc d = base(std::move(name), inputs, count);
    describe_op<Op>(d);
    d.in_place = in_place;
    return push(d);
  }
  //! A node with given traits and output (no output rule): random graphs in tests.
  int add(std::string name, std::string_view op_name, op_traits traits, std::initializer_list<int> inputs,
          tensor_desc out, bool in_place = false) {
    return add(std::move(name), op_name, traits, inputs.begin(), int(inputs.size()), out, in_place);
  }
  int add(std::string name, std::string_view op_name, op_traits traits, const int* inputs, int count,
          tensor_desc out, bool in_place = false) {
    node_desc d = base(std::move(name), inputs, count);
    d.op = &ops_.emplace_back(op_desc{names_.emplace_back(op_name), traits});
    d.out = out;
    d.in_place = in_place;
    return push(d);
  }
  void output(int id) { g_.is_output[id] = true; }
  //! Plan as one capturable partition: a node that cannot be captured is an error.
  void require_one_partition() { g_.one_partition = true; }
  //! Plan fused groups too (passes/fuse.hpp), to inspect or check them: an executor refuses such a
  //! plan, since a builder's hooks run one node each and cannot compose a group's kernel.
  void fuse_elementwise() { g_.fuse = true; }
  //! At most n parallel branches per partition (plan_options::branches; 4 unless set); 1 plans
  //! every partition in schedule order.
  void limit_branches(int n) { g_.branch_limit = n; }

  //! Runs every pass; the plan's error() says whether the graph was rejected.
  owned_plan<N> build() const {
    auto g = std::make_unique<flat_graph<N>>(g_);  // large: not on the stack
    bool source[N]{};
    std::vector<std::string_view> copy_names(N);
    if (g_.error.code == errc::ok) detail::mark_copy_sources(g_, source);
    for (int u = 0; u < g_.tensor_count; ++u)
      if (source[u]) copy_names[std::size_t(u)] = copy_names_.emplace_back(std::string(g_.nodes[u].name).append(copy_suffix));
    const memory_layout<N> m = run_passes(*g, copy_names.data());
    return owned_plan<N>(*g, m);
  }

 private:
  int leaf(std::string name, tensor_kind kind, tensor_desc t) {
    names_.push_back(std::move(name));
    return push(leaf_desc(kind, names_.back(), t));
  }
  node_desc base(std::string name, const int* inputs, int count) {
    if (count < 0 || count > max_inputs) throw std::invalid_argument("ctgraph: too many inputs for a node");
    for (int k = 0; k < count; ++k)
      if (inputs[k] < 0 || inputs[k] >= g_.tensor_count) throw std::invalid_argument("ctgraph: a node input names no earlier tensor");
    names_.push_back(std::move(name));
    node_desc d{};
    d.name = names_.back();
    for (int k = 0; k < count; ++k) d.inputs[k] = inputs[k];
    d.input_count = count;
    return d;
  }
  int push(const node_desc& d) {
    if (g_.tensor_count == int(N)) throw std::length_error("ctgraph: graph_builder capacity exceeded");
    g_.nodes[g_.tensor_count] = d;
    return g_.tensor_count++;
  }

  flat_graph<N> g_{};
  std::deque<std::string> names_;
  std::deque<op_desc> ops_;                     // the ops of nodes added with given traits
  mutable std::deque<std::string> copy_names_;  // the inserted copies' names, one set per build()
};

}  // namespace ctg
