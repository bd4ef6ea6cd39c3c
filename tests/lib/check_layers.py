#!/usr/bin/env python3
"""The layering rules of docs/architecture.md, checked on the source and
the built objects: bindings/ make no libpq or libcurl call; the engine's
PostgreSQL handles are opaque outside engine/; no two files use each
other's symbols, directly or round a longer circle; no binding file has an
engine file's name, and no binding exports a function with the engine's
PostgreSQL, HTTP or JSON prefix; no assert in either. Usage: check_layers.py SOURCE_DIR OBJECT_DIR..."""
import glob
import os
import re
import subprocess
import sys

src = sys.argv[1]
problems = []

# 1. No libpq or libcurl in bindings/.
call = re.compile(r"\b(PQ[a-zA-Z]+|curl_[a-z_]+)\s*\(")
include = re.compile(r'#include\s*[<"](libpq-fe\.h|curl/curl\.h)[>"]')
for path in sorted(glob.glob(os.path.join(src, "bindings", "*.[ch]"))):
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if call.search(line) or include.search(line):
            problems.append(f"{os.path.relpath(path, src)}:{n}: libpq/libcurl in a binding: {line.strip()}")

# 2. Opaque handles: their structs are defined only in engine-private headers or .c files.
for name in ("se_pg_conn", "se_pg_upsert", "se_pg_writer", "se_pg_rows"):
    for path in glob.glob(os.path.join(src, "engine", "*.h")) + glob.glob(os.path.join(src, "bindings", "*.h")):
        if path.endswith("_impl.h"):
            continue
        if re.search(r"struct\s+" + name + r"\s*\{", open(path, encoding="utf-8").read()):
            problems.append(f"{os.path.relpath(path, src)}: struct {name} is defined in a public header")
    for path in glob.glob(os.path.join(src, "bindings", "*.[ch]")):
        if "_impl.h" in open(path, encoding="utf-8").read():
            problems.append(f"{os.path.relpath(path, src)}: a binding includes an engine-private header")

# 3. Names: no binding file is named like an engine file; bindings export no se_pg_, se_http_ or se_json_ symbol.
engine_names = {os.path.basename(p) for p in glob.glob(os.path.join(src, "engine", "*.[ch]"))}
for path in glob.glob(os.path.join(src, "bindings", "*.[ch]")):
    if os.path.basename(path) in engine_names:
        problems.append(f"{os.path.relpath(path, src)}: has the name of an engine file")

# 4. No assert in engine/ or bindings/: NDEBUG changes no compiled line, so a clang Debug
#    build warns as the clang build with optimisation does (tools/build_matrix.sh).
for path in sorted(glob.glob(os.path.join(src, "engine", "*.[ch]")) + glob.glob(os.path.join(src, "bindings", "*.[ch]"))):
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if re.search(r"\bassert\s*\(|\bNDEBUG\b|<assert\.h>", line):
            problems.append(f"{os.path.relpath(path, src)}:{n}: assert or NDEBUG (see tools/build_matrix.sh)")

# 5. No circles between object files (who defines and who uses each global symbol).
defines, uses = {}, {}
for objdir in sys.argv[2:]:
    folder = "bindings" if objdir.rstrip("/").endswith("bindings") else "engine"
    for obj in glob.glob(os.path.join(objdir, "*.c.o")):
        name = os.path.basename(obj)[: -len(".c.o")]
        if not os.path.exists(os.path.join(src, folder, name + ".c")):
            continue  # left over from a file since renamed
        out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
        d, u = set(), set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "U":
                u.add(parts[1])
            elif len(parts) == 3 and parts[1] in "TDBR":
                d.add(parts[2])
        defines[name] = d
        uses[name] = u
        if folder == "bindings":
            for sym in sorted(d):
                if sym.startswith(("se_pg_", "se_http_", "se_json_")):
                    problems.append(f"bindings/{name}.c exports {sym}, the engine's prefix")
owner = {sym: f for f, syms in defines.items() for sym in syms}
edges = {f: sorted({owner[s] for s in uses[f] if s in owner and owner[s] != f}) for f in defines}
state, stack = {}, []


def visit(f):
    state[f] = 1
    stack.append(f)
    for g in edges[f]:
        if state.get(g) == 1:
            problems.append("files in a circle: " + " -> ".join(stack[stack.index(g):] + [g]))
        elif g not in state:
            visit(g)
    stack.pop()
    state[f] = 2


for f in sorted(edges):
    if f not in state:
        visit(f)
if not defines:
    problems.append("no object files found in " + " ".join(sys.argv[2:]))

for p in problems:
    print(p)
print(f"{len(problems)} problem(s); {len(defines)} object files checked")
sys.exit(1 if problems else 0)
