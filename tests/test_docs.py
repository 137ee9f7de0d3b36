"""Documentation references resolve: every ``docs/<name>.md`` / ``docs/<name>.png`` named in the
repository's sources, configs, scripts and Markdown exists, and nothing cites the design guide
that lives outside the repository (the notes the code relies on are docs/design.md)."""

import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXTENSIONS = (".py", ".yaml", ".yml", ".md", ".sh", ".txt", ".ini", ".cc", ".cpp", ".h")
# Not project text: virtualenv, VCS, caches (anywhere) and what runs write at the top level (.gitignore).
SKIP_ANYWHERE = {"__pycache__", "kernel_meta", "akg_kernel_meta"}
SKIP_TOP = {"runs", "data", "output", "eval_results"}
OUTSIDE_GUIDE = "design".upper() + ".md"  # built, so that this file does not match itself
DOC_REF = re.compile(r"(?<![\w./-])docs/([\w./-]+?\.(?:md|png))(?![\w])")


def project_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        rel = os.path.relpath(dirpath, ROOT)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in SKIP_ANYWHERE
            and not (rel == "." and (d in SKIP_TOP or d.startswith("rank_")))
            and os.path.join(rel, d) != os.path.join("ascend310_infer", "out")
        )
        for name in sorted(filenames):
            if name.endswith(EXTENSIONS) or name == "CMakeLists.txt":
                yield os.path.join(dirpath, name)


def read(path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        return fh.read()


FILES = list(project_files())


def test_the_scan_sees_the_project():
    rels = {os.path.relpath(p, ROOT) for p in FILES}
    for must in (
        "README.md",
        "train.py",
        os.path.join("src", "losses.py"),
        os.path.join("src", "data", "synth.py"),
        os.path.join("docs", "design.md"),
    ):
        assert must in rels
    assert not any(r.startswith(".venv") for r in rels)


def test_no_reference_to_the_outside_design_guide():
    hits = [
        f"{os.path.relpath(p, ROOT)}:{i}"
        for p in FILES
        for i, line in enumerate(read(p).splitlines(), 1)
        if OUTSIDE_GUIDE in line
    ]
    assert not hits, f"{OUTSIDE_GUIDE} is not part of the repository; cite docs/design.md instead: {hits}"


def test_every_docs_reference_exists():
    missing = []
    for path in FILES:
        for i, line in enumerate(read(path).splitlines(), 1):
            for name in DOC_REF.findall(line):
                if not os.path.isfile(os.path.join(ROOT, "docs", name)):
                    missing.append(f"{os.path.relpath(path, ROOT)}:{i}: docs/{name}")
    assert not missing, "references to missing files:\n" + "\n".join(missing)


def test_every_cited_design_heading_exists():
    """Code cites docs/design.md by heading (docs/design.md, "Strategies"); each heading exists."""
    headings = {
        ln.lstrip("#").strip()
        for ln in read(os.path.join(ROOT, "docs", "design.md")).splitlines()
        if ln.startswith("#")
    }
    cite = re.compile(r'docs/design\.md,? \\?"([^"\\]+)\\?"')
    bad = [f"{os.path.relpath(p, ROOT)}: {h!r}" for p in FILES for h in cite.findall(read(p)) if h not in headings]
    assert not bad, "docs/design.md has no such heading:\n" + "\n".join(bad)
