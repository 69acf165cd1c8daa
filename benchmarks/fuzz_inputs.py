"""Long fuzz run of the IR parser and the checkpoint loader (issue 12, item 5).

Runs the properties of ``tests/test_fuzz_inputs.py`` (same input strategies: damaged golden IR
texts, damaged checkpoints, arbitrary text and bytes) for a given time instead of the few
seconds the suite allows, in rounds of hypothesis examples with a fresh seed each. Every input
is tried to the end: an undocumented exception is counted and listed by type and message
rather than stopping the run. Prints the inputs tried and the failures per target; exits 1 if
there was any failure.

Usage::

    .venv/bin/python benchmarks/fuzz_inputs.py --seconds 300
    .venv/bin/python benchmarks/fuzz_inputs.py --seconds 60 --target checkpoint
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, Phase, given, seed, settings

__all__ = ["FuzzTally", "fuzz", "main"]

_TESTS = Path(__file__).resolve().parent.parent / "tests" / "test_fuzz_inputs.py"
#: Examples per hypothesis round; the time limit is checked between rounds.
_ROUND = 200


def _load_properties() -> ModuleType:
    spec = importlib.util.spec_from_file_location("test_fuzz_inputs", _TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class FuzzTally:
    """Inputs tried and undocumented failures of one target.

    Attributes
    ----------
    tried : int
        Inputs run through the property.
    failures : Counter
        Count per ``"<exception type>: <message start, numbers as N>"``.
    examples : dict
        The shortest failing input per failure key.
    """

    tried: int = 0
    failures: Counter = field(default_factory=Counter)
    examples: dict[str, bytes] = field(default_factory=dict)


def fuzz(check: Callable[[bytes, Path], None], strategy, *, seconds: float,
         first_seed: int = 0) -> FuzzTally:
    """Run ``check`` on inputs drawn from ``strategy`` for about ``seconds`` seconds.

    Parameters
    ----------
    check : callable
        The property: ``check(data, folder)`` returns or raises on an undocumented outcome.
    strategy : hypothesis strategy of bytes
        The inputs.
    seconds : float
        Wall-clock budget, checked between rounds of hypothesis examples.
    first_seed : int
        Seed of the first round; round ``k`` uses ``first_seed + k``.
    """
    tally = FuzzTally()
    end = time.monotonic() + seconds

    def record(data: bytes) -> None:
        tally.tried += 1
        with tempfile.TemporaryDirectory() as tmp:
            try:
                check(data, Path(tmp))
            except Exception as exc:  # every undocumented outcome is counted
                key = f"{type(exc).__name__}: {re.sub(r'[0-9][0-9.]*', 'N', str(exc))[:100]}"
                tally.failures[key] += 1
                if len(data) < len(tally.examples.get(key, data + b" ")):
                    tally.examples[key] = data

    k = first_seed
    while time.monotonic() < end:
        run = settings(max_examples=_ROUND, deadline=None, database=None,
                       phases=[Phase.generate],
                       suppress_health_check=list(HealthCheck))(given(strategy)(record))
        seed(k)(run)()
        k += 1
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0,
                        help="wall-clock seconds per target (default 60)")
    parser.add_argument("--target", choices=["ir", "checkpoint", "both"], default="both")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first round")
    args = parser.parse_args(argv)
    if not args.seconds > 0:
        parser.error(f"--seconds must be positive, not {args.seconds}")
    props = _load_properties()
    targets = {"ir": (props.check_ir_bytes, props.ir_bytes()),
               "checkpoint": (props.check_checkpoint_bytes, props.checkpoint_bytes())}
    failed = False
    for name, (check, strategy) in targets.items():
        if args.target not in (name, "both"):
            continue
        start = time.monotonic()
        tally = fuzz(check, strategy, seconds=args.seconds, first_seed=args.seed)
        elapsed = time.monotonic() - start
        print(f"{name}: {tally.tried} inputs in {elapsed:.1f} s, "
              f"{sum(tally.failures.values())} undocumented failures")
        for key, count in tally.failures.most_common():
            print(f"  {count:6d} x {key}\n           shortest: {tally.examples[key]!r:.300}")
        failed |= bool(tally.failures)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
