"""Throttle accuracy of the sending governor: W worker processes share one identity capped at R msg/s
through real Redis for S seconds; each asks for a slot, sleeps until it, and records when it "sent".

    .venv/bin/python -m tests.bench.bench_governor [--rate 50] [--workers 4] [--seconds 60]

Prints the achieved rate against the cap, the busiest 1 s window (sliding) of the slots the governor
granted and of the actual wake-ups (which add the OS's sleep jitter), and the CPU the waiting cost (the
workers' user + system time over wall time, in % of one core).
"""

import argparse
import multiprocessing as mp
import os
import time
import uuid

Result = tuple[list[float], list[float], float]  # slot times, actual send times, CPU seconds


def _worker(url: str, prefix: str, rate: float, window: tuple[float, float], out: "mp.Queue[Result]") -> None:
    import redis

    from app.messaging.governor import Policy, RedisGovernor

    start, until = window
    gov = RedisGovernor(redis.Redis.from_url(url), prefix=prefix)
    policy = Policy(rate_per_s=rate, max_wait_s=5.0)
    slots: list[float] = []
    sent: list[float] = []
    time.sleep(max(0.0, start - time.time()))
    cpu0 = time.process_time()
    i = 0
    while time.time() < until:
        slot = gov.reserve("bench-identity", f"r{os.getpid()}-{i}", policy, time.time())
        i += 1
        if not slot.granted:  # further than max_wait: come back then (as the outbox does)
            time.sleep(max(0.0, slot.at - time.time()))
            continue
        if slot.at >= until:
            break
        time.sleep(max(0.0, slot.at - time.time()))
        slots.append(slot.at)
        sent.append(time.time())
    out.put((slots, sent, time.process_time() - cpu0))


def _busiest(times: list[float]) -> int:
    """The most events in any half-open 1 s window (t - 1, t]."""
    j, most = 0, 0
    for i, t in enumerate(times):
        while times[j] <= t - 1.0:
            j += 1
        most = max(most, i - j + 1)
    return most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args, _unknown = parser.parse_known_args()
    prefix = f"govbench:{uuid.uuid4().hex[:8]}"
    start = time.time() + 2.0
    window = (start, start + args.seconds)
    queue: mp.Queue[Result] = mp.Queue()
    procs = [
        mp.Process(target=_worker, args=(args.redis, prefix, args.rate, window, queue))
        for _ in range(args.workers)
    ]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    slots = sorted(t for r, _s, _c in results for t in r)
    sends = sorted(t for _r, s, _c in results for t in s)
    cpu = sum(c for _r, _s, c in results)
    span = args.seconds
    achieved = len(sends) / span
    print(
        f"{args.workers} workers, cap {args.rate:g}/s, {span:g} s: {len(sends)} sends = {achieved:.2f}/s "
        f"({(achieved / args.rate - 1) * 100:+.2f} % of the cap); busiest 1 s window: {_busiest(slots)} "
        f"slots granted, {_busiest(sends)} sends at wake-up; waiting cost {cpu / span * 100:.2f} % of one "
        f"core (all workers together); load {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
