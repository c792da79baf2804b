"""`make stress` (`python -m bench.stress [--small] [--case N]…`): attack the webhook queue
the way the world would, on the processes production runs, and print for each case the
cases tried and the failures; exit status 1 if any failed.

Default sizes (about 10 minutes on 2 cores): 1,000 events × 3 at once; 200 membership
lifecycles; 300 events while 3 queue workers and 3 web workers are SIGKILLed; 300 events
while PostgreSQL is stopped for 10 s. `--small` is CI's version (30 events × 3, 10
lifecycles, one kill of each kind, a 3 s outage).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

from . import cases
from .servers import SetupError, running_stack
from .shoppers import driver_app


@dataclass(frozen=True)
class Sizes:
    events: int
    lifecycles: int
    kill_events: int
    kills: int
    outage_events: int
    outage_seconds: float


FULL = Sizes(
    events=1000, lifecycles=200, kill_events=300, kills=3, outage_events=300, outage_seconds=10
)
SMALL = Sizes(events=30, lifecycles=10, kill_events=30, kills=1, outage_events=30, outage_seconds=3)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.stress", description=__doc__)
    parser.add_argument("--small", action="store_true", help="CI's sizes")
    parser.add_argument("--case", type=int, action="append", choices=(1, 2, 3, 4))
    args = parser.parse_args(argv)
    sizes = SMALL if args.small else FULL
    chosen = args.case or [1, 2, 3, 4]
    began = time.monotonic()
    results: list[cases.Result] = []
    try:
        with running_stack() as stack:
            app = driver_app(stack)
            plan = {
                1: lambda: cases.double_delivery(stack, app, sizes.events),
                2: lambda: cases.lifecycles(stack, app, sizes.lifecycles),
                3: lambda: cases.kill_workers(stack, app, sizes.kill_events, sizes.kills),
                4: lambda: cases.database_outage(
                    stack, app, sizes.outage_events, sizes.outage_seconds
                ),
            }
            for number in chosen:
                try:
                    result = plan[number]()
                except Exception as error:  # a case that could not run is a failure
                    result = cases.Result(f"{number}. (could not run)", tried=0)
                    result.fail(f"{type(error).__name__}: {error}")
                print(result.report(), flush=True)
                results.append(result)
            stack.keep_logs = bool(stack.exits) or any(result.failures for result in results)
    except SetupError as error:
        print(f"stress: {error}", file=sys.stderr)
        return 1
    tried = sum(result.tried for result in results)
    failed = sum(len(result.failures) for result in results)
    print(
        f"stress: cases tried {tried}, failures {failed} ({time.monotonic() - began:.0f} s in all)",
        flush=True,
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
