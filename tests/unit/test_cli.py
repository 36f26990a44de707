"""The CLI through typer's CliRunner: the whole pipeline, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from actbench.cli import app

runner = CliRunner()


def invoke(*args, **env):
    return runner.invoke(app, [str(a) for a in args], env=env or None)


def test_build_run_report_through_the_cli(mini, tmp_path):
    bench = tmp_path / "bench"
    result = invoke("build-mqa", "--source", "prior", "--k", 4, "--out", bench, "--data-dir", mini)
    assert result.exit_code == 0, result.output
    assert "built 10 questions" in result.stdout
    for model in ("oracle", "random", "prior"):
        result = invoke("run", "--model", model, "--benchmark", bench, "--out", tmp_path / "runs" / model,
                        "--data-dir", mini)
        assert result.exit_code == 0, result.output
        assert f"{model} on bench: accuracy" in result.stdout
    result = invoke("report", tmp_path / "runs", "--format", "csv")
    assert result.exit_code == 0, result.output
    csv_text = (tmp_path / "runs" / "leaderboard.csv").read_text()
    assert csv_text.splitlines()[1].startswith("bench,oracle,10,100.00,")
    assert not (tmp_path / "runs" / "leaderboard.md").exists()


def test_build_a_named_card_into_the_default_place(mini, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("build-mqa", "--benchmark", "ek100-mqa-random", "--k", 3, "--data-dir", mini)
    assert result.exit_code == 2 and "builds the card as it is written" in result.stderr
    result = invoke("build-mqa", "--benchmark", "ek100-mqa-random", "--data-dir", mini)
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "results/benchmarks/ek100-mqa-random/manifest.json").read_text())
    assert (manifest["name"], manifest["source"], manifest["k"]) == ("ek100-mqa-random", "random", 5)
    result = invoke("run", "--model", "always-a", "--benchmark", "ek100-mqa-random")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "results/runs/ek100-mqa-random/always-a/metrics.json").is_file()


def test_list_shows_every_registry():
    result = invoke("list")
    assert result.exit_code == 0
    for name in ("ek100-mqa-tim", "ek100-mqa-avion", "ek100-mqa-prior", "ek100-mqa-temporal", "ek100-mqa-random",
                 "tim", "avion", "epic-json", "llavaction", "scores", "oracle", "always-a", "accuracy"):
        assert f"  {name} " in result.stdout, name


@pytest.mark.parametrize("args, message", [
    (["build-mqa", "--source", "prior"], "pass --out DIR"),
    (["build-mqa", "--benchmark", "ek100-mqa-prio"], "unknown benchmark 'ek100-mqa-prio'; did you mean 'ek100-mqa-prior'"),
    (["build-mqa", "--source", "tim", "--out", "{tmp}/b", "--predictions", "{tmp}/missing.pkl"], "missing.pkl: file not found"),
    (["build-mqa", "--source", "prior", "--out", "{tmp}/b", "--k", "0"], "field 'k': expected an integer in [2, 26], found 0"),
    (["run", "--model", "nope", "--benchmark", "{tmp}"], "unknown model 'nope'"),
    (["run", "--model", "oracle", "--benchmark", "{tmp}"], "not a benchmark directory"),
    (["run", "--model", "random", "--benchmark", "{tmp}", "--model-arg", "seed"], "expected KEY=VALUE, found seed"),
    (["report", "{tmp}/nothing"], "nothing: not a directory"),
    (["report", "{tmp}"], "no finished run directories"),
])
def test_bad_input_exits_2_with_one_line(mini, tmp_path, args, message):
    result = invoke(*[a.replace("{tmp}", str(tmp_path)) for a in args], ACTBENCH_DATA_DIR=str(mini))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("actbench: error: ")]
    assert errors == lines[-1:] and message in errors[0], lines  # progress lines may precede it
    assert "Traceback" not in result.output
    assert not (tmp_path / "b").exists()
