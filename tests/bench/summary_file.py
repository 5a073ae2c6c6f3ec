"""The benchmarks' summary file (tests/bench/results/summary.json): one flat JSON object of
"workload.variant.metric" -> number, written with json.dump(indent=1, sort_keys=True). Each
benchmark merges its own keys; keys it does not write are kept (harness.hpp does the same in C++)."""
import json


def merge(path, entries):
    """Adds or updates `entries` in the summary at `path` (a missing file is an empty summary)."""
    try:
        with open(path) as f:
            summary = json.load(f)
    except FileNotFoundError:
        summary = {}
    summary.update(entries)
    with open(path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")
