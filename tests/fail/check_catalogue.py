#!/usr/bin/env python3
"""Every compile-time error message has a compile-fail test.

Lists the messages of the `static_assert`s under INCLUDE (string literals starting with
"ctgraph:", adjacent literals joined, C escapes undone) and of the error catalogue's rows (the
third column of `X(code, "brief", "message")` in `#define CTGRAPH_ERRORS(X)`) and the `// expect: ` regexes of
FAIL_DIR/*.cpp (CMake regexes, read as Python regexes: the syntax they share). Fails, naming
the message, when no regex matches a message, and, naming the test, when a regex that starts
with "ctgraph:" matches no message (a test left behind by a reworded message).

  check_catalogue.py INCLUDE FAIL_DIR
"""
import os, re, sys

LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'", "?": "?"}


def unescape(s):
    return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(1)), s)


def static_assert_messages(text):
    """The message of each static_assert in `text` (C++ source), as the compiler prints it."""
    text = re.sub(r"//[^\n]*", "", text)
    for m in re.finditer(r"\bstatic_assert\s*\(", text):
        depth, i, literals = 1, m.end(), []
        while i < len(text) and depth:
            c = text[i]
            if c == '"':
                lit = LITERAL.match(text, i)
                literals.append((i, lit.group(1)))
                i = lit.end()
                continue
            if c == "'":
                i = re.compile(r"'(?:[^'\\]|\\.)*'").match(text, i).end()
                continue
            depth += {"(": 1, ")": -1}.get(c, 0)
            i += 1
        # The message: the last run of adjacent literals.
        run, end = [], None
        for pos, lit in literals:
            if end is not None and text[end:pos].strip():
                run = []
            run.append(lit)
            end = pos + len(lit) + 2
        message = unescape("".join(run))
        if message.startswith("ctgraph:"):
            yield message


ROW = re.compile(r'X\(\s*(\w+)\s*,\s*((?:"(?:[^"\\]|\\.)*"\s*)+),\s*((?:"(?:[^"\\]|\\.)*"\s*)+)\)')


def catalogue_messages(text):
    """The compile-time message of each row of the CTGRAPH_ERRORS catalogue in `text`."""
    m = re.search(r"#define CTGRAPH_ERRORS\(X\)((?:[^\n]*\\\n)*[^\n]*)", text)
    if not m:
        return
    for row in ROW.finditer(m.group(1).replace("\\\n", " ")):
        message = unescape("".join(LITERAL.findall(row.group(3))))
        if message.startswith("ctgraph:"):
            yield message


def all_messages(include):
    """message -> the first header under `include` that has it (static_asserts and catalogue rows)."""
    messages = {}
    for dirpath, _, files in os.walk(include):
        for name in sorted(files):
            if name.endswith((".hpp", ".cuh", ".h")):
                path = os.path.join(dirpath, name)
                text = open(path, encoding="utf-8").read()
                for msg in [*static_assert_messages(text), *catalogue_messages(text)]:
                    messages.setdefault(msg, os.path.relpath(path, include))
    return messages


def main():
    include, fail_dir = sys.argv[1], sys.argv[2]
    messages = all_messages(include)
    expects = []  # (test, regex)
    for name in sorted(os.listdir(fail_dir)):
        if name.endswith((".cpp", ".cu")):
            for line in open(os.path.join(fail_dir, name), encoding="utf-8"):
                if line.startswith("// expect: "):
                    expects.append((name, line[len("// expect: "):].rstrip("\n")))
    errors = []
    compiled = []
    for test, regex in expects:
        try:
            compiled.append((test, regex, re.compile(regex)))
        except re.error as e:
            errors.append(f"tests/fail/{test}: '// expect: {regex}' is not a regex: {e}")
    covered = 0
    for msg, header in sorted(messages.items(), key=lambda kv: kv[1]):
        tests = [t for t, _, r in compiled if r.search(msg)]
        if tests:
            covered += 1
        else:
            errors.append(f"no compile-fail test for the message of {header}: \"{msg}\"")
    for test, regex, r in compiled:
        if regex.startswith("ctgraph:") and not any(r.search(m) for m in messages):
            errors.append(f"tests/fail/{test}: '// expect: {regex}' matches no static_assert message")
    if len(messages) < 10:
        errors.append(f"only {len(messages)} messages found under {include}: is the parser broken?")
    for e in errors:
        print(e)
    print(f"{len(messages)} messages, {covered} with a compile-fail test ({len(expects)} expect lines)")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
