#!/usr/bin/env python3
"""Generate single_include/lowbit/lowbit.hpp, lowbit as one header.

Usage: scripts/amalgamate.py [-o OUTPUT] [ROOT_HEADER]

Starts at include/lowbit/lowbit.hpp (or ROOT_HEADER, relative to include/) and
replaces every quoted include of one of lowbit's own headers by that header's
text, depth first, so each header lands before the code that includes it.

- A header with `#pragma once` is inlined once, at its first include; later
  includes of it become a comment. If that first include sits inside an
  #if block (e.g. the x86 kernels, included only on x86 with GCC/Clang), the
  text gets an include guard instead and stays eligible for a later,
  unconditional include, so the single header means what the tree means on
  every platform. A later include from inside the same #if branch (or one
  nested in it) becomes a comment: the guarded copy is compiled wherever that
  branch is (kernels/detail/typed_family.hpp reaches the kernel bodies only
  under #if; their shared headers would otherwise be repeated in every copy
  of body.inl).
- A file without `#pragma once` (kernels/detail/x86/body.inl, stamped out once
  per instruction set) is inlined at every include, as the preprocessor would.
- Angle-bracket includes (the standard library, intrinsics headers)
  are kept where they are, inside their #if blocks.

The output is deterministic (no dates, no absolute paths), so a test can
regenerate it and diff it with the checked-in copy (tests/consumers/run.sh
amalgamation). Python 3 standard library only.
"""

import argparse
import os
import re
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE_DIR = os.path.join(REPO, "include")
DEFAULT_ROOT = "lowbit/lowbit.hpp"
DEFAULT_OUTPUT = os.path.join(REPO, "single_include", "lowbit", "lowbit.hpp")

QUOTED_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
PRAGMA_ONCE = re.compile(r"^\s*#\s*pragma\s+once\b")
OPENS_CONDITIONAL = re.compile(r"^\s*#\s*if(n?def)?\b")
CLOSES_CONDITIONAL = re.compile(r"^\s*#\s*endif\b")
SWITCHES_BRANCH = re.compile(r"^\s*#\s*(else|elif)\b")


def project_version():
    with open(os.path.join(REPO, "CMakeLists.txt"), encoding="utf-8") as f:
        m = re.search(r"project\(\s*lowbit\s+VERSION\s+([0-9.]+)", f.read())
    return m.group(1) if m else "unknown"


class Amalgamator:
    def __init__(self):
        self.done = set()  # pragma-once headers inlined unconditionally
        self.guarded = set()  # pragma-once headers inlined with an include guard
        self.guarded_in = {}  # such a header -> the #if branches (stacks of branch ids) it was inlined in
        self.branches = []  # the open #if branches, outermost first, across the include chain
        self.next_branch = 0
        self.stack = []  # include chain, to report cycles

    def new_branch(self):
        self.next_branch += 1
        return self.next_branch

    @staticmethod
    def rel(path):
        return os.path.relpath(path, INCLUDE_DIR).replace(os.sep, "/")

    def resolve(self, name, including_dir):
        for base in (including_dir, INCLUDE_DIR):
            candidate = os.path.normpath(os.path.join(base, name))
            if os.path.isfile(candidate):
                return candidate
        return None

    def expand(self, path, depth, out):
        """Append the text of `path` to `out`; `depth` is the number of open
        #if blocks around the include that brought us here."""
        rel = self.rel(path)
        if path in self.stack:
            chain = " -> ".join(self.rel(p) for p in self.stack + [path])
            sys.exit(f"amalgamate.py: include cycle: {chain}")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        once = any(PRAGMA_ONCE.match(line) for line in lines)
        guard = None
        if once:
            if path in self.done:
                out.append(f"// ({rel}: already included above)")
                return
            here = tuple(self.branches)
            if any(here[: len(b)] == b for b in self.guarded_in.get(path, [])):
                out.append(f"// ({rel}: already included above, in an enclosing #if branch)")
                return
            # Guarded when included under an #if, and again at a later
            # unconditional include of a header guarded before (the guard then
            # skips it where the conditional copy was compiled).
            if depth > 0 or path in self.guarded:
                guard = "LOWBIT_AMALGAMATED_" + re.sub(r"[^A-Za-z0-9]", "_", rel).upper()
                self.guarded.add(path)
                self.guarded_in.setdefault(path, []).append(tuple(self.branches))
            if depth == 0:
                self.done.add(path)

        self.stack.append(path)
        out.append(f"// ---- begin {rel} " + "-" * max(4, 70 - len(rel)))
        if guard:
            out.append(f"#ifndef {guard}")
            out.append(f"#define {guard}")
        local_depth = 0
        for line in lines:
            if PRAGMA_ONCE.match(line):
                continue
            if OPENS_CONDITIONAL.match(line):
                local_depth += 1
                self.branches.append(self.new_branch())
            elif SWITCHES_BRANCH.match(line):
                self.branches[-1] = self.new_branch()
            elif CLOSES_CONDITIONAL.match(line):
                local_depth -= 1
                self.branches.pop()
            m = QUOTED_INCLUDE.match(line)
            if m:
                target = self.resolve(m.group(1), os.path.dirname(path))
                if target is None:
                    sys.exit(f"amalgamate.py: {rel}: cannot find \"{m.group(1)}\"")
                self.expand(target, depth + local_depth, out)
                continue
            out.append(line)
        if guard:
            out.append(f"#endif  // {guard}")
        out.append(f"// ---- end {rel} " + "-" * max(4, 72 - len(rel)))
        self.stack.pop()


def amalgamate(root):
    root_path = os.path.join(INCLUDE_DIR, root)
    if not os.path.isfile(root_path):
        sys.exit(f"amalgamate.py: no such header: {root_path}")
    version = project_version()
    out = [
        f"// lowbit {version} — single-header build of <{root}>.",
        "// GENERATED by scripts/amalgamate.py from include/; do not edit. Change the",
        "// headers under include/ and run `python3 scripts/amalgamate.py` instead",
        "// (a test fails while this file is out of date). Needs only the standard",
        "// library and -pthread, like include/ does; see docs/install.md.",
        "#pragma once",
        "",
    ]
    Amalgamator().expand(root_path, 0, out)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", nargs="?", default=DEFAULT_ROOT,
                    help=f"header to start from, relative to include/ (default {DEFAULT_ROOT})")
    ap.add_argument("-o", "--output", default=DEFAULT_OUTPUT,
                    help="output file (default single_include/lowbit/lowbit.hpp); - for stdout")
    args = ap.parse_args()
    text = amalgamate(args.root)
    if args.output == "-":
        sys.stdout.write(text)
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


if __name__ == "__main__":
    main()
