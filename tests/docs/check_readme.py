#!/usr/bin/env python3
"""Keeps README.md honest. Each ```cpp block has one of these markers (the HTML comment just
before it):
 - none, or `<!-- compiled -->`: a complete translation unit, compiled. Runtime code (it includes
   <ctgraph/runtime.hpp> or launches a kernel) needs nvcc; in the host run it is left to the
   nvcc run;
 - `<!-- excerpt: FILE -->`: taken from FILE, which the build compiles (FILE's stem is named in
   the CMakeLists.txt of its folder): the block's code lines (// comments dropped, whitespace
   trimmed) appear in FILE in the same order, each after the previous one;
 - `<!-- fragment -->`: shows a piece of an API, not code to copy; checked by nothing.
Every message of the "## Errors" table is the start of a `static_assert` message under
include/ that a compile-fail test expects (tests/fail/check_catalogue.py).

  check_readme.py README ROOT --cxx CXX [-I DIR]...                       (host blocks, excerpts, errors)
  check_readme.py README ROOT --nvcc [NVCC] [-I DIR]... [--cuda-include DIR... | --no-runtime]
                                                        (every compiled block, by nvcc)
The nvcc run exits 77 (skipped) where nvcc is missing (default /usr/local/cuda/bin/nvcc) or, after
the host blocks, with --no-runtime (no CUDA toolkit or NCCL) when there are runtime blocks.
Exits 1 with what is wrong.
"""
import argparse, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fail"))
import check_catalogue  # noqa: E402

SKIPPED = 77


def blocks(text):
    """(line number, marker, code) for each fenced cpp block; marker = the HTML comment just before it."""
    for m in re.finditer(r"(<!--\s*(.*?)\s*-->\s*\n)?```cpp\n(.*?)```", text, re.S):
        yield text.count("\n", 0, m.start(3)), (m.group(2) or "").strip(), m.group(3)


def code_lines(code):
    for line in code.splitlines():
        line = re.sub(r"\s*//.*$", "", line).strip()
        if line:
            yield line


def is_cuda(code):
    return "<ctgraph/runtime.hpp>" in code or "<<<" in code or "__global__" in code


def compile_block(cmd, code, suffix):
    with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as f:
        f.write(code)
    try:
        p = subprocess.run(cmd + [f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    return p.returncode == 0, (p.stdout + p.stderr)[-3000:]


def check_excerpt(root, rel, code):
    """What is wrong with an excerpt of `rel`: lines missing, or out of order."""
    path = os.path.join(root, rel)
    if not os.path.isfile(path):
        return [f"excerpt source {rel} does not exist"]
    errors = []
    folder, stem = os.path.split(path)
    lists = os.path.join(folder, "CMakeLists.txt")
    if not (os.path.isfile(lists) and os.path.splitext(os.path.basename(rel))[0] in open(lists).read()):
        errors.append(f"excerpt source {rel} is not built: its name is not in {os.path.relpath(lists, root)}")
    source = list(code_lines(open(path).read()))
    at = -1
    for line in code_lines(code):
        try:
            at = source.index(line, at + 1)
        except ValueError:
            where = "out of order (it is earlier in the file)" if line in source else "not in the file"
            errors.append(f"excerpt of {rel}: line {where}: {line}")
    return errors


def error_table(text):
    """The message starts of the "## Errors" table: every `...` in its second column, split at ' / '."""
    section = text.split("\n## Errors", 1)[1].split("\n## ", 1)[0]
    for row in section.splitlines():
        if not row.startswith("|") or row.startswith("|---") or row.startswith("| cause"):
            continue
        cells = [c.strip() for c in row.strip("|").split("|")]
        for msg in re.findall(r"`([^`]+)`", cells[1]):
            for part in msg.split(" / "):
                yield part.strip()


def check_errors(root, text):
    """Each table entry is the start of a header message (its words in order; a leading '...' continues
    the entry before it) that a compile-fail test expects."""
    include, fail_dir = os.path.join(root, "include"), os.path.join(root, "tests", "fail")
    messages = set(check_catalogue.all_messages(include))
    expects = []
    for name in os.listdir(fail_dir):
        if name.endswith((".cpp", ".cu")):
            expects += [l[len("// expect: "):].rstrip("\n") for l in open(os.path.join(fail_dir, name))
                        if l.startswith("// expect: ")]
    errors, documented, count = [], set(), 0
    for part in error_table(text):
        count += 1
        words = [w for w in re.split(r"\s+|\.\.\.", part) if w]
        pattern = re.compile(("" if part.startswith("...") else "ctgraph: ") + ".*?".join(map(re.escape, words)))
        found = [m for m in messages if (pattern.search if part.startswith("...") else pattern.match)(m)]
        if not found:
            errors.append(f"README error message is no static_assert message under include/: {part}")
        for m in found:
            documented.add(m)
            if not any(re.search(e, m) for e in expects):
                errors.append(f"README error message without a compile-fail test: {part}")
    for m in sorted(messages - documented):
        print(f"note: not in the README's error table: {m}")
    return errors, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("readme")
    ap.add_argument("root")
    ap.add_argument("--cxx")
    ap.add_argument("--nvcc", nargs="?", const="/usr/local/cuda/bin/nvcc")
    ap.add_argument("-I", dest="includes", action="append", default=[])
    ap.add_argument("--cuda-include", action="append", default=[])
    ap.add_argument("--no-runtime", action="store_true", help="no CUDA toolkit or NCCL: skip runtime blocks")
    a = ap.parse_args()
    text = open(a.readme).read()
    errors, compiled, cuda_left, excerpts, fragments, skipped = [], 0, 0, 0, 0, 0
    inc = [f"-I{d}" for d in a.includes]
    if a.nvcc is not None and not os.access(a.nvcc, os.X_OK):
        print(f"skipped: no nvcc at {a.nvcc}")
        sys.exit(SKIPPED)
    for line, marker, code in blocks(text):
        where = f"{os.path.basename(a.readme)}:{line}"
        if marker in ("", "compiled"):
            if a.nvcc and is_cuda(code) and a.no_runtime:
                skipped += 1
                continue
            if a.nvcc:
                cuda = [f"-I{d}" for d in a.cuda_include] if is_cuda(code) else []
                cmd = [a.nvcc, "-std=c++20", "-x", "cu"] + inc + cuda + ["-c", "-o", os.devnull]
                ok, out = compile_block(cmd, code, ".cu")
            elif is_cuda(code):
                cuda_left += 1
                continue
            else:
                ok, out = compile_block([a.cxx, "-std=c++20", "-fsyntax-only"] + inc, code, ".cpp")
            compiled += 1
            if not ok:
                errors.append(f"{where}: a README block does not compile:\n{out}")
        elif marker.startswith("excerpt:"):
            excerpts += 1
            errors += [f"{where}: {e}" for e in check_excerpt(a.root, marker.split(":", 1)[1].strip(), code)]
        elif marker == "fragment":
            fragments += 1
        else:
            errors.append(f"{where}: unknown marker '<!-- {marker} -->' (compiled, excerpt: FILE or fragment)")
    if a.nvcc:
        summary = f"{compiled} blocks compiled by nvcc, {skipped} runtime blocks skipped (no CUDA toolkit or NCCL)"
        if compiled == 0:
            errors.append("no compiled block found: markers missing?")
    else:
        messages_errors, messages = check_errors(a.root, text)
        errors += messages_errors
        summary = (f"{compiled} blocks compiled, {cuda_left} runtime blocks left to the nvcc run, {excerpts} excerpts "
                   f"in order, {fragments} fragments, {messages} error-table messages checked")
        if compiled == 0 or excerpts == 0 or messages < 10:
            errors.append(f"{summary}: markers missing?")
    for e in errors:
        print(e)
    print(summary)
    sys.exit(1 if errors else SKIPPED if skipped else 0)


if __name__ == "__main__":
    main()
