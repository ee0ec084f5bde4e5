"""Policy engine benchmark: prints figures, asserts nothing (targets: ≤ 50 µs per recipient
for decision + redaction; 1 M notices simulated in ≤ 60 s on a 2-core machine).

    .venv/bin/python bench/policy_bench.py [--notices 5000] [--simulate 200000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import time
from pathlib import Path

from broker.adapters.policy_files import generated_chunk, load_policy
from broker.core.notices import NOTICE_SENDERS, notice_model
from broker.core.policy import Facts, decide
from broker.core.policy.simulate import Tally
from broker.core.policy.synthetic import generate
from broker.core.redaction import pseudonym_key

ROOT = Path(__file__).resolve().parent.parent
KEY = b"bench-subject-key-0123456789abcdef"


def per_recipient(n: int) -> tuple[list[float], list[float]]:
    """µs per recipient: (each decision + redaction on its own; each notice's whole time,
    the facts and CEL context shared by its recipients included, divided by the recipients)."""
    policy = load_policy(ROOT / "policies")
    recipients = list(policy.recipients)
    keys = {r: pseudonym_key(KEY, r) for r in recipients}
    docs = []
    for doc in generate(n, seed=1):
        model = notice_model(doc["notice_type"])
        assert model is not None
        notice = model.model_validate(doc)
        docs.append(
            (
                notice.notice_type,
                notice.model_dump(mode="json", exclude_none=True),
                notice.child_age(),
            )
        )
    each: list[float] = []
    amortised: list[float] = []
    clock = time.perf_counter_ns
    for notice_type, doc, age in docs:
        t0 = clock()
        facts = Facts(policy, notice_type, doc, age)
        for recipient in recipients:
            t1 = clock()
            decide(
                policy,
                sender=NOTICE_SENDERS[notice_type],
                notice_type=notice_type,
                recipient=recipient,
                doc=doc,
                facts=facts,
                pseudonym_key=keys[recipient],
            )
            each.append((clock() - t1) / 1000)
        amortised.append((clock() - t0) / 1000 / len(recipients))
    return each, amortised


def simulate(n: int, processes: int) -> float:
    """Notices per second through `broker policy simulate --generate` (current = proposed)."""
    policies = str(ROOT / "policies")
    size = 25_000
    jobs = [
        (policies, policies, 0, i, min(size, n - i * size)) for i in range((n + size - 1) // size)
    ]
    t0 = time.perf_counter()
    tally = Tally()
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        for part in pool.imap_unordered(generated_chunk, jobs):
            tally += part
    elapsed = time.perf_counter() - t0
    assert tally.notices == n
    return n / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notices", type=int, default=5000)
    parser.add_argument("--simulate", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} (figures are noisy if > 0)")
    each, amortised = per_recipient(args.notices)
    for label, samples in (("each decision", each), ("per notice / recipients", amortised)):
        samples.sort()
        p99 = samples[int(len(samples) * 0.99) - 1]
        print(
            f"decision + redaction per recipient, {label} ({len(samples)} samples): "
            f"median {statistics.median(samples):.1f} µs, p99 {p99:.1f} µs (target ≤ 50)"
        )
    rate = simulate(args.simulate, args.processes)
    print(
        f"simulation ({args.simulate} synthetic notices, {args.processes} processes): "
        f"{rate:,.0f} notices/s; 1 M in {1_000_000 / rate:.1f} s (target ≤ 60)"
    )


if __name__ == "__main__":
    main()
