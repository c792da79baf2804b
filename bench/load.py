"""Load with `wrk` (keep-alive connections), and the arithmetic of its figures.

`wrk` reports through a Lua `done` hook: requests, seconds, errors and latency
percentiles as one JSON line. A POST endpoint cycles through pre-signed request bodies,
each sent once, so every webhook delivery is a new event.
"""

from __future__ import annotations

import json
import math
import shutil
import statistics
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

MARKER = "BENCH-JSON "

#: GETs the URL, or POSTs the lines of a bodies file ("signature<TAB>body"; thread n of N
#: taking lines n, n+N, …, each sent once before any is sent again), as a request that
#: came through Heroku's router over https; counts every answer that is not a 200 (wrk
#: itself counts only 4xx/5xx) and reports as one JSON line (latencies in microseconds).
SCRIPT = """
wrk.headers["X-Forwarded-Proto"] = "https"
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end
function init(args)
  unexpected = 0
  bodies, signatures = {}, {}
  index = 0
  if args[1] == nil then return end
  local total = tonumber(args[2])
  local n = 0
  for line in io.lines(args[1]) do
    n = n + 1
    if (n - 1) % total == number - 1 then
      local tab = line:find("\\t", 1, true)
      table.insert(signatures, line:sub(1, tab - 1))
      table.insert(bodies, line:sub(tab + 1))
    end
  end
end
function request()
  if #bodies == 0 then return wrk.format() end
  index = index % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["X-Forwarded-Proto"] = "https", ["Stripe-Signature"] = signatures[index]},
    bodies[index])
end
function response(status, headers, body)
  if status ~= 200 then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local e = summary.errors
  local other = 0
  for _, thread in ipairs(threads) do other = other + thread:get("unexpected") end
  io.write(string.format(
    '%s{"requests": %d, "duration_us": %d, "errors": %d, "non_2xx": %d, '
    .. '"p50_us": %d, "p95_us": %d, "p99_us": %d}\\n',
    "MARKER", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout, other,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
""".replace("MARKER", MARKER)


@dataclass(frozen=True)
class Run:
    """One wrk run on one endpoint at one concurrency."""

    requests: int
    seconds: float
    errors: int
    #: Answers other than 200 (a redirect included).
    non_2xx: int
    p50_ms: float
    p95_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def parse_report(output: str) -> Run:
    """The Run in wrk's output (the line `REPORT_LUA` writes)."""
    for line in output.splitlines():
        if line.startswith(MARKER):
            raw = json.loads(line[len(MARKER) :])
            return Run(
                requests=raw["requests"],
                seconds=raw["duration_us"] / 1e6,
                errors=raw["errors"],
                non_2xx=raw["non_2xx"],
                p50_ms=raw["p50_us"] / 1000,
                p95_ms=raw["p95_us"] / 1000,
                p99_ms=raw["p99_us"] / 1000,
            )
    raise ValueError(f"no wrk report in its output:\n{output}")


def threads_for(connections: int) -> int:
    """wrk threads: one per connection up to 2 (the machine's benchmark budget)."""
    return max(1, min(2, connections))


def wrk(url: str, connections: int, seconds: float, bodies: Path | None = None) -> Run:
    """GET `url` (or POST the lines of `bodies`) on `connections` keep-alive connections."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is not installed")
    threads = threads_for(connections)
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(SCRIPT)
    argv = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        script.name,
        url,
    ]
    if bodies is not None:
        argv += ["--", str(bodies), str(threads)]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    finally:
        Path(script.name).unlink(missing_ok=True)
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed: {result.stderr or result.stdout}")
    return parse_report(result.stdout)


def interleaved(
    endpoints: Sequence[str], concurrencies: Sequence[int], rounds: int
) -> list[tuple[int, int, str]]:
    """The order of runs: for each round, each concurrency, every endpoint in turn, so
    every endpoint meets the same minutes of the machine (round, concurrency, endpoint)."""
    return [(r, c, e) for r in range(rounds) for c in concurrencies for e in endpoints]


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation between closest ranks."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Figures:
    """The medians of several runs of one endpoint at one concurrency."""

    per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int
    non_2xx: int
    runs: int

    def as_dict(self) -> dict[str, float | int]:
        return {k: round(v, 2) if isinstance(v, float) else v for k, v in asdict(self).items()}


def median_of(runs: Sequence[Run]) -> Figures:
    """Each figure's median over `runs` (errors summed)."""
    return Figures(
        per_second=statistics.median(r.per_second for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p95_ms=statistics.median(r.p95_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        errors=sum(r.errors for r in runs),
        non_2xx=sum(r.non_2xx for r in runs),
        runs=len(runs),
    )


def ratio(value: float, reference: float) -> float | None:
    """`value / reference`, None when there is no reference to compare with."""
    return value / reference if reference > 0 else None
