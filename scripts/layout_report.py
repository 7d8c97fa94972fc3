#!/usr/bin/env python3
"""Prints the layout figures the project tracks: the largest non-test source
file, the longest functions, and import cycles between each crate's top-level
modules. Run from the repository root: `python3 scripts/layout_report.py`.
(Repeated blocks are counted by a separate duplicate finder.)"""
import os
import re
import sys

ROOTS = ["runtime", "trainer", "firmware-example"]
SKIP_DIRS = {"target", "tests", "benches", "fuzz", ".git", "examples"}


def source_files():
    for root in ROOTS:
        for dirpath, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
            for f in files:
                if f.endswith(".rs"):
                    yield os.path.join(dirpath, f)


def strip(text):
    """The text with comments, strings and char literals blanked (lines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"' or (c == "r" and re.match(r'r#*"', text[i:i + 8]) and not text[i - 1].isalnum()):
            m = re.match(r'r(#*)"', text[i:i + 8]) if c == "r" else None
            if m:
                end = '"' + m.group(1)
                j = text.find(end, i + len(m.group(0)))
                j = n if j < 0 else j + len(end)
            else:
                j = i + 1
                while j < n and text[j] != '"':
                    j += 2 if text[j] == "\\" else 1
                j += 1
            out.append('""' + "\n" * text.count("\n", i, j))
            i = j
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\", i):
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", text[i:i + 12])
            if m:
                out.append("' '")
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def non_test_lines(lines):
    for k, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]" and k + 1 < len(lines) and lines[k + 1].strip().startswith("mod tests"):
            return k
    return len(lines)


FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)")


def functions(path):
    text = strip(open(path, encoding="utf-8").read())
    lines = text.split("\n")
    limit = non_test_lines(open(path, encoding="utf-8").read().split("\n"))
    for m in FN.finditer(text):
        start_line = text.count("\n", 0, m.start())
        if start_line >= limit:
            continue
        depth, i = 0, m.end()
        while i < len(text) and text[i] not in "{;":
            i += 1
        if i >= len(text) or text[i] == ";":
            continue
        j = i
        while j < len(text):
            if text[j] == "{":
                depth += 1
            elif text[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        end_line = text.count("\n", 0, j)
        yield end_line - start_line + 1, m.group(1), start_line + 1


def crate_of(path):
    parts = path.split(os.sep)
    k = parts.index("src")
    return os.sep.join(parts[:k]), parts[k + 1:]


def top_module(rel):
    first = rel[0]
    return first[:-3] if first.endswith(".rs") else first


def module_graph():
    graphs = {}
    for path in source_files():
        if os.sep + "src" + os.sep not in path:
            continue
        crate, rel = crate_of(path)
        if rel[0] in ("main.rs", "lib.rs", "build.rs") or rel[0] == "bin":
            continue
        me = top_module(rel)
        raw = open(path, encoding="utf-8").read().split("\n")
        text = "\n".join(strip("\n".join(raw)).split("\n")[:non_test_lines(raw)])
        deps = set()
        for m in re.finditer(r"\bcrate::([a-z_][a-z0-9_]*)", text):
            deps.add(m.group(1))
        for m in re.finditer(r"\buse\s+crate::\{([^}]*)\}", text):
            for name in re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", m.group(1)):
                deps.add(name)
        g = graphs.setdefault(crate, {})
        g.setdefault(me, set()).update(d for d in deps if d != me)
    return graphs


def cycles(graph):
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    files = []
    fns = []
    for path in source_files():
        raw = open(path, encoding="utf-8").read().split("\n")
        files.append((non_test_lines(raw), path))
        for length, name, line in functions(path):
            fns.append((length, f"{path}:{line} {name}"))
    files.sort(reverse=True)
    fns.sort(reverse=True)
    print("largest non-test source files (lines before `mod tests`):")
    for n, p in files[:5]:
        print(f"  {n:5} {p}")
    print("longest functions (lines):")
    for n, p in fns[:8]:
        print(f"  {n:5} {p}")
    print("import cycles between a crate's top-level modules:")
    total = 0
    for crate, g in sorted(module_graph().items()):
        for comp in cycles(g):
            total += 1
            print(f"  {crate}: {' <-> '.join(comp)}")
    print(f"  {total} in all")


if __name__ == "__main__":
    sys.exit(main())
