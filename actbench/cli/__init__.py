"""The ``actbench`` command line: one file per command, each only parses arguments and calls the library."""

from __future__ import annotations

import sys

import typer

from actbench.errors import ActbenchError

app = typer.Typer(
    name="actbench",
    help="Benchmarks and evaluation for action understanding with multimodal LLMs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    # Imported here so that each command module stays small and `actbench --help` stays fast.
    from actbench.cli import (audit, build_mqa, build_train, compare, data, difficulty, list_cmd, oad_data, report, run,
                              score, train)
    from actbench.cli import export, import_cmd, merge

    app.command("build-mqa")(build_mqa.build_mqa)
    app.command("run")(run.run)
    app.command("report")(report.report)
    app.command("list")(list_cmd.list_components)
    app.command("compare")(compare.compare)
    app.command("audit")(audit.audit)
    app.command("build-train")(build_train.build_train)
    app.command("difficulty")(difficulty.difficulty)
    app.command("train")(train.train)
    app.command("export")(export.export)
    app.command("merge")(merge.merge)
    app.add_typer(data.app, name="data")
    app.add_typer(score.app, name="score")
    app.add_typer(oad_data.app, name="oad")
    app.add_typer(import_cmd.app, name="import")


_register_commands()


def main(argv: list[str] | None = None) -> None:
    """Console entry point (commands turn user errors into exit code 2 themselves, see common.py)."""
    try:
        app(args=argv)
    except ActbenchError as error:  # raised outside a command body, e.g. while registering plugins
        print(f"actbench: error: {error}", file=sys.stderr)
        sys.exit(error.exit_code)
