"""The load: N browser-like clients signing up over real HTTP, in a process of its own.

Each client is a thread with its own `requests.Session` and its own address (sent as
X-Forwarded-For, which the product reads because the bench trusts 127.0.0.1 as a proxy). A
signup is what a visitor does: GET the page (the form and its CSRF cookie), then POST it.
With `--spread 0` clients go as fast as they can; otherwise signup i is started at
i * spread / signups seconds. `--email-length` pads the addresses to that many characters
(the read-backs' request lines grow with them). Prints one JSON document on stdout; imports
no Django.

    python -m bench.load --url http://127.0.0.1:8000/p/slug/ --signups 2000 --clients 32
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from collections import Counter

import requests

CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def email_address(local: str, length: int) -> str:
    """`local`@example.com, its local part padded with x to make `length` characters."""
    domain = "@example.com"
    if length:
        local = f"{local}.".ljust(length - len(domain), "x")
    return f"{local}{domain}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="the party's public signup page")
    parser.add_argument("--signups", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--spread", type=float, default=0.0, help="seconds; 0: as fast as possible")
    parser.add_argument("--tag", default="run", help="makes the addresses unique per run")
    parser.add_argument("--timeout", type=float, default=30.0, help="per request")
    parser.add_argument(
        "--email-length", type=int, default=0, help="pad each address to this length; 0: not"
    )
    args = parser.parse_args()

    lock = threading.Lock()
    post_ms: list[float] = []
    get_ms: list[float] = []
    statuses: Counter[str] = Counter()
    accepted: list[str] = []
    next_number = iter(range(args.signups))
    interval = args.spread / args.signups if args.spread else 0.0
    started = time.monotonic()
    started_wall = time.time()

    def client(index: int) -> None:
        session = requests.Session()
        address = f"10.{index // 250}.{index % 250}.{(index * 7) % 250 + 1}"
        headers = {"X-Forwarded-For": address}
        while True:
            with lock:
                number = next(next_number, None)
            if number is None:
                return
            if (wait := started + number * interval - time.monotonic()) > 0:
                time.sleep(wait)
            email = email_address(f"guest-{args.tag}-{number}", args.email_length)
            try:
                began = time.perf_counter()
                page = session.get(args.url, headers=headers, timeout=args.timeout)
                got = time.perf_counter() - began
                match = CSRF.search(page.text)
                if page.status_code != 200 or not match:
                    with lock:
                        statuses[f"GET {page.status_code}"] += 1
                    continue
                began = time.perf_counter()
                response = session.post(
                    args.url,
                    data={
                        "csrfmiddlewaretoken": match.group(1),
                        "first_name": "Guest",
                        "last_name": str(number),
                        "email": email,
                        "pet_name": "Rex",
                        "pet_type": "dog",
                        "marketing_consent": "on",
                        "website": "",
                    },
                    headers={**headers, "Referer": args.url},
                    allow_redirects=False,
                    timeout=args.timeout,
                )
                posted = time.perf_counter() - began
            except requests.RequestException as error:
                with lock:
                    statuses[type(error).__name__] += 1
                continue
            with lock:
                get_ms.append(got * 1000)
                post_ms.append(posted * 1000)
                statuses[str(response.status_code)] += 1
                if response.status_code in (302, 303):
                    accepted.append(email)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.monotonic() - started
    print(
        json.dumps(
            {
                "signups": args.signups,
                "clients": args.clients,
                "spread_s": args.spread,
                "started_at": started_wall,
                "ended_at": started_wall + seconds,
                "seconds": round(seconds, 2),
                "accepted": len(accepted),
                "accepted_per_s": round(len(accepted) / seconds, 1),
                "post_ms": {
                    "p50": round(percentile(post_ms, 0.50), 1),
                    "p95": round(percentile(post_ms, 0.95), 1),
                    "p99": round(percentile(post_ms, 0.99), 1),
                },
                "get_ms": {
                    "p50": round(percentile(get_ms, 0.50), 1),
                    "p99": round(percentile(get_ms, 0.99), 1),
                },
                "statuses": dict(statuses),
                "accepted_emails": accepted,
            }
        )
    )


if __name__ == "__main__":
    main()
