"""The report of `make mutate`: the score per module and every mutant not killed.

mutmut keeps its results next to the mutated copy of each module
(``<dir>/mutants/softmaxlib/<module>.py.meta``, an exit code per mutant) and the
mutants themselves as functions of that copy: ``x_<name>__mutmut_<i>`` beside
``x_<name>__mutmut_orig``, and ``xǁ<Class>ǁ<name>__mutmut_<i>`` for methods. This
script diffs each mutant that was not killed against its original, finds the
changed line in the source, and writes a Markdown report.

A mutant reviewed as equivalent (it cannot change any result) or as out of
reach (its function runs only at import, before mutmut switches a mutant on)
is listed in the equivalents file (TOML) with the changed line as the mutant
has it, so that an entry stops counting when the function changes under it:

    [[equivalent]]
    mutant = "softmaxlib._kernels.x__plan__mutmut_60"
    line = "and q >= ROW_BLOCK"
    kind = "equivalent"  # or "import time", or "same results"
    reason = "..."

The score of a module is killed / (mutants - reviewed): a timeout counts as
killed (the mutant hangs), a mutant that no test reaches as not killed.

    python scripts/mutation_report.py _build/mutate --output mutation/REPORT.md \
        --equivalent mutation/equivalent.toml
    python scripts/mutation_report.py _build/mutate --survivors \
        --equivalent mutation/equivalent.toml  # names not reviewed, one a line
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import pathlib
import re
import sys
import tomllib

# mutmut's exit codes (mutmut/stats.py): what each means for the score
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout"}
KILLED |= {152: "timeout", 255: "timeout", -11: "segfault", -9: "segfault"}
NOT_KILLED = {0: "survived", 5: "no tests", 33: "no tests", None: "not checked"}
NAME = re.compile(r"^(?P<module>.+)\.x(?:ǁ(?P<cls>[^ǁ]+)ǁ|_)(?P<func>.+)__mutmut_\d+$")


def _functions(tree: ast.Module) -> dict[str, ast.AST]:
    """Every function and method of a module by name (``Class.name`` for methods)."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            found[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{node.name}.{item.name}"] = item
    return found


class Module:
    """A mutated module: its results, its mutants' code, its source's functions."""

    def __init__(self, root: pathlib.Path, meta: pathlib.Path):
        self.path = meta.relative_to(root / "mutants").with_suffix("")  # x.py
        self.name = ".".join(self.path.with_suffix("").parts)
        self.results = json.loads(meta.read_text())["exit_code_by_key"]
        mutated = (root / "mutants" / self.path).read_text()
        self._mutated_lines = mutated.splitlines()
        self._mutated = _functions(ast.parse(mutated))
        self.source = (root / self.path).read_text()
        self._original = _functions(ast.parse(self.source))
        self.lines = self.source.splitlines()

    def _code(self, name: str) -> list[str]:
        node = self._mutated[name]
        lines = self._mutated_lines[node.lineno - 1 : node.end_lineno]
        short = name.rpartition(".")[2]
        lines[0] = lines[0].replace(short, "f", 1)  # the def line, without the name
        return lines

    def locate(self, key: str) -> tuple[int, str, str]:
        """(line in the source, the line as it is, the line as the mutant has it)."""
        m = NAME.match(key)
        mangled = key.rpartition(".")[2]
        orig_name = re.sub(r"__mutmut_\d+$", "__mutmut_orig", mangled)
        owner = m["cls"]
        find = (lambda n: f"{owner}.{n}") if owner else (lambda n: n)
        orig, mutant = self._code(find(orig_name)), self._code(find(mangled))
        start = self._original[find(m["func"])].lineno
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            a=orig, b=mutant, autojunk=False
        ).get_opcodes():
            if tag != "equal":
                before = " ".join(s.strip() for s in orig[i1:i2])
                after = " ".join(s.strip() for s in mutant[j1:j2])
                return start + i1, before, after
        return start, "", ""


def load(root: pathlib.Path) -> list[Module]:
    metas = sorted((root / "mutants").rglob("*.py.meta"))
    return [Module(root, meta) for meta in metas]


def sample(modules: list[Module], size: int) -> dict[str, set[str]]:
    """{module: a random sample of ``size`` of its mutants}, the same one for
    the same mutants (a generator seeded with 0, over the sorted names)."""
    import random

    out = {}
    for mod in modules:
        keys = sorted(mod.results, key=_order)
        out[mod.name] = set(random.Random(0).sample(keys, min(size, len(keys))))
    return out


def _status(code) -> str:
    return KILLED.get(code) or NOT_KILLED.get(code) or "suspicious"


def survivors(modules: list[Module], equivalent: dict[str, dict]) -> list[str]:
    """Mutants that were tested and survived, less those reviewed (to be
    tested again)."""
    out = []
    for mod in modules:
        for key, code in mod.results.items():
            if code != 0:
                continue
            _, before, after = mod.locate(key)
            if _review(equivalent, key, before, after) is None:
                out.append(key)
    return out


def _equivalents(path: pathlib.Path | None) -> dict[str, dict]:
    """{mutant: entry}, and under the key None the rules: [[rule]] entries
    whose ``pattern`` (a regular expression) matches the whole changed line of
    a mutant of ``module`` (a prefix of its name) and whose ``original``
    (optional) matches the line before the change."""
    if path is None or not path.exists():
        return {}
    data = tomllib.loads(path.read_text())
    out = {entry["mutant"]: entry for entry in data.get("equivalent", [])}
    out[None] = data.get("rule", [])
    return out


def _review(equivalent: dict, key: str, before: str, after: str) -> dict | None:
    """The entry or rule that covers the mutant ``key``, if any."""
    entry = equivalent.get(key)
    if entry is not None:
        return entry if entry["line"].strip() == after else None
    for rule in equivalent.get(None, []):
        if not key.startswith(rule.get("module", "")):
            continue
        if re.fullmatch(rule["pattern"], after) and re.fullmatch(
            rule.get("original", ".*"), before
        ):
            return rule
    return None


def report(
    modules: list[Module], equivalent: dict[str, dict], drawn: dict | None = None
) -> str:
    rows, details, stale = [], [], []
    totals = [0, 0, 0, 0, 0]
    for mod in modules:
        if not mod.results:
            continue
        killed = equiv = open_ = tested = 0
        listed = []
        chosen = None if drawn is None else drawn[mod.name]
        for key, code in sorted(mod.results.items(), key=lambda kv: _order(kv[0])):
            status = _status(code)
            counted = chosen is None or key in chosen
            if code is None:  # not tested: listed only when it should have been
                if counted:
                    open_ += 1
                continue
            if counted:
                tested += 1
            if code in KILLED:
                killed += counted
                continue
            line, before, after = mod.locate(key)
            entry = _review(equivalent, key, before, after)
            if entry is None and key in equivalent:
                stale.append(key)
            if entry is not None and status == "survived":
                equiv += counted
                kind = entry.get("kind", "equivalent")
                listed.append((line, key, before, after, kind, entry["reason"]))
            else:
                open_ += counted
                listed.append((line, key, before, after, status, ""))
        total = len(mod.results) if chosen is None else len(chosen)
        score = killed / (total - equiv) if total > equiv else 1.0
        of_tested = killed / (tested - equiv) if tested > equiv else 1.0
        rows.append(
            f"| {mod.name} | {total} | {tested} | {killed} | {equiv} | {open_} "
            f"| {score:.1%} | {of_tested:.1%} |"
        )
        for i, value in enumerate((total, tested, killed, equiv, open_)):
            totals[i] += value
        if listed:
            details.append(f"\n### {mod.name} ({mod.path})\n")
            for line, key, before, after, status, reason in sorted(listed):
                name = key.rpartition(".")[2]
                details.append(
                    f"- line {line}, `{name}`, **{status}**: "
                    f"`{before}` becomes `{after}`"
                    + (f"  \n  {reason.strip()}" if reason else "")
                )
    total, tested, killed, equiv, open_ = totals
    score = killed / (total - equiv) if total > equiv else 1.0
    of_tested = killed / (tested - equiv) if tested > equiv else 1.0
    rows.append(
        f"| all | {total} | {tested} | {killed} | {equiv} | {open_} | {score:.1%} "
        f"| {of_tested:.1%} |"
    )
    scope = (
        "every mutant"
        if drawn is None
        else f"a random sample of {max(map(len, drawn.values()))} mutants of "
        "each module (all of a smaller one), drawn with seed 0; the mutants "
        "not killed are listed from every run, sampled or not"
    )
    out = [
        "# Mutation testing of softmaxlib",
        "",
        "Written by `make mutate` (scripts/mutation_report.py) from mutmut's results",
        "in _build/mutate. Each mutant is one small change to one function of",
        "softmaxlib/ (an operator, a constant, a condition, a call's argument); it is",
        "killed when a unit test or doctest of the library fails. Equivalent mutants",
        "change nothing that any caller can observe, and import-time ones change",
        "code that runs only while the module is imported, before mutmut switches",
        "a mutant on; 'same results' ones change only how the work is planned or",
        "which scratch array holds it (chunk sizes, the choice between paths that",
        "give the same bits): every result keeps its bits, and only time and",
        "scratch memory (within the bound the memory tests assert) change. Each is",
        "listed with the reason, from mutation/equivalent.toml (the column",
        "'reviewed'). Score: killed / (mutants - reviewed); a timeout",
        "counts as killed, and a mutant not yet tested as not killed; 'of tested'",
        "is killed / (tested - reviewed).",
        "",
        f"Counted: {scope}.",
        "",
        "| module | mutants | tested | killed | reviewed | not killed | score "
        "| of tested |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        "## Mutants not killed",
        *details,
    ]
    if stale:
        out += [
            "",
            "## Equivalents to review again",
            "",
            "Listed in mutation/equivalent.toml, but the mutant's line has changed:",
            "",
            *(f"- `{key}`" for key in sorted(stale)),
        ]
    return "\n".join(out) + "\n"


def _order(key: str):
    """Sort mutants by function, then by number."""
    head, _, number = key.rpartition("__mutmut_")
    return head, int(number) if number.isdigit() else -1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=pathlib.Path, help="where make mutate ran mutmut")
    parser.add_argument("--output", type=pathlib.Path)
    parser.add_argument("--equivalent", type=pathlib.Path)
    parser.add_argument("--survivors", action="store_true")
    parser.add_argument(
        "--sample", type=int, help="count a random sample of this many per module"
    )
    parser.add_argument(
        "--list-sample", action="store_true", help="print the sample's names"
    )
    args = parser.parse_args(argv)
    if not (args.dir / "mutants").is_dir():
        return 0  # no run yet
    modules = load(args.dir)
    if args.survivors:
        print("\n".join(survivors(modules, _equivalents(args.equivalent))))
        return 0
    drawn = None if args.sample is None else sample(modules, args.sample)
    if args.list_sample:
        print("\n".join(sorted(k for keys in drawn.values() for k in keys)))
        return 0
    text = report(modules, _equivalents(args.equivalent), drawn)
    seconds = args.dir / "last_run_seconds"
    if seconds.exists():
        took = int(seconds.read_text())
        took = f"{took} s" if took < 120 else f"{took / 60:.0f} min"
        text = text.replace(
            "\n## Mutants not killed",
            f"\nThe last `make mutate` took {took} on this machine (a run after a "
            "change tests only what changed and the earlier survivors; "
            "mutation/README.md gives the time of a complete run).\n"
            "\n## Mutants not killed",
            1,
        )
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
