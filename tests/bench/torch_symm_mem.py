#!/usr/bin/env python3
"""PyTorch counterpart of tests/bench/all_reduce.cu: the one-shot all-reduce of
torch.distributed._symmetric_memory (torch.ops.symm_mem.one_shot_all_reduce_out, or
one_shot_all_reduce where the _out form is missing), bf16 sum, sizes 1 KiB .. 64 MiB (x4).

Input: a slice at offset 0 of one symm_mem.empty buffer of 64 MiB (rendezvoused once); output: an
ordinary CUDA tensor. 20 back-to-back all-reduces are captured into one CUDA graph and replayed;
where capture fails (on any rank) the same 20 calls run eagerly instead ("mode" says which).
5 warm-up replays; 5 trials of R replays (R by size, as in all_reduce.cu), a dist.barrier and a
synchronisation before each; rank 0 times each trial with CUDA events. Reported: the median over
trials of the time per all-reduce, in microseconds. Correctness is checked once per size before
timing: rank r's input is r+1, every output element must be n(n+1)/2.

Run:  python3 tests/bench/torch_symm_mem.py                      (one GPU, world size 1)
      torchrun --standalone --nproc_per_node=N tests/bench/torch_symm_mem.py   (N GPUs)
      --backend CUDA|NCCL|NVSHMEM  selects the symmetric-memory backend (default: PyTorch's).
Prints one JSON object on stdout (rank 0; progress on stderr). Where something needed is
unavailable (no GPU, no torch, no symm_mem op, rendezvous refused) it prints {"error": "..."}
and exits 0.
"""
import json
import os
import statistics
import sys
import traceback

KIB = 1024
MIB = KIB * KIB
SIZES = [KIB, 4 * KIB, 16 * KIB, 64 * KIB, 256 * KIB, MIB, 4 * MIB, 16 * MIB, 64 * MIB]
MAX_BYTES = 64 * MIB
OPS_PER_GRAPH = 20
WARMUP_REPLAYS = 5
TRIALS = 5


def replays_for(nbytes):
    return 50 if nbytes <= 256 * KIB else 20 if nbytes <= 4 * MIB else 5


def log(msg):
    print(f"torch_symm_mem: {msg}", file=sys.stderr, flush=True)


def bail(msg):
    """Prints {"error": msg} (rank 0 only under torchrun) and exits 0."""
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"error": msg}), flush=True)
    sys.exit(0)


def parse_backend(argv):
    if "--backend" in argv:
        i = argv.index("--backend")
        if i + 1 < len(argv):
            return argv[i + 1]
        bail("--backend needs a value (CUDA, NCCL or NVSHMEM)")
    return None


def main():
    backend = parse_backend(sys.argv[1:])
    try:
        import torch
        import torch.distributed as dist
        import torch.distributed._symmetric_memory as symm_mem
    except Exception as e:  # ImportError, or a build without distributed
        bail(f"PyTorch with torch.distributed._symmetric_memory is not available: {e!r}")

    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        bail("no GPU")
    if not dist.is_available() or not dist.is_nccl_available():
        bail("torch.distributed with NCCL is not available")
    for name in ("empty", "rendezvous"):
        if not hasattr(symm_mem, name):
            bail(f"torch.distributed._symmetric_memory.{name} is missing")
    ops = torch.ops.symm_mem
    if hasattr(ops, "one_shot_all_reduce_out"):
        op_name = "one_shot_all_reduce_out"
    elif hasattr(ops, "one_shot_all_reduce"):
        op_name = "one_shot_all_reduce"
    else:
        bail("torch.ops.symm_mem.one_shot_all_reduce is missing")

    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    torchrun = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    local_rank = int(os.environ.get("LOCAL_RANK", "0")) if torchrun else 0
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    try:
        if torchrun:
            dist.init_process_group("nccl", device_id=device)
        else:
            dist.init_process_group("nccl", init_method="tcp://127.0.0.1:29511", rank=0, world_size=1, device_id=device)
    except Exception as e:
        bail(f"init_process_group failed: {e!r}")
    rank, world = dist.get_rank(), dist.get_world_size()
    group_name = dist.group.WORLD.group_name

    try:
        if backend is not None:
            symm_mem.set_backend(backend)
        dist.all_reduce(torch.ones(1, device=device))  # creates the NCCL communicator now
        if hasattr(symm_mem, "enable_symm_mem_for_group"):  # needed before 2.9-ish, harmless after
            try:
                symm_mem.enable_symm_mem_for_group(group_name)
            except Exception:
                pass
        buf = symm_mem.empty(MAX_BYTES // 2, dtype=torch.bfloat16, device=device)
        symm_mem.rendezvous(buf, group=group_name)
        out_buf = torch.empty(MAX_BYTES // 2, dtype=torch.bfloat16, device=device)
    except Exception as e:
        msg = f"symmetric memory setup failed: {e!r}"
        if rank == 0:
            traceback.print_exc()
        dist.destroy_process_group()
        bail(msg)

    used_backend = backend
    try:
        if hasattr(symm_mem, "get_backend"):
            used_backend = symm_mem.get_backend(device) or backend
    except Exception:
        pass
    try:
        v = torch.cuda.nccl.version()
        nccl_version = ".".join(str(x) for x in v) if isinstance(v, (tuple, list)) else str(v)
    except Exception:
        nccl_version = None

    op = getattr(ops, op_name)
    expected = float(world * (world + 1) // 2)

    def one_call(inp, out):
        if op_name == "one_shot_all_reduce_out":
            op(inp, "sum", group_name, out)
        else:
            out.copy_(op(inp, "sum", group_name))

    def all_ranks(flag):
        t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item())

    use_graph = True
    results = []
    for nbytes in SIZES:
        n = nbytes // 2
        replays = replays_for(nbytes)
        if rank == 0:
            log(f"{nbytes} bytes")
        inp, out = buf[:n], out_buf[:n]
        inp.fill_(float(rank + 1))
        torch.cuda.synchronize()
        dist.barrier()
        entry = {"bytes": nbytes, "elements": n, "graph_replays": replays}
        try:
            # Eager warm-up (PyTorch wants ops run once before capture) on a side stream.
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(3):
                    one_call(inp, out)
            torch.cuda.current_stream().wait_stream(s)
            torch.cuda.synchronize()
            dist.barrier()

            graph = None
            if use_graph:
                ok = True
                try:
                    g = torch.cuda.CUDAGraph()
                    with torch.cuda.graph(g):
                        for _ in range(OPS_PER_GRAPH):
                            one_call(inp, out)
                    graph = g
                except Exception as e:
                    ok = False
                    if rank == 0:
                        log(f"CUDA graph capture failed, timing eagerly from here on: {e!r}")
                torch.cuda.synchronize()
                if not all_ranks(ok):
                    use_graph, graph = False, None

            def replay():
                if graph is not None:
                    graph.replay()
                else:
                    for _ in range(OPS_PER_GRAPH):
                        one_call(inp, out)

            out.fill_(float("nan"))
            torch.cuda.synchronize()
            dist.barrier()
            replay()
            torch.cuda.synchronize()
            correct = all_ranks(bool(torch.all(out == expected).item()))

            for _ in range(WARMUP_REPLAYS):
                replay()
            torch.cuda.synchronize()
            per_op_us = []
            start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            for _ in range(TRIALS):
                dist.barrier()
                torch.cuda.synchronize()
                start.record()
                for _ in range(replays):
                    replay()
                stop.record()
                torch.cuda.synchronize()
                per_op_us.append(start.elapsed_time(stop) * 1000.0 / (replays * OPS_PER_GRAPH))
            entry["mode"] = "cuda_graph" if graph is not None else "eager"
            entry["torch_symm_mem_one_shot_us"] = round(statistics.median(per_op_us), 3)
            entry["correct"] = correct
            del graph
        except Exception as e:
            if rank == 0:
                traceback.print_exc()
            entry["torch_symm_mem_one_shot_us"] = None
            entry["correct"] = False
            entry["error"] = repr(e)
        results.append(entry)

    torch.cuda.synchronize()
    dist.barrier()
    if rank == 0:
        modes = sorted({e["mode"] for e in results if "mode" in e})
        print(json.dumps({
            "gpu": torch.cuda.get_device_name(device),
            "gpus": world,
            "torch": torch.__version__,
            "nccl": nccl_version,
            "symm_mem_backend": str(used_backend) if used_backend is not None else "default",
            "op": f"torch.ops.symm_mem.{op_name}",
            "mode": modes[0] if len(modes) == 1 else ",".join(modes) or "none",
            "dtype": "bf16",
            "ops_per_graph": OPS_PER_GRAPH,
            "trials": TRIALS,
            "statistic": "median over trials of CUDA-event time per all-reduce on rank 0, us",
            "sizes": results,
        }), flush=True)
    del buf, out_buf
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
