"""Documentation references resolve: every ``docs/<name>.md`` / ``docs/<name>.png`` named in the
repository's sources, configs, scripts and Markdown exists, and nothing cites the design guide
that lives outside the repository (the notes the code relies on are docs/design.md). The README is
the user's path: short, status first, its test command the one CI runs, every file it names real."""

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


README = os.path.join(ROOT, "README.md")
README_MAX_LINES = 250
# Repository paths the README names: under a top-level folder of the project, or a root entry point.
README_PATH = re.compile(
    r"(?<![\w./-])((?:scripts|configs|src|docs|weights|ascend310_infer|bench|tests|\.ci)/[\w./-]*[\w/])"
)
README_ENTRY = re.compile(r"\bpython (\w+\.py)\b")
README_BARE_CONFIG = re.compile(r"`(\w+\.yaml)`")


def readme_sections():
    return [ln[3:].strip() for ln in read(README).splitlines() if ln.startswith("## ")]


def test_readme_is_short_and_starts_with_the_status():
    """The README is the user path (lab material lives in docs/), and what ran where comes first."""
    lines = read(README).splitlines()
    assert (
        len(lines) <= README_MAX_LINES
    ), f"README.md has {len(lines)} lines (at most {README_MAX_LINES}); move details to a docs/ page and link it"
    sections = readme_sections()
    assert sections and sections[0].lower().startswith("status"), f"first README section is {sections[:1]}"
    for must in ("Quick start", "Architecture", "Data", "Training", "Evaluation", "Results", "Tests"):
        assert any(s.startswith(must) for s in sections), f"README has no '{must}' section: {sections}"


def test_readme_test_command_is_what_ci_runs():
    ci_calls = [ln.strip() for ln in read(os.path.join(ROOT, ".ci", "run")).splitlines() if "run_tests.sh" in ln]
    assert ci_calls, ".ci/run no longer calls scripts/run_tests.sh"
    readme_commands = {ln.split("#")[0].strip() for ln in read(README).splitlines()}
    for call in ci_calls:
        assert call in readme_commands, f"README does not show the test command .ci/run runs: {call!r}"


def test_every_file_the_readme_names_exists():
    text = read(README)
    missing = [p for p in sorted(set(README_PATH.findall(text))) if not os.path.exists(os.path.join(ROOT, p))]
    missing += [p for p in sorted(set(README_ENTRY.findall(text))) if not os.path.isfile(os.path.join(ROOT, p))]
    # a bare file name on a line that names configs/ (a table row of overlays) is a config file too
    config_names = {n for _, _, names in os.walk(os.path.join(ROOT, "configs")) for n in names}
    bare = {n for ln in text.splitlines() if "configs/" in ln for n in README_BARE_CONFIG.findall(ln)}
    missing += [f"configs/**/{n}" for n in sorted(bare) if n not in config_names]
    assert not missing, "README.md names files that do not exist: " + ", ".join(missing)
