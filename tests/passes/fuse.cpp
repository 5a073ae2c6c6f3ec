// fuse: which elementwise nodes the plan runs as one kernel, at compile time (static_assert)
// and again at run time (CHECK), each plan proved by check_plan.
#include <ctgraph/ctgraph.hpp>

#include <doctest/doctest.h>

#include "../models.hpp"

namespace fuse_test {
using namespace ctg;

using x = input<"x", f32, shape<64, 256>>;
using r = input<"r", f32, shape<64, 256>>;
using b = parameter<"b", f32, shape<256>>;
using w = parameter<"w", f32, shape<256, 256>>;

// A chain: three nodes, one kernel, one buffer.
struct c0 : node<"c0", ops::relu, x> {};
struct c1 : node<"c1", ops::scale<0.5f>, c0> {};
struct c2 : node<"c2", ops::gelu, c1> {};
constexpr auto chain = make_plan<graph<c2>>();
constexpr auto chain_unfused = make_plan<graph<c2>, plan_options{.fuse = false}>();

TEST_CASE("fuse: a chain of elementwise nodes is one group, its inner tensors without buffers") {
  static_assert(chain.fused_group_count() == 1 && chain.fused_node_count() == 2);
  static_assert(chain.fused_root_of<c0>() == chain.index_of<c2>() && chain.fused_root_of<c2>() == chain.index_of<c2>());
  static_assert(chain.buffer_count() == 1 && chain_unfused.buffer_count() == 3);
  static_assert(chain_unfused.fused_group_count() == 0 && chain_unfused.fused_root_of<c0>() == no_index);
  constexpr fused_group f = chain.fused_group_of(chain.index_of<c2>());
  static_assert(f.size == 3 && f.leaf_count == 1 && f.leaves[0] == chain.index_of<x>());
  static_assert(f.members[0] == chain.index_of<c0>() && f.members[2] == chain.index_of<c2>());
  static_assert(f.source[0][0] == -1 && f.source[1][0] == 0 && f.source[2][0] == 1);
  static_assert(!check_plan(chain) && !check_plan(chain_unfused));
  CHECK(chain.fused_group_count() == 1);
  CHECK(!check_plan(chain));
}

// A DAG (ew64's pattern: an add of the previous and the previous-but-one value): one group,
// each value computed once.
struct d0 : node<"d0", ops::relu, x> {};
struct d1 : node<"d1", ops::scale<1, 2>, d0> {};
struct d2 : node<"d2", ops::add, d1, d0> {};
struct d3 : node<"d3", ops::gelu, d2> {};
struct d4 : node<"d4", ops::add, d3, d2> {};
constexpr auto dag = make_plan<graph<d4>>();

TEST_CASE("fuse: members read by several members of the group") {
  static_assert(dag.fused_group_count() == 1 && dag.fused_node_count() == 4);
  constexpr fused_group f = dag.fused_group_of(dag.index_of<d4>());
  static_assert(f.size == 5 && f.leaf_count == 1);
  static_assert(f.source[2][0] == 1 && f.source[2][1] == 0 && f.source[4][0] == 3 && f.source[4][1] == 2);
  static_assert(dag.buffer_count() == 1 && !check_plan(dag));
  CHECK(dag.fused_node_count() == 4);
}

// A tensor read outside the group, or a graph output, keeps its buffer and is a leaf.
struct o0 : node<"o0", ops::relu, x> {};
struct o1 : node<"o1", ops::scale<2>, o0> {};
struct o2 : node<"o2", ops::gelu, o0> {};
constexpr auto shared = make_plan<graph<o1, o2>>();
struct p0 : node<"p0", ops::relu, x> {};
struct p1 : node<"p1", ops::scale<2>, p0> {};
constexpr auto output_inside = make_plan<graph<p0, p1>>();

TEST_CASE("fuse: a tensor read outside the group, or a graph output, stays a buffer") {
  static_assert(shared.fused_group_count() == 0 && shared.fused_root_of<o0>() == no_index);
  static_assert(output_inside.fused_group_count() == 0);
  static_assert(!check_plan(shared) && !check_plan(output_inside));
  CHECK(shared.fused_group_count() == 0);
}

// After a matmul: the relu is its epilogue (one cuBLASLt call); the bias add and the residual add
// fuse, and the root takes over the relu's storage (its input 0 leads there).
struct m0 : node<"m0", ops::matmul, x, w> {};
struct m1 : node<"m1", ops::relu, m0> {};
struct m2 : node<"m2", ops::add, m1, b> {};
struct m3 : node<"m3", ops::add, m2, r> {};
constexpr auto after_matmul = make_plan<graph<m3>>();

TEST_CASE("fuse: a matmul's epilogue; broadcast leaves, and the root in place over the leaf its input 0 leads to") {
  static_assert(after_matmul.fused_group_count() == 2 && after_matmul.fused_node_count() == 2);
  static_assert(after_matmul.fused_root_of<m0>() == after_matmul.index_of<m1>());
  constexpr fused_group e = after_matmul.fused_group_of(after_matmul.index_of<m1>());
  static_assert(e.size == 2 && e.leaf_count == 2 && e.leaves[0] == after_matmul.index_of<x>() && e.leaves[1] == after_matmul.index_of<w>());
  static_assert(after_matmul.buffer_of<m1>().shares == no_index);  // a product never overwrites its operands
  constexpr fused_group f = after_matmul.fused_group_of(after_matmul.index_of<m3>());
  static_assert(f.leaf_count == 3 && f.leaves[0] == after_matmul.index_of<m1>() && f.leaves[1] == after_matmul.index_of<b>() &&
                f.leaves[2] == after_matmul.index_of<r>());
  static_assert(after_matmul.buffer_of<m3>().shares == after_matmul.index_of<m1>());
  static_assert(after_matmul.buffer_count() == 2 && after_matmul.reuse_count() == 1);
  static_assert(!check_plan(after_matmul));
  CHECK(after_matmul.buffer_of<m3>().shares == after_matmul.index_of<m1>());
}

// No epilogue where the product has another reader, is a linear with a residual (cuBLASLt would
// apply the activation to the sum), or the activation asked to run in place.
struct n0 : node<"n0", ops::matmul, x, w> {};
struct n1 : node<"n1", ops::relu, n0> {};
struct n2 : node<"n2", ops::add, n1, n0> {};
struct k0 : node<"k0", ops::linear<>, x, w, b, r> {};
struct k1 : node<"k1", ops::gelu, k0> {};
struct j0 : node<"j0", ops::linear<>, x, w, b> {};
struct j1 : node<"j1", in_place<ops::gelu>, j0> {};
struct i0 : node<"i0", ops::linear<>, x, w, b> {};
struct i1 : node<"i1", ops::gelu, i0> {};
constexpr auto no_epilogue = make_plan<graph<n2, k1, j1, i1>>();

TEST_CASE("fuse: a product's epilogue only where it is the product's one reader and the rule allows it") {
  static_assert(no_epilogue.fused_root_of<n0>() == no_index && no_epilogue.fused_root_of<k0>() == no_index);
  static_assert(no_epilogue.fused_root_of<j0>() == no_index);
  static_assert(no_epilogue.fused_root_of<i0>() == no_epilogue.index_of<i1>());  // linear + bias + gelu: one call
  static_assert(no_epilogue.fused_group_of(no_epilogue.index_of<i1>()).leaf_count == 3);
  static_assert(!check_plan(no_epilogue));
  CHECK(no_epilogue.fused_root_of<i0>() == no_epilogue.index_of<i1>());
}

// At most max_inputs leaves: a sum of nine parameters splits into groups that each read eight or fewer.
template <std::size_t I>
using bias = parameter<indexed<"bias", I>, f32, shape<64, 256>>;
template <class X, std::size_t I>
struct sum_step : node<indexed<"s", I>, ops::add, X, bias<I>> {};
constexpr auto sum = make_plan<graph<repeat<9, sum_step, x>>>();

TEST_CASE("fuse: a group reads at most max_inputs tensors") {
  static_assert(sum.fused_group_count() == 2);
  static_assert(sum.fused_node_count() == 7);
  constexpr fused_group last = sum.fused_group_of(sum.index_of("s8"));
  static_assert(last.leaf_count == max_inputs && last.size == 7);
  static_assert(!check_plan(sum));
  CHECK(sum.fused_group_count() == 2);
}

// At most max_fused_nodes nodes: a chain of 70 relus is two groups.
template <class X, std::size_t I>
struct relu_step : node<indexed<"u", I>, ops::relu, X> {};
constexpr auto long_chain = make_plan<graph<repeat<70, relu_step, x>>>();

TEST_CASE("fuse: a group has at most max_fused_nodes nodes") {
  static_assert(long_chain.fused_group_count() == 2 && long_chain.fused_node_count() == 68);
  static_assert(long_chain.fused_group_of(long_chain.index_of("u69")).size == max_fused_nodes);
  static_assert(!check_plan(long_chain));
  CHECK(long_chain.fused_node_count() == 68);
}

// What stops fusion: another element count (a broadcast operand computed by a node) and an
// in-place request. A ref<> read is fine: the typed edge it also has leads the kernel's types
// there (a tensor reached only through refs would be unreachable).
using row = input<"row", f32, shape<256>>;
struct b0 : node<"b0", ops::relu, row> {};
struct b1 : node<"b1", ops::add, x, b0> {};
struct q0 : node<"q0", ops::relu, x> {};
struct q1 : node<"q1", in_place<ops::scale<2>>, q0> {};
struct f0 : node<"f0", ops::relu, x> {};
struct f1 : node<"f1", ops::add, f0, ref<"f0">> {};
constexpr auto stops = make_plan<graph<b1, q1, f1>>();

TEST_CASE("fuse: other sizes and in-place requests stay apart; refs do not") {
  static_assert(stops.fused_group_count() == 1 && stops.fused_root_of<f0>() == stops.index_of<f1>());
  static_assert(stops.fused_group_of(stops.index_of<f1>()).source[1][1] == 0);
  static_assert(stops.buffer_of<q1>().shares == stops.index_of<q0>());
  static_assert(!check_plan(stops));
  CHECK(stops.fused_group_count() == 1);
}

// A bias added to a product's rows joins its epilogue, with or without an activation after it.
struct v0 : node<"v0", ops::matmul, x, w> {};
struct v1 : node<"v1", ops::add, v0, b> {};  // + bias [256]
struct v2 : node<"v2", ops::gelu, v1> {};
struct u0 : node<"u0", ops::matmul, x, w> {};
struct u1 : node<"u1", ops::add, u0, b> {};
constexpr auto with_bias = make_plan<graph<v2, u1>>();

TEST_CASE("fuse: a bias add joins the product's epilogue") {
  static_assert(with_bias.fused_root_of<v0>() == with_bias.index_of<v2>() && with_bias.fused_root_of<v1>() == with_bias.index_of<v2>());
  constexpr fused_group f = with_bias.fused_group_of(with_bias.index_of<v2>());
  static_assert(f.size == 3 && f.leaf_count == 3 && f.leaves[0] == with_bias.index_of<x>() && f.leaves[1] == with_bias.index_of<w>() &&
                f.leaves[2] == with_bias.index_of<b>());
  static_assert(with_bias.fused_root_of<u0>() == with_bias.index_of<u1>());
  static_assert(with_bias.fused_group_of(with_bias.index_of<u1>()).leaf_count == 3);
  static_assert(with_bias.buffer_count() == 2 && with_bias.fused_group_count() == 2 && !check_plan(with_bias));
  CHECK(with_bias.fused_node_count() == 3);
}

// A residual its product waits for anyway (a transformer's h + proj(f(h)) + b) is the product's C:
// the bias add and the residual add join the epilogue, in either order of the add's inputs. Two
// products added, neither waiting for the other, stay apart (they may run at once); an activation
// never follows a residual.
struct res0 : node<"res0", ops::relu, x> {};
struct res1 : node<"res1", ops::gelu, res0> {};
struct res2 : node<"res2", ops::matmul, res1, w> {};
struct res3 : node<"res3", ops::add, res2, b> {};
struct res4 : node<"res4", ops::add, res0, res3> {};    // res0 + (res1 W + b)
struct q0r : node<"q0r", ops::matmul, x, w> {};
struct q1r : node<"q1r", ops::add, q0r, r> {};     // x W + r, r a graph input
struct p0r : node<"p0r", ops::matmul, x, w> {};
struct p1r : node<"p1r", ops::matmul, r, w> {};
struct p2r : node<"p2r", ops::add, p0r, p1r> {};    // independent products
struct e0r : node<"e0r", ops::matmul, x, w> {};
struct e1r : node<"e1r", ops::add, e0r, r> {};
struct e2r : node<"e2r", ops::relu, e1r> {};       // relu(x W + r): the residual joins, the relu does not
constexpr auto residual = make_plan<graph<res4, q1r, p2r, e2r>>();

TEST_CASE("fuse: a residual joins the product's epilogue where the product waits for it anyway") {
  static_assert(residual.fused_root_of<res2>() == residual.index_of<res4>() && residual.fused_root_of<res3>() == residual.index_of<res4>());
  constexpr fused_group f = residual.fused_group_of(residual.index_of<res4>());
  static_assert(f.size == 3 && f.leaf_count == 4 && f.leaves[0] == residual.index_of<res1>() && f.leaves[1] == residual.index_of<w>() &&
                f.leaves[2] == residual.index_of<b>() && f.leaves[3] == residual.index_of<res0>());
  static_assert(residual.buffer_of<res4>().shares == no_index);  // never in place over an operand or C
  static_assert(residual.fused_root_of<q0r>() == residual.index_of<q1r>());
  static_assert(residual.fused_root_of<p0r>() == no_index && residual.fused_root_of<p1r>() == no_index);
  static_assert(residual.fused_root_of<e0r>() == residual.index_of<e1r>() && residual.fused_root_of<e2r>() != residual.index_of<e1r>());
  static_assert(!check_plan(residual));
  CHECK(residual.fused_root_of<res3>() == residual.index_of<res4>());
  CHECK(!check_plan(residual));
}

// A decode step's RMS norm feeding three projections (W [N,K]): folded into each one's prologue.
using h1 = input<"h1", bf16, shape<1, 256>>;
using h16 = input<"h16", bf16, shape<16, 256>>;
using g = parameter<"g", bf16, shape<256>>;
using wq = parameter<"wq", bf16, shape<512, 256>>;
using wk = parameter<"wk", bf16, shape<64, 256>>;
template <class H>
struct nm : node<"n0", ops::rms_norm<1e-5f>, H, g> {};
template <class H>
struct pq : node<"pq", ops::linear<true>, nm<H>, wq> {};
template <class H>
struct pk : node<"pk", ops::linear<true>, nm<H>, wk> {};
template <class H>
struct po : node<"po", ops::linear<true>, pq<H>, parameter<"wo", bf16, shape<256, 512>>, H> {};  // + residual H
constexpr auto folded = make_plan<graph<po<h1>, pk<h1>>>();
constexpr auto sixteen = make_plan<graph<po<h16>, pk<h16>>>();  // more rows than the gemv takes
constexpr auto folded_off = make_plan<graph<po<h1>, pk<h1>>, plan_options{.fuse = false}>();
struct nr : node<"nr", ops::rms_norm<1e-5f>, h1, g> {};
struct pr : node<"pr", ops::linear<true>, nr, wq> {};
struct sr : node<"sr", ops::silu, nr> {};  // a reader that is not a product
constexpr auto kept = make_plan<graph<pr, sr>>();

TEST_CASE("fuse: a norm whose every reader is a gemv-sized product runs in their prologues") {
  static_assert(folded.prologue_count() == 1 && folded.prologue_of<pq<h1>>() == folded.index_of<nm<h1>>() &&
                folded.prologue_of<pk<h1>>() == folded.index_of<nm<h1>>() && folded.prologue_of<po<h1>>() == no_index);
  static_assert(folded.fused_node_count() == 1 && folded.buffer_count() == folded_off.buffer_count() - 1);
  // The readers read the norm's input: it lives until the last of them (and the residual's read).
  static_assert(folded.buffer_of<h1>().lifetime.last == folded_off.buffer_of<h1>().lifetime.last);
  static_assert(sixteen.prologue_count() == 0 && folded_off.prologue_count() == 0 && kept.prologue_count() == 0);
  static_assert(!check_plan(folded) && !check_plan(sixteen) && !check_plan(kept));
  CHECK(to_string(folded).find("prologue 'n0'") != std::string::npos);
  CHECK(to_string(folded).find("in the prologues of its readers") != std::string::npos);
}

// Products of one A (the norm's readers pq and pk above) run as one gemv launch: the one scheduled
// first leads and writes both outputs, each still its own buffer, the other's from the lead's step.
// Not at 16 rows, nor unfused; a product with a bias, another A or past the fourth does not join.
using sx = input<"sx", bf16, shape<2, 256>>;
template <int I>
struct sp : node<indexed<"sp", I>, ops::linear<true>, sx, wk> {};
struct sb : node<"sb", ops::linear<true>, sx, wk, parameter<"sbias", bf16, shape<64>>> {};  // a bias
struct so : node<"so", ops::linear<true>, h1, wk> {};                                      // another A
constexpr auto five = make_plan<graph<sp<0>, sp<1>, sp<2>, sp<3>, sp<4>, sb, so>>();

TEST_CASE("fuse: products of one A of at most 8 rows run as one launch (sibling products)") {
  constexpr int q = folded.index_of<pq<h1>>(), k = folded.index_of<pk<h1>>();
  constexpr int lead = folded.sibling_lead_of<pk<h1>>() == q ? q : k, rider = lead == q ? k : q;
  static_assert(folded.sibling_count() == 1 && folded.graph.sibling_lead[rider] == lead && folded.graph.sibling_lead[lead] == no_index);
  static_assert(folded.graph.sibling_next[lead] == rider && folded.graph.step[lead] < folded.graph.step[rider]);
  static_assert(folded.graph.branch[rider] == folded.graph.branch[lead]);  // it runs where its lead's launch runs
  static_assert(folded.buffer(rider).lifetime.first == folded.graph.step[lead]);  // written by the lead's launch
  static_assert(folded.buffer_count() == folded_off.buffer_count() - 1);           // only the norm's buffer goes
  static_assert(sixteen.sibling_count() == 0 && folded_off.sibling_count() == 0 && kept.sibling_count() == 0);
  constexpr auto apart = make_plan<graph<po<h1>, pk<h1>>, plan_options{.siblings = false}>();  // asked not to
  static_assert(apart.sibling_count() == 0 && apart.prologue_count() == 1 && !check_plan(apart));
  static_assert(five.sibling_count() == 3 && five.sibling_lead_of<sb>() == no_index && five.sibling_lead_of<so>() == no_index);
  static_assert(!check_plan(folded) && !check_plan(five));
  // A sibling's buffer said to be written at its own step is caught: the lead writes it earlier.
  static_assert([] {
    auto g = folded.graph;
    g.buffers[g.sibling_next[lead]].lifetime.first = g.step[g.sibling_next[lead]];
    return check_plan(plan<folded.graph_capacity>{g, folded.memory}).fault;
  }() == plan_fault::wrong_lifetime);
  // A chain that leaves a sibling out is caught.
  static_assert([] {
    auto g = folded.graph;
    g.sibling_next[lead] = no_index;
    return check_plan(plan<folded.graph_capacity>{g, folded.memory}).fault;
  }() == plan_fault::bad_fusion);
  CHECK(to_string(folded).find("computed in the launch of '" + std::string(folded.graph.nodes[lead].name) + "' (same A)") != std::string::npos);
  CHECK(to_string(five).find("one launch with") != std::string::npos);
}

// silu(gate) * up read only by a projection (W [N,K]) of at most 8 rows runs in its prologue, the
// silu with it: no fused group, no buffer. Not where the silu has another reader, nor at 9 rows.
template <std::int64_t M>
struct swiglu {
  using x = input<"x", bf16, shape<M, 256>>;
  using wg = parameter<"wg", bf16, shape<512, 256>>;
  using wu = parameter<"wu", bf16, shape<512, 256>>;
  using wd = parameter<"wd", bf16, shape<256, 512>>;
  struct gate : node<"gate", ops::linear<true>, x, wg> {};
  struct up : node<"up", ops::linear<true>, x, wu> {};
  struct act : node<"act", ops::silu, gate> {};
  struct both : node<"both", ops::mul, act, up> {};
  struct down : node<"down", ops::linear<true>, both, wd, x> {};
  struct seen : node<"seen", ops::relu, act> {};  // a second reader of the silu
};
constexpr auto gated = make_plan<graph<swiglu<4>::down>>();
constexpr auto gated_off = make_plan<graph<swiglu<4>::down>, plan_options{.fuse = false}>();

TEST_CASE("fuse: silu(x) * y runs in the prologue of the projection that reads it") {
  using s = swiglu<4>;
  static_assert(gated.prologue_count() == 2 && gated.prologue_of<s::down>() == gated.index_of<s::both>());
  static_assert(gated.fused_group_count() == 0 && gated_off.prologue_count() == 0);
  static_assert(gated.buffer_count() + 2 == gated_off.buffer_count());  // the silu's and the product's
  static_assert(!check_plan(gated) && !check_plan(gated_off));
  constexpr auto shared = make_plan<graph<s::down, s::seen>>();
  static_assert(shared.prologue_count() == 0);
  constexpr auto tall = make_plan<graph<swiglu<9>::down>>();
  static_assert(tall.prologue_count() == 0 && tall.fused_group_count() == 1);
  CHECK(to_string(gated).find("prologue 'both' (its input 0 gated, silu(x) * y, as loaded)") != std::string::npos);
  CHECK(to_string(gated).find("in the prologues of its readers") != std::string::npos);
}

// A query rotary read only by attention over a cache runs in its prologue, a key rotary read only
// by the cache write in the write's (at its input 2, the rows); a key rotary with another reader
// stays a kernel.
using qx = input<"qx", bf16, shape<1, 256>>;  // 4 heads of 64
using kx = input<"kx", bf16, shape<1, 128>>;  // 2 K/V heads
using kc = state<"kc", bf16, shape<64, 128>>;
using vc = state<"vc", bf16, shape<64, 128>>;
using ps = state<"ps", i32, shape<1>>;
struct qr : node<"qr", ops::rotary<64>, qx, ps> {};
struct kr : node<"kr", ops::rotary<64>, kx, ps> {};
struct kp : node<"kp", ops::cache_write<0>, kc, ps, kr> {};
struct at : node<"at", ops::cache_attention<4, 2>, qr, kp, vc, ps> {};
constexpr auto rotated = make_plan<graph<at>>();
constexpr auto rotated_off = make_plan<graph<at>, plan_options{.fuse = false}>();
using kc2 = state<"kc2", bf16, shape<64, 128>>;
struct kp2 : node<"kp2", ops::cache_write<0>, kc2, ps, kr> {};  // a second write of kr's rows: both fold it
struct kx2 : node<"kx2", ops::add, kr, kr> {};
constexpr auto shared_key = make_plan<graph<at, kx2>>();

TEST_CASE("fuse: a rotary runs in the prologue of the attention or the cache write that reads it") {
  static_assert(rotated.prologue_count() == 2 && rotated.prologue_of<at>() == rotated.index_of<qr>());
  static_assert(rotated.prologue_of<kp>() == rotated.index_of<kr>() && rotated_off.prologue_count() == 0);
  static_assert(rotated.buffer_count() == rotated_off.buffer_count() - 2);
  static_assert(!check_plan(rotated) && !check_plan(rotated_off));
  static_assert(shared_key.prologue_count() == 1 && shared_key.prologue_of<kp>() == no_index);
  constexpr auto twice = make_plan<graph<at, kp2>>();
  static_assert(twice.prologue_of<kp2>() == twice.index_of<kr>() && twice.prologue_of<kp>() == twice.index_of<kr>());
  CHECK(to_string(rotated).find("prologue 'qr' (its input 0 rotated as loaded)") != std::string::npos);
  CHECK(to_string(rotated).find("prologue 'kr' (its input 2 rotated as loaded)") != std::string::npos);
}

// Both writes that fill the caches an attention reads run in its launch (writes_in), the key
// write's rotary with it: two kernels fewer. Not where a write has another reader, writes past
// the position (an offset) or writes more than 8 tokens, or where the plan is asked not to; a plan whose write says it runs in another node is caught.
using cs = test_models::cache_step<1, ps>;
constexpr auto written = make_plan<graph<cs::attn>>();
struct vp1 : node<"v_put", ops::cache_write<0, 1>, cs::v_cache, ps, cs::v> {};  // one past the position
struct at1 : node<"attn", ops::cache_attention<4, 2>, cs::q_rope, cs::k_put, vp1, ps> {};
struct vseen : node<"vseen", ops::cache_read<0, 1>, cs::v_put, ps> {};  // a second reader of the write
using ts = test_models::cache_step<16, ps>;  // 16 new tokens

TEST_CASE("fuse: an attention runs the cache writes that fill the caches it reads") {
  static_assert(written.written_in_attention_count() == 2 && written.writes_in_of<cs::k_put>() == written.index_of<cs::attn>() &&
                written.writes_in_of<cs::v_put>() == written.index_of<cs::attn>() && written.writes_in_of<cs::attn>() == no_index);
  static_assert(written.prologue_of<cs::k_put>() == written.index_of<cs::k_rope>() && !check_plan(written));
  static_assert(make_plan<graph<cs::attn>, plan_options{.cache_writes = false}>().written_in_attention_count() == 0);
  static_assert(make_plan<graph<cs::attn>, plan_options{.fuse = false}>().written_in_attention_count() == 0);
  static_assert(make_plan<graph<at1>>().written_in_attention_count() == 0);
  static_assert(make_plan<graph<cs::attn, vseen>>().written_in_attention_count() == 0);
  static_assert(make_plan<graph<ts::attn>>().written_in_attention_count() == 0);
  // What the attention may read before it waits for the kernel before: the caches (only its own
  // launch writes them) and the position; not the caches where the writes are kernels before it.
  constexpr int attn = written.index_of<cs::attn>();
  static_assert(ctg::detail::fixed_at(written.graph, attn, written.index_of<cs::k_put>()) &&
                ctg::detail::fixed_at(written.graph, attn, written.index_of<cs::v_put>()) && ctg::detail::fixed_at(written.graph, attn, written.index_of<ps>()));
  static_assert(!ctg::detail::fixed_at(written.graph, attn, written.index_of<cs::q_rope>()));  // a node's output
  constexpr auto apart = make_plan<graph<cs::attn>, plan_options{.cache_writes = false}>();
  static_assert(!ctg::detail::fixed_at(apart.graph, apart.index_of<cs::attn>(), apart.index_of<cs::k_put>()) &&
                ctg::detail::fixed_at(apart.graph, apart.index_of<cs::attn>(), apart.index_of<ps>()));
  CHECK(to_string(written).find("written in the launch of 'attn'") != std::string::npos);
  CHECK(to_string(written).find("runs the writes 'k_put' 'v_put'") != std::string::npos);
  // A write said to run in a node that is not its attention, or only one of the two, is caught.
  for (const int in : {written.index_of<cs::k_rope>(), no_index}) {
    auto g = written.graph;
    g.writes_in[written.index_of<cs::v_put>()] = in;
    CHECK(check_plan(plan<written.graph_capacity>{g, written.memory}).fault == plan_fault::bad_fusion);
  }
}

// The launches the runtime makes, as the plan describes them (plan::launch): an attention reads
// its folded rotary's inputs in its place and runs both cache writes, a sibling lead runs its
// sibling's product; nodes computed in another's launch launch nothing.
TEST_CASE("plan: each launch says what it reads and what it runs") {
  constexpr int attn = written.index_of<cs::attn>(), ps_i = written.index_of<ps>();
  static_assert(written.launches(attn) && !written.launches(written.index_of<cs::k_put>()) && !written.launches(written.index_of<cs::v_put>()) &&
                !written.launches(written.index_of<cs::q_rope>()) && !written.launches(written.index_of<cs::k_rope>()) && !written.launches(ps_i));
  constexpr auto unfused = make_plan<graph<cs::attn>, plan_options{.fuse = false}>();
  static_assert(written.launch_count() == 1 && unfused.launch_count() == 5);  // one launch; unfused: 2 rotaries, 2 writes, the attention
  static_assert(written.launch_count() == unfused.launch_count() - written.prologue_count() - written.written_in_attention_count());
  constexpr launch_desc a = written.launch(attn);
  // q_rope's inputs in its place (q and the position), then the caches and the position.
  static_assert(a.read_count == 5 && a.reads[0] == written.index_of<cs::q>() && a.reads[1] == ps_i && a.reads[2] == written.index_of<cs::k_put>() &&
                a.reads[3] == written.index_of<cs::v_put>() && a.reads[4] == ps_i);
  // Only its own launch writes the caches, and nothing writes q or the position: all read early.
  static_assert(a.read_fixed[0] && a.read_fixed[1] && a.read_fixed[2] && a.read_fixed[3] && a.read_fixed[4]);
  static_assert(a.cache_write_count == 2 && a.cache_writes[0].node == written.index_of<cs::k_put>() &&
                a.cache_writes[0].rows == written.index_of<cs::k>() && a.cache_writes[0].rotary_positions == ps_i &&
                a.cache_writes[1].node == written.index_of<cs::v_put>() && a.cache_writes[1].rows == written.index_of<cs::v>() &&
                a.cache_writes[1].rotary_positions == no_index && a.sibling_count == 0);
  static_assert(written.launch_reads(attn, written.index_of<cs::v>()) && written.launch_reads(attn, written.index_of<cs::k_cache>()));
  constexpr launch_desc u = unfused.launch(unfused.index_of<cs::attn>());  // the writes are launches before it
  static_assert(u.cache_write_count == 0 && u.reads[0] == unfused.index_of<cs::q_rope>() && !u.read_fixed[0] && !u.read_fixed[1] && u.read_fixed[3]);
  constexpr int q = folded.index_of<pq<h1>>(), k = folded.index_of<pk<h1>>();
  constexpr int lead = folded.sibling_lead_of(k) == q ? q : k, rider = lead == q ? k : q;
  constexpr launch_desc l = folded.launch(lead);
  static_assert(!folded.launches(rider) && l.sibling_count == 1 && l.siblings[0].node == rider && l.siblings[0].w_fixed);
  static_assert(folded.launch_reads(lead, folded.index_of<wq>()) && folded.launch_reads(lead, folded.index_of<wk>()));  // its own W and its sibling's
  static_assert(l.read_count == 3 && l.reads[0] == folded.index_of<h1>() && l.reads[1] == folded.index_of<g>());  // the norm's inputs, then W
}

}  // namespace fuse_test
