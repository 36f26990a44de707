"""Throughput of the OpenAI adapter against the fake server (issue: >= 70% of the ideal at concurrency 32).

Starts ``tests/helpers/fake_openai_server.py`` in a subprocess with a fixed latency per request (100 ms),
then, side by side in one run, answers synthetic 5-option questions the way the runner does (batches of
the adapter's ``batch_size``, each appended to a fsynced journal):

- 2,000 questions at concurrency 32: the ideal is 32 / 0.1 s = 320 questions/s;
- 100 questions at concurrency 1 (ideal 10 questions/s), whose rate is extrapolated to 2,000;

and prints questions/s, the ideal, the fraction of the ideal, the model latency p50/p95, the client's CPU
per question, and the ratio of the two rates. Each figure is the best of ``--repeat`` runs (the machines
are shared; the load average is printed). The first requests of each adapter (connections, imports)
are made before the clock starts.

Run: ``python perf/api_throughput.py`` (needs the ``openai`` package; ``openai[aiohttp]`` is faster, see
``--http-client``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from actbench.journal import Journal  # noqa: E402
from actbench.model_adapters.base import AdapterContext  # noqa: E402
from actbench.model_adapters.openai_api import openai_adapter  # noqa: E402
from actbench.runner import answer_to_record  # noqa: E402
from actbench.records import Question  # noqa: E402

VERBS = ["take", "put", "wash", "open", "close", "cut", "turn-on", "pour", "mix", "dry"]
NOUNS = ["plate", "cup", "knife", "tap", "fridge", "onion", "pan", "spoon", "lid", "bowl", "sponge"]


def questions(n: int) -> list[Question]:
    out = []
    for i in range(n):
        options = tuple(f"{VERBS[(i + 3 * k) % len(VERBS)]} {NOUNS[(i * 7 + k) % len(NOUNS)]}"
                        for k in range(5))
        out.append(Question(id=f"P01_{i:05d}", video_id="P01_01", start=float(i), end=float(i) + 2.0,
                            question="", options=options, answer_index=i % 5, answer_letter="ABCDE"[i % 5],
                            option_classes=tuple(f"{k}:{k}" for k in range(5)), source_ranks=(1, 2, 3, 4, 5)))
    return out


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.helpers.fake_openai_server", "--latency", str(latency)]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    return server, server.stdout.readline().strip()


def process_cpu(pid: int | None) -> float:
    """CPU seconds used so far by another process (Linux), or 0 when unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, TypeError):
        return 0.0


def measure(url: str, concurrency: int, qs: list[Question], work: Path, server_pid: int | None = None,
            http_client: str = "auto") -> dict:
    """Answer qs like the runner does; the rate, latencies and the client's CPU per question."""
    adapter = openai_adapter(AdapterContext(args={"model": "fake-model", "base_url": url,
                                                  "http_client": http_client, "concurrency": str(concurrency)}))
    try:
        adapter.answer(questions(concurrency))  # connections and imports, before the clock
        journal = Journal(Path(tempfile.mkstemp(dir=work, suffix=".jsonl")[1]))
        answers = []
        wall, cpu, server_cpu = time.perf_counter(), time.process_time(), process_cpu(server_pid)
        for start in range(0, len(qs), adapter.batch_size):
            batch = adapter.answer(qs[start:start + adapter.batch_size])
            journal.append(answer_to_record(a) for a in batch)
            answers += batch
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        server_cpu = process_cpu(server_pid) - server_cpu
    finally:
        adapter.close()
    assert all(a.status == "ok" for a in answers), {a.status for a in answers}
    latencies = sorted(a.latency_s for a in answers)
    return {"rate": len(qs) / wall, "wall": wall, "cpu_ms": 1000 * cpu / len(qs),
            "server_cpu_ms": 1000 * server_cpu / len(qs),
            "p50": statistics.median(latencies), "p95": latencies[int(0.95 * (len(latencies) - 1))],
            "batch": adapter.batch_size}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--n-serial", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--in-process", action="store_true", help="the server on a thread of this process")
    parser.add_argument("--http-client", default="auto", choices=["auto", "aiohttp", "httpx"])
    args = parser.parse_args()

    if args.in_process:
        from tests.helpers.fake_openai_server import FakeOpenAIServer

        fake = FakeOpenAIServer(latency=args.latency, keep_bodies=False).start()
        server, url = None, fake.url
    else:
        server, url = start_server(args.latency)
    work = Path(tempfile.mkdtemp(prefix="actbench-perf-api-"))
    try:
        runs = {args.concurrency: [], 1: []}
        for _ in range(args.repeat):
            pid = server.pid if server is not None else None
            runs[args.concurrency].append(measure(url, args.concurrency, questions(args.n), work, pid,
                                                  args.http_client))
            runs[1].append(measure(url, 1, questions(args.n_serial), work, pid, args.http_client))
    finally:
        if server is None:
            fake.stop()
        else:
            server.stdin.close()
            server.wait(timeout=30)

    print(f"fake server latency {1000 * args.latency:.0f} ms per request; http_client={args.http_client}; "
          f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; best of {args.repeat}")
    best = {c: max(r, key=lambda m: m["rate"]) for c, r in runs.items()}
    for concurrency, n in ((args.concurrency, args.n), (1, args.n_serial)):
        m = best[concurrency]
        ideal = concurrency / args.latency
        extrapolated = f", 2,000 questions in {args.n / m['rate']:.0f} s" if n != args.n else ""
        server_cpu = f", server CPU {m['server_cpu_ms']:.2f}" if m["server_cpu_ms"] else ""
        print(f"concurrency {concurrency:>2} (batch {m['batch']}): {n} questions in {m['wall']:.2f} s = "
              f"{m['rate']:.1f} q/s{extrapolated}; ideal {ideal:.0f} q/s; {100 * m['rate'] / ideal:.0f}% of "
              f"ideal; latency p50 {1000 * m['p50']:.0f} ms p95 {1000 * m['p95']:.0f} ms; client CPU "
              f"{m['cpu_ms']:.2f} ms/question{server_cpu}")
        print("   all runs: " + ", ".join(f"{r['rate']:.1f}" for r in runs[concurrency]) + " q/s")
    fraction = best[args.concurrency]["rate"] / (args.concurrency / args.latency)
    print(f"ratio concurrency {args.concurrency} / concurrency 1: "
          f"{best[args.concurrency]['rate'] / best[1]['rate']:.1f}x (ideal {args.concurrency}x)")
    print(f"target >= 70% of ideal: {'met' if fraction >= 0.7 else 'NOT met'} ({100 * fraction:.0f}%)")


if __name__ == "__main__":
    main()
