"""`actbench run` under a launcher (runs/ranks.py, runs/heartbeat.py): real separate processes, started by
torchrun or as plain subprocesses with RANK / WORLD_SIZE / LOCAL_RANK set, share one run; the run equals an
unsharded run whatever the number of processes; a killed, crashed or missing process stops the others with
its name; a relaunch resumes each process's journal; every refusal with its exact message."""

from __future__ import annotations

import json
import shutil
import os
import signal
import socket
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tests.helpers.adapters  # noqa: F401  (registers the test adapters)
from actbench.cli import app
from actbench.errors import ActbenchError
from actbench.mqa_builder.benchmark_dir import load_benchmark
from actbench.runner import RunSpec, run
from actbench.runs import ranks
from actbench.runs import shard as sharding
from actbench.runs.merge import merge
from actbench.runs.ranks import Launch, launch_from_environment, use_rank_device
from tests.unit.test_shard_merge import make_bench

REPO = Path(__file__).resolve().parents[2]
TIMING = ("wall_s", "throughput_qps", "latency_s", "started_at", "finished_at")  # measured: differ between runs
LAUNCH_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
# A process of a launch without torchrun: the test adapters registered, then the actbench command.
SCRIPT = ("import sys; sys.path.insert(0, {repo!r}); import tests.helpers.adapters, tests.unit.test_shard_merge; "
          "from actbench.cli import main; main(sys.argv[1:])")


def clean_env(**extra):
    return {**{k: v for k, v in os.environ.items() if k not in LAUNCH_ENV}, **extra}


def start(world: int, args: list[str], ranks=None) -> dict[int, subprocess.Popen]:
    """Processes ``ranks`` (default all) of a launch of ``world``, each running ``actbench run ARGS``."""
    return {r: subprocess.Popen([sys.executable, "-c", SCRIPT.format(repo=str(REPO)), "run", *args],
                                env=clean_env(RANK=str(r), WORLD_SIZE=str(world), LOCAL_RANK=str(r),
                                              MASTER_ADDR="127.0.0.1", MASTER_PORT="29500"),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for r in (range(world) if ranks is None else ranks)}


def finish(procs: dict[int, subprocess.Popen], timeout: float = 60) -> dict[int, tuple[int, str, str]]:
    """(exit code, stdout, stderr) of each process; a process still running after ``timeout`` s fails the test."""
    try:
        return {r: (p.wait(timeout=timeout), p.stdout.read(), p.stderr.read()) for r, p in procs.items()}
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def untimed(value):
    """JSON without its timing fields, key order kept (so equal values mean equal bytes but for timings)."""
    if isinstance(value, dict):
        return [(k, untimed(v)) for k, v in value.items() if k not in TIMING]
    if isinstance(value, list):
        return [untimed(v) for v in value]
    return value


def run_files(run_dir: Path) -> dict[str, object]:
    return {"predictions": untimed(records(run_dir / "predictions.jsonl")),
            "metrics": untimed(json.loads((run_dir / "metrics.json").read_text())),
            "run": untimed(json.loads((run_dir / "run.json").read_text()))}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    return make_bench(tmp_path_factory.mktemp("ranks") / "b")  # 35 questions in 5 videos


@pytest.fixture(scope="module")
def whole(bench, tmp_path_factory):
    return run(RunSpec(model="random", benchmark=str(bench), out=tmp_path_factory.mktemp("whole") / "r"))


@pytest.fixture(scope="module")
def torchrun_two(bench, tmp_path_factory):
    """random under `torchrun --nproc_per_node 2 -m actbench run` (the README's CPU command)."""
    out = tmp_path_factory.mktemp("torchrun") / "r"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(free_port()), "-m", "actbench", "run", "--model", "random",
               "--benchmark", str(bench), "--out", str(out)]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120,
                          env=clean_env(ACCELERATE_USE_CPU="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout


# ---- the run equals an unsharded run, whatever the number of processes

def test_torchrun_two_processes_write_the_unsharded_run(bench, whole, torchrun_two):
    out, stdout = torchrun_two
    assert run_files(out) == run_files(whole)  # every byte but the timings
    m = json.loads((out / "metrics.json").read_text())
    assert stdout == (f"random on shardbench: accuracy {m['accuracy']:.2f}% [{m['accuracy_ci95'][0]:.2f}, "
                      f"{m['accuracy_ci95'][1]:.2f}] over 35 questions (2 processes) -> {out}\n")  # rank 0 only
    questions = list(load_benchmark(bench).questions)
    for r in range(2):  # process r answered what --shard r/2 does, in its own journal and shard run
        part = out / "ranks" / f"rank-{r}-of-2"
        expected = sharding.select(questions, sharding.Shard(index=r, count=2, by="question"))
        assert [x["id"] for x in records(part / "predictions.jsonl")] == [q.id for q in expected]
        assert json.loads((part / "run.json").read_text())["shard"] == {"index": r, "count": 2, "by": "question"}
    info = json.loads((out / "run.json").read_text())
    assert (info["status"], info["shard"], info["merged"]) == ("complete", None, None)
    m_whole = json.loads((whole / "metrics.json").read_text())
    assert json.dumps(m["accuracy_ci95"]) == json.dumps(m_whole["accuracy_ci95"])


def test_the_report_ranks_the_launch_once_and_not_its_parts(torchrun_two, tmp_path):
    from actbench.reports.leaderboard import collect, partial_runs

    out, _ = torchrun_two
    results = tmp_path / "results"
    shutil.copytree(out, results / "launch")
    assert partial_runs(results) == []  # ranks/rank-R-of-N are parts of the launch, not unranked shards
    rows, superseded = collect(results)
    assert ([row.run_dir for row in rows], superseded) == (["launch"], [])


def test_three_processes_write_the_same_bytes_as_two(bench, torchrun_two, tmp_path):
    out = tmp_path / "r"
    results = finish(start(3, ["--model", "random", "--benchmark", str(bench), "--out", str(out)]))
    assert [code for code, _, _ in results.values()] == [0, 0, 0], results
    assert [stdout.count("\n") for _, stdout, _ in results.values()] == [1, 0, 0]
    assert run_files(out) == run_files(torchrun_two[0])
    # The rank directories are shard runs: `actbench merge` joins them into the same answers, byte for byte.
    merged = merge(sorted((out / "ranks").glob("rank-*-of-3")), tmp_path / "m", benchmark=str(bench))
    assert (merged / "predictions.jsonl").read_bytes() == (out / "predictions.jsonl").read_bytes()


def test_sap_with_rotations_over_three_processes_equals_the_unsharded_run(bench, tmp_path):
    options = ["--model", "test-shard-sap", "--benchmark", str(bench), "--sap", "--permutations", "1"]
    results = finish(start(3, [*options, "--out", str(tmp_path / "r")]))
    assert [code for code, _, _ in results.values()] == [0, 0, 0], results
    reference = run(RunSpec(model="test-shard-sap", benchmark=str(bench), out=tmp_path / "whole", sap=True,
                            permutations=1))
    got, want = run_files(tmp_path / "r"), run_files(reference)
    assert got["metrics"] == want["metrics"] and got["run"] == want["run"]
    key = json.dumps  # an unsharded SAP journal is in schedule order; the launch's run is in benchmark order
    assert sorted(map(key, got["predictions"])) == sorted(map(key, want["predictions"]))
    parts = {json.loads((p / "run.json").read_text())["shard"]["by"] for p in (tmp_path / "r" / "ranks").iterdir()
             if p.is_dir()}
    assert parts == {"video"}


# ---- failures: the others stop with the failed process's name; a relaunch resumes each journal

def test_a_killed_process_stops_the_others_and_a_relaunch_resumes_its_journal(bench, tmp_path):
    out = tmp_path / "r"
    options = ["--model", "test-slow", "--benchmark", str(bench), "--out", str(out)]
    slow = [*options, "--model-arg", "delay=0.2", "--rank-timeout", "3"]
    # Rank 1 first, however slowly the machine starts processes; killed once both have been answering a while
    # (so rank 0 has seen it beat: it stopped, rather than never started).
    procs = start(2, slow, ranks=[1])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (out / "ranks" / "rank-1-of-2.state.json").exists():
        time.sleep(0.05)
    procs.update(start(2, slow, ranks=[0]))
    journal = out / "ranks" / "rank-1-of-2" / "predictions.jsonl"
    journals = [out / "ranks" / f"rank-{r}-of-2" / "predictions.jsonl" for r in (0, 1)]
    while time.monotonic() < deadline and not all(j.exists() and len(j.read_text().splitlines()) >= 3
                                                  for j in journals):
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGKILL)
    code, _, stderr = finish(procs)[0]
    assert code == 2 and stderr == (f"actbench: error: rank 1 of 2 stopped: {out}/ranks/rank-1-of-2.state.json has "
                                    f"not changed for 3 s (killed?); the answers so far are kept in {out}/ranks: "
                                    "relaunch with --resume to finish the run\n")
    before = journal.read_text().splitlines()
    assert 3 <= len(before) < 17 and not (out / "run.json").exists()
    # Another number of processes, or none, would deal the questions differently: refused, nothing written.
    for launch, found in ((Launch(0, 3, 0), "3 (this launch)"), (None, "1 (this run, without a launcher)")):
        with pytest.raises(ActbenchError) as error:
            run(RunSpec(model="test-slow", benchmark=str(bench), out=out, resume=True), launch=launch)
        assert str(error.value) == (f"{out}/ranks: field 'processes': expected {found}, found 2 (rank-0-of-2, "
                                    "rank-1-of-2): resume with as many processes as the launch that started it")
    assert journal.read_text().splitlines() == before and not (out / "ranks" / "rank-0-of-3").exists()
    results = finish(start(2, [*options, "--model-arg", "delay=0", "--resume"]))  # default --rank-timeout
    assert [code for code, _, _ in results.values()] == [0, 0], results
    assert journal.read_text().splitlines()[: len(before)] == before  # resumed, not redone
    ids = [r["id"] for r in records(out / "predictions.jsonl")]
    assert ids == [q.id for q in load_benchmark(bench).questions]  # each question once, in benchmark order
    reference = run(RunSpec(model="test-slow", benchmark=str(bench), out=tmp_path / "whole",
                            model_args={"delay": "0"}))
    assert run_files(out) == run_files(reference)


def test_a_crashing_process_stops_the_others_with_its_reason(bench, tmp_path):
    out = tmp_path / "r"
    questions = list(load_benchmark(bench).questions)
    crash_on = questions[3].id  # the second question of rank 1 (round robin)
    options = ["--model", "test-crash", "--benchmark", str(bench), "--out", str(out)]
    crashing = [*options, "--model-arg", f"crash_on={crash_on}", "--model-arg", "delay=0.5"]
    # Rank 1 fails before rank 0 even starts: its failure must still reach rank 0 (it is this launch's).
    procs = start(2, crashing, ranks=[1])
    state = out / "ranks" / "rank-1-of-2.state.json"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (state.exists() and b'"failed"' in state.read_bytes()):
        time.sleep(0.05)
    procs.update(start(2, crashing, ranks=[0]))
    results = finish(procs)
    assert results[1][0] == 1 and f"RuntimeError: crashed on {crash_on}" in results[1][2]
    assert results[0][0] == 2 and results[0][2] == (
        f"actbench: error: rank 1 of 2 failed: RuntimeError: crashed on {crash_on}; the answers so far are kept in "
        f"{out}/ranks: relaunch with --resume to finish the run\n")
    assert len(records(out / "ranks" / "rank-0-of-2" / "predictions.jsonl")) < 18  # stopped, did not finish
    assert [r["id"] for r in records(out / "ranks" / "rank-1-of-2" / "predictions.jsonl")] == [questions[1].id]
    assert json.loads((out / "ranks" / "rank-1-of-2.state.json").read_text())["state"] == "failed"
    # The relaunch is not stopped by the failure recorded by the earlier launch.
    results = finish(start(2, [*options, "--resume"]))
    assert [code for code, _, _ in results.values()] == [0, 0], results
    reference = run(RunSpec(model="test-crash", benchmark=str(bench), out=tmp_path / "whole"))
    assert run_files(out) == run_files(reference)


def test_a_process_that_never_starts_is_named(bench, tmp_path):
    out = tmp_path / "r"
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(model="random", benchmark=str(bench), out=out, rank_timeout=1), launch=Launch(0, 3, 0))
    assert str(error.value) == (f"ranks 1, 2 of 3 are missing: no heartbeat in {out}/ranks within 1 s (not started, "
                                f"or stopped before this process started); the answers so far are kept in {out}/ranks: "
                                "relaunch with --resume to finish the run")
    assert len(records(out / "ranks" / "rank-0-of-3" / "predictions.jsonl")) == 12  # its own part, kept
    assert not (out / "run.json").exists()
    state = json.loads((out / "ranks" / "rank-0-of-3.state.json").read_text())
    assert state["state"] == "failed" and state["error"] == str(error.value)


# ---- refusals before anything is written

def test_refusals(bench, whole, torchrun_two, tmp_path):
    spec = {"model": "random", "benchmark": str(bench)}

    def refused(message, launch=None, **kw):
        with pytest.raises(ActbenchError) as error:
            run(RunSpec(**{**spec, **kw}), launch=launch or Launch(0, 2, 0))
        assert str(error.value) == message

    refused("--shard: field 'shard': expected no --shard under a launcher (process R of 2 answers what --shard R/2 "
            "would), found 0/2", out=tmp_path / "a", shard=(0, 2))
    refused("environment: field 'WORLD_SIZE': expected at most 2 processes (the run has 2 questions), found 3",
            launch=Launch(0, 3, 0), out=tmp_path / "a", limit=2)
    refused("environment: field 'WORLD_SIZE': expected at most 5 processes (the run has 5 videos (--sap keeps a "
            "video's questions together)), found 6", launch=Launch(0, 6, 0), out=tmp_path / "a",
            model="test-shard-sap", sap=True)
    refused("--max-cost: field 'max_cost': expected no --max-cost under a launcher (each of the 2 processes could "
            "spend it; run API models in one process, with --concurrency), found 5", out=tmp_path / "a",
            model_args={"max_cost": "5"})
    refused("--rank-timeout: field 'rank_timeout': expected a positive number of seconds, found 0",
            out=tmp_path / "a", rank_timeout=0)
    assert not (tmp_path / "a").exists()
    done = torchrun_two[0]
    refused(f"{done}: a run is already there; pass --resume to finish it or choose another --out", out=done)
    refused(f"{whole}/run.json: field 'processes': expected 2 (this launch), found 1 (a run without a launcher): "
            "resume it without one", out=whole, resume=True)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("")
    refused(f"{tmp_path / 'busy'}: exists and is not a run directory; choose another --out", out=tmp_path / "busy")
    assert sorted(p.name for p in (tmp_path / "busy").iterdir()) == ["notes.txt"]
    assert not (whole / "ranks").exists()


RANK_EXPECTED = "an integer in [0, 2) (set with WORLD_SIZE by torchrun or accelerate launch)"


@pytest.mark.parametrize("environ, message", [
    ({"WORLD_SIZE": "2"}, f"environment: field 'RANK': expected {RANK_EXPECTED}, found unset"),
    ({"WORLD_SIZE": "2", "RANK": "2"}, f"environment: field 'RANK': expected {RANK_EXPECTED}, found 2"),
    ({"WORLD_SIZE": "two", "RANK": "0"},
     "environment: field 'WORLD_SIZE': expected a positive integer (the number of processes), found two"),
    ({"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "-1"},
     "environment: field 'LOCAL_RANK': expected a non-negative integer, found -1"),
])
def test_a_bad_launch_environment_is_refused(environ, message):
    with pytest.raises(ActbenchError) as error:
        launch_from_environment(environ)
    assert str(error.value) == message


def test_the_launch_environment():
    assert launch_from_environment({"WORLD_SIZE": "1", "RANK": "0"}) is None  # one process: an ordinary run
    assert launch_from_environment({"WORLD_SIZE": "4", "RANK": "3"}) == Launch(3, 4, 3)  # LOCAL_RANK unset: RANK


def test_classifier_benchmarks_are_not_launched(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    result = CliRunner().invoke(app, ["run", "--model", "gad-1b", "--benchmark", "x"])
    assert result.exit_code == 2 and result.stderr == ("actbench: error: environment: field 'WORLD_SIZE': expected 1 "
                                                       "(classifier benchmarks run in one process: run without a "
                                                       "launcher), found 2\n")


def test_parts_on_different_devices_merge_and_other_arguments_do_not(bench, tmp_path):
    def part(i, **args):
        return run(RunSpec(model="test-crash", benchmark=str(bench), out=tmp_path / f"s{i}-{len(args)}", shard=(i, 2),
                           model_args=args))

    merged = merge([part(0, device="cuda:0"), part(1, device="cuda:1")], tmp_path / "m", benchmark=str(bench))
    assert json.loads((merged / "run.json").read_text())["model"] == {"name": "test-crash",
                                                                      "args": {"device": "cuda:0"}}
    other = part(1, device="cuda:0", mode="other")
    with pytest.raises(ActbenchError, match=r"field 'model': expected \{'name': 'test-crash', 'args': \{'device': "
                                            r"'cuda:0'\}\}, as in"):
        merge([tmp_path / "s0-1", other], tmp_path / "m2", benchmark=str(bench))


# ---- devices

class FakeCuda:
    def __init__(self, count):
        self.count, self.chosen = count, []

    def is_available(self):
        return self.count > 0

    def device_count(self):
        return self.count

    def set_device(self, index):
        self.chosen.append(index)


def fake_torch(monkeypatch, count):
    cuda = FakeCuda(count)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    return cuda


def test_each_process_takes_the_gpu_of_its_local_rank(monkeypatch):
    cuda = fake_torch(monkeypatch, 8)
    assert use_rank_device(3) == "cuda:3" and cuda.chosen == [3]  # "cuda" now means cuda:3 in this process
    cuda = fake_torch(monkeypatch, 1)  # the launcher showed each process its own GPU only
    assert use_rank_device(5) == "cuda:0" and cuda.chosen == [0]
    fake_torch(monkeypatch, 2)
    with pytest.raises(ActbenchError) as error:
        use_rank_device(2)
    assert str(error.value) == ("environment: field 'LOCAL_RANK': expected an integer in [0, 2) (one process per GPU "
                                "of this machine), found 2")
    fake_torch(monkeypatch, 0)
    assert use_rank_device(0) == "cpu"


def test_without_a_gpu_driver_torch_is_not_imported(monkeypatch):
    monkeypatch.setattr(ranks, "_GPU_DRIVERS", ())
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    assert use_rank_device(1) == "cpu" and "torch" not in sys.modules


def test_one_gpu_named_for_every_process_is_refused(bench, tmp_path, monkeypatch):
    fake_torch(monkeypatch, 2)
    with pytest.raises(ActbenchError) as error:
        run(RunSpec(model="random", benchmark=str(bench), out=tmp_path / "r", model_args={"device": "cuda:0"},
                    rank_timeout=0.5), launch=Launch(1, 2, 1))  # rank 0 never starts: not waited for long
    assert str(error.value) == ("--device: field 'device': expected cuda or auto under a launcher (this process's GPU "
                                "is cuda:1), found cuda:0")
