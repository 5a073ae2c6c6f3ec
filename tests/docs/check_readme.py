#!/usr/bin/env python3
"""Keeps README.md honest:
 - a ```cpp block after `<!-- compiled -->` compiles (with the C++ compiler given);
 - a block after `<!-- excerpt: FILE -->` is taken from FILE: each code line (its // comment
   dropped, whitespace trimmed) appears in FILE;
 - every message of the "## Errors" table appears in a compile-fail test's `// expect:` line.
Exits non-zero with what is wrong.

  check_readme.py README.md ROOT CXX [include dirs...]
"""
import os, re, subprocess, sys, tempfile


def blocks(text):
    """(marker, code) for each fenced cpp block, marker = the HTML comment just before it."""
    out = []
    for m in re.finditer(r"(<!--\s*(.*?)\s*-->\s*\n)?```cpp\n(.*?)```", text, re.S):
        out.append((m.group(2) or "", m.group(3)))
    return out


def code_lines(code):
    for line in code.splitlines():
        line = re.sub(r"\s*//.*$", "", line).strip()
        if line:
            yield line


def main():
    readme, root, cxx, includes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    text = open(readme).read()
    errors, compiled, excerpts = [], 0, 0
    for marker, code in blocks(text):
        if marker == "compiled":
            compiled += 1
            with tempfile.NamedTemporaryFile("w", suffix=".cpp", delete=False) as f:
                f.write(code)
            cmd = [cxx, "-std=c++20", "-fsyntax-only"] + [f"-I{d}" for d in includes] + [f.name]
            p = subprocess.run(cmd, capture_output=True, text=True)
            os.unlink(f.name)
            if p.returncode != 0:
                errors.append(f"a compiled README block does not compile:\n{p.stderr[-3000:]}")
        elif marker.startswith("excerpt:"):
            excerpts += 1
            path = os.path.join(root, marker.split(":", 1)[1].strip())
            source = set(code_lines(open(path).read()))
            for line in code_lines(code):
                if line not in source:
                    errors.append(f"README excerpt line not in {path}: {line}")
    # The error catalogue: every message in the table has a compile-fail test.
    section = text.split("## Errors", 1)[1].split("\n## ", 1)[0]
    expects = []
    fail_dir = os.path.join(root, "tests", "fail")
    for name in os.listdir(fail_dir):
        for line in open(os.path.join(fail_dir, name)):
            if line.startswith("// expect: "):
                expects.append(line[len("// expect: "):].strip().replace("\\(", "(").replace("\\)", ")"))
    messages = 0
    for row in section.splitlines():
        if not row.startswith("|") or row.startswith("|---") or row.startswith("| cause"):
            continue
        cells = [c.strip() for c in row.strip("|").split("|")]
        for msg in re.findall(r"`([^`]+)`", cells[1]):
            for part in msg.split(" / "):
                part = part.replace("...", "").strip(" .")
                part = part.replace("(dtypes)", "")  # "shapes (dtypes)" names two messages
                words = [w for w in re.split(r"\s+", part) if w]
                messages += 1
                if not any(all(w in e for w in words) for e in expects):
                    errors.append(f"README error message without a compile-fail test: {part}")
    if compiled == 0 or excerpts == 0 or messages < 10:
        errors.append(f"found {compiled} compiled blocks, {excerpts} excerpts, {messages} messages: markers missing?")
    for e in errors:
        print(e)
    print(f"{compiled} compiled blocks, {excerpts} excerpts, {messages} catalogued messages checked")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
