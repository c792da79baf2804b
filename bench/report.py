"""What `make bench` prints and writes to `bench/results/latest.json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: The keys compared run to run; each is a number, or null with its reason in `missing`.
KEYS = (
    "webhook_ack_ratio_c16",
    "webhook_ack_p99_ms_c16",
    "applied_per_s_at_150ms",
    "apply_lag_p99_s_at_150ms",
    "home_ratio_under_load_at_150ms",
    "checkout_stripe_calls_returning",
    "account_page_ms_100k",
    "admin_page_ms_100k",
    "first_sync_s_1000_at_150ms",
)


@dataclass
class Report:
    machine: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    keys: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(KEYS))
    missing: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def set(self, key: str, value: float | None, why: str = "not measured") -> None:
        if key not in self.keys:
            raise KeyError(key)
        if value is None:
            self.missing[key] = why
        else:
            self.missing.pop(key, None)
        self.keys[key] = None if value is None else round(float(value), 3)

    def missing_key(self, key: str, why: str) -> None:
        self.set(key, None, why)

    def set_from(self, measured: dict[str, Any] | None, keys: list[str], why: str | None) -> None:
        """Keys a helper's `measure()` returned; null with `why` (or "not in its result")."""
        for key in keys:
            value = measured.get(key) if measured else None
            self.set(key, value, why or f"{key} not in the measure() result")

    def as_json(self) -> dict[str, Any]:
        for key in KEYS:
            if self.keys[key] is None and key not in self.missing:
                self.missing[key] = "not measured"
        return {
            **self.keys,
            "missing": self.missing,
            "machine": self.machine,
            "settings": self.settings,
            "figures": self.figures,
            "notes": self.notes,
        }

    def print_throughput(self, table: dict[str, dict[str, Any]]) -> None:
        print(
            f"  {'endpoint':<26}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'× /healthz':>12}"
        )
        for name, row in table.items():
            errors = row["errors"] + row["non_2xx"]
            print(
                f"  {name:<26}{row['per_second']:9.0f}{row['p50_ms']:9.1f}{row['p95_ms']:9.1f}"
                f"{row['p99_ms']:9.1f}{row['ratio_to_healthz']:12.2f}"
                + (f"   {errors} errors" if errors else ""),
                flush=True,
            )

    def print_burst(self, latency: int, figures: dict[str, Any]) -> None:
        def value(key: str, digits: int = 1) -> str:
            found = figures.get(key)
            return "—" if found is None else f"{found:.{digits}f}"

        print(
            f"  at {latency} ms: {figures['events']} events acknowledged p50 {value('ack_p50_ms')} ms, "
            f"p99 {value('ack_p99_ms')} ms ({figures['failed_acks']} refused); "
            f"applied {figures['applied']} at {value('applied_per_s')}/s, lag p50 {value('lag_p50_s', 2)} s, "
            f"p99 {value('lag_p99_s', 2)} s; outcomes {figures['outcomes']}",
            flush=True,
        )
        print(
            f"  /: {value('home_per_s_unloaded', 0)}/s unloaded, "
            f"{value('home_per_s_while_delivered', 0)}/s while the events were delivered, "
            f"{value('home_per_s_while_applied', 0)}/s while applied after that; "
            f"ratio {value('home_ratio_under_load', 2)}× ({figures['home_under_load_measured']}); "
            f"Stripe calls per applied event {value('stripe_calls_per_event', 2)}",
            flush=True,
        )
        cpu = figures.get("cpu_ms_per_event") or {}
        if cpu:
            print(
                "  CPU per applied event (delivery to last apply, `/` load included): "
                + ", ".join(f"{role} {ms:.1f} ms" for role, ms in cpu.items()),
                flush=True,
            )

    def print_summary(self) -> None:
        print("Summary (bench/results/latest.json):")
        for key in KEYS:
            shown = self.keys[key]
            print(f"  {key:<36} {'null: ' + self.missing.get(key, '') if shown is None else shown}")
        for note in self.notes:
            print(f"  note: {note}")
