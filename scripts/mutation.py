"""`make mutation`: how much of the shop's domain code the fast tests pin down.

mutmut changes the domain modules one small step at a time (a `>` into `>=`, a name
dropped from a list, a string changed) and runs the tests that reach each change; a
change no test notices "survives". This runs mutmut ([tool.mutmut] in pyproject.toml),
then prints, per module, the share of changes the tests noticed, and every survivor: with
the reason `tests/mutation/survivors.toml` gives it (equivalent or harmless), or its diff
when none is given. It exits 1 when a module scores under the goal or a survivor is
unexplained.

    python scripts/mutation.py              # every module
    python scripts/mutation.py refunds      # one module (mutmut reuses earlier results)
    python scripts/mutation.py --report     # print the last run's results only
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SURVIVORS = ROOT / "tests" / "mutation" / "survivors.toml"
GOAL = 85.0

#: The domain modules scored, each as the source files it is made of.
MODULES: dict[str, tuple[str, ...]] = {
    "events": ("shop/events.py",),
    "fulfilment": ("shop/fulfilment.py",),
    "refunds": ("shop/refunds.py",),
    "checkout": ("shop/checkout/*.py",),
    "catalogue": ("shop/catalogue.py",),
}

#: mutmut's verdicts that mean a test noticed the change.
NOTICED = {"killed", "timeout", "caught by type check"}
#: Verdicts left out of the score: mutmut made no run of the mutant on purpose.
NOT_COUNTED = {"skipped"}


@dataclass
class Score:
    module: str
    verdicts: Counter[str] = field(default_factory=Counter)
    survivors: list[str] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return sum(n for verdict, n in self.verdicts.items() if verdict not in NOT_COUNTED)

    @property
    def noticed(self) -> int:
        return sum(n for verdict, n in self.verdicts.items() if verdict in NOTICED)

    @property
    def percent(self) -> float:
        return 100.0 * self.noticed / self.counted if self.counted else 0.0


def mutant_globs(modules: list[str]) -> list[str]:
    """mutmut's names for the mutants of `modules` (`shop.refunds.x_parse_amount__mutmut_3`)."""
    globs = []
    for module in modules:
        for pattern in MODULES[module]:
            dotted = pattern.removesuffix(".py").replace("/", ".")
            globs.append(f"{dotted}.*")
    return globs


def module_of(source: Path) -> str | None:
    for module, patterns in MODULES.items():
        if any(source.match(pattern) for pattern in patterns):
            return module
    return None


def explanations() -> dict[str, str]:
    """Each explained survivor's name → why it may survive."""
    if not SURVIVORS.exists():
        return {}
    entries = tomllib.loads(SURVIVORS.read_text()).get("survivor", [])
    return {entry["mutant"]: entry["why"] for entry in entries}


def scores(modules: list[str]) -> list[Score]:
    """The last run's verdicts, read from mutmut's files in mutants/."""
    # mutmut's own reader and its verdict table, at the pinned version.
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.stats import status_by_exit_code

    by_module = {module: Score(module) for module in modules}
    for source in sorted(ROOT.glob("shop/**/*.py")):
        relative = source.relative_to(ROOT)
        module = module_of(relative)
        if module not in by_module:
            continue
        data = SourceFileMutationData(path=relative)
        data.load()
        for name, exit_code in sorted(data.exit_code_by_key.items()):
            verdict = status_by_exit_code[exit_code]
            by_module[module].verdicts[verdict] += 1
            if verdict not in NOTICED | NOT_COUNTED:
                by_module[module].survivors.append(name)
    return [by_module[m] for m in modules]


def diff_of(name: str) -> str:
    from mutmut.__main__ import find_mutant
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    changed = get_diff_for_mutant(name, path=find_mutant(name).path)
    lines = [
        line
        for line in changed.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]
    return "\n".join(f"        {line}" for line in lines)


def report(modules: list[str]) -> int:
    why = explanations()
    failed = False
    results = scores(modules)
    print("\nMutation score (changes the fast tests noticed):")
    for score in results:
        others = ", ".join(
            f"{n} {verdict}" for verdict, n in sorted(score.verdicts.items()) if verdict != "killed"
        )
        flag = "" if score.percent >= GOAL else f"   below {GOAL:.0f} %"
        print(
            f"  {score.module:<11} {score.percent:5.1f} %  {score.noticed} of {score.counted}"
            f" noticed ({others or 'all killed'}){flag}"
        )
        failed |= score.percent < GOAL or score.counted == 0
    for score in results:
        if not score.survivors:
            continue
        print(f"\nSurvivors in {score.module}:")
        for name in score.survivors:
            if name in why:
                print(f"  {name}: {why[name]}")
            else:
                failed = True
                print(f"  {name}: NOT EXPLAINED\n{diff_of(name)}")
    stale = sorted(set(why) - {name for s in results for name in s.survivors})
    relevant = tuple(g.removesuffix("*") for g in mutant_globs(modules))
    stale = [name for name in stale if name.startswith(relevant)]
    if stale:
        print("\nExplained in tests/mutation/survivors.toml but no longer surviving:")
        for name in stale:
            print(f"  {name}")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE", help=", ".join(MODULES))
    parser.add_argument("--report", action="store_true", help="only print the last results")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    unknown = sorted(set(args.modules) - set(MODULES))
    if unknown:
        parser.error(f"no module {', '.join(unknown)}: the modules are {', '.join(MODULES)}")
    modules = args.modules or list(MODULES)
    os.chdir(ROOT)
    if not args.report:
        mutmut = Path(sys.executable).with_name("mutmut")
        command = [str(mutmut), "run", "--max-children", str(args.max_children)]
        if args.modules:
            command += mutant_globs(modules)
        subprocess.run(command, check=False)
    return report(modules)


if __name__ == "__main__":
    sys.exit(main())
