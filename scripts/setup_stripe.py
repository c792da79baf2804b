"""Set up a Stripe account for Quire: check the catalogue, sync it, say what is left to do.

    python scripts/setup_stripe.py [--dry-run] [--webhook-url https://shop.example/webhooks/stripe]

Uses the same settings as the shop (STRIPE_SECRET_KEY, or the sandbox when unset). A
deploy needs none of this: the platform's release phase runs `flask --app wsgi release`,
which does every step and keeps the webhook's secret. With no STRIPE_SECRET_KEY a public
webhook URL is refused (exit 2): it would be registered in the local sandbox.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def flask(*args: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, check=False
    ).returncode


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="show the sync plan, change nothing")
    parser.add_argument("--webhook-url", help="register this URL for Quire's events")
    args = parser.parse_args()
    if args.webhook_url:
        sys.path.insert(0, str(ROOT))
        from config import Settings
        from shop.endpoints import sandbox_refusal

        refusal = sandbox_refusal(args.webhook_url, uses_sandbox=Settings.from_env().uses_sandbox)
        if refusal is not None:
            print(refusal, file=sys.stderr)
            return 2

    print("1. Checking products.yaml…")
    if flask("catalog", "check") != 0:
        print("Fix the catalogue problems above, then run this again.")
        return 1
    print("2. Making Stripe match the catalogue (and keeping the billing portal set up)…")
    if flask("catalog", "sync", *(["--dry-run"] if args.dry_run else [])) != 0:
        return 1
    if args.webhook_url and not args.dry_run:
        print("3. Registering the webhook endpoint…")
        if (
            flask("db", "upgrade") != 0
            or flask("stripe", "webhook-endpoint", args.webhook_url) != 0
        ):
            return 1
    print("\nLeft to do:")
    if not args.webhook_url:
        print("  - Register the webhook endpoint once the shop has a public address:")
        print(
            "      python scripts/setup_stripe.py --webhook-url https://<your shop>/webhooks/stripe"
        )
        print("    (it keeps the endpoint's signing secret in the shop's database; on a")
        print("    platform, `flask --app wsgi release` does this step for SITE_URL).")
    print("  - Create an admin account: flask --app wsgi users create-admin you@example.com")
    return 0


if __name__ == "__main__":
    sys.exit(main())
