"""The ``followthrough`` command.

Each subcommand registers itself in ``SUBCOMMANDS`` with a function that adds
its arguments and sets ``run`` (``args -> exit code``); ``main`` dispatches.
Expected failures (a bad archive, an unwritable output) print one line to
stderr and exit with 2, never a traceback.
"""

from __future__ import annotations

import argparse
import gc
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from followthrough.analysis import AnalysisConfig, History, analyze
from followthrough.archive import ArchiveError, read_archive
from followthrough.archive.page import render_html
from followthrough.archive.source import Progress
from followthrough.report import WeeklyReport
from followthrough.subscriber import iso_week

EXIT_USAGE = 2


class CommandError(Exception):
    """A failure to report as one line and exit code 2."""


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _write_all(outputs: dict[Path, str]) -> None:
    """Write every file or none: each goes to a temporary file beside it, renamed into place once all are written."""
    written: list[tuple[Path, Path]] = []
    try:
        for path, text in outputs.items():
            temporary = path.with_name(f".{path.name}.partial")
            try:
                temporary.write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"{path}: cannot write ({exc.strerror or exc})") from None
            written.append((temporary, path))
        for temporary, path in written:
            try:
                temporary.replace(path)
            except OSError as exc:
                raise CommandError(f"{path}: cannot write ({exc.strerror or exc})") from None
    finally:
        for temporary, _ in written:
            temporary.unlink(missing_ok=True)


# archives whose data files are larger than this report their progress on stderr
PROGRESS_MIN_BYTES = 4 * 2**20


def _progress(member: str, size: int, total: int) -> None:
    if total >= PROGRESS_MIN_BYTES:
        print(f"followthrough audit: reading {member} ({size / 2**20:.1f} MB)", file=sys.stderr, flush=True)


def _add_audit(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "audit",
        help="analyze an X data archive offline (no AWS, no X API)",
        description="Run the weekly analysis on an X data archive: the .zip X lets you download, or its "
        "unpacked folder. Writes the report as JSON, and optionally as an HTML page.",
    )
    parser.add_argument("--archive", required=True, type=Path, metavar="PATH", help="the archive .zip or folder")
    parser.add_argument("--json", required=True, type=Path, metavar="OUT.json", help="where to write the report")
    parser.add_argument("--html", type=Path, metavar="OUT.html", help="also write a readable HTML page")
    parser.add_argument(
        "--as-of", type=_when, metavar="WHEN", help="audit as of this date (default: when the archive was made)"
    )
    parser.add_argument(
        "--days", type=int, default=30, metavar="N", help="length of the audited window in days (default: %(default)s)"
    )
    parser.add_argument(
        "--own-domain",
        action="append",
        default=[],
        metavar="DOMAIN",
        help="a domain of yours, for the self-promotion share (repeatable)",
    )
    parser.set_defaults(run=run_audit)


@contextmanager
def one_shot_gc() -> Iterator[None]:
    """No cyclic garbage collection while a one-shot command builds its objects.

    An archive becomes hundreds of thousands of small objects, none of them
    in a reference cycle; the collector would rescan them again and again
    (measured: more than the parse itself). Afterwards they are moved to the
    oldest generation unscanned (freeze, then unfreeze), so re-enabling the
    collector does not make up for the pause in one long scan.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.unfreeze()
        if was_enabled:
            gc.enable()


def audit(
    archive: Path,
    *,
    as_of: datetime | None = None,
    days: int = 30,
    own_domains: Iterable[str] = (),
    config: AnalysisConfig | None = None,
    progress: Progress | None = None,
) -> WeeklyReport:
    """The weekly analysis of an X archive, with no earlier weeks to compare with.

    Lists are complete (the weekly report's 100-entry cap is for what the pipeline stores).
    """
    config = config or AnalysisConfig(list_limit=None)
    found = read_archive(
        archive,
        as_of=as_of,
        window_days=days,
        lookback_days=max(days, config.passive_window_days) + 2,
        progress=progress,
    )
    history = History(known_dm_conversations=found.earlier_dm_conversations)
    return analyze(
        found.activity, history, config, week=iso_week(found.activity.collected_at), own_domains=list(own_domains)
    ).report


def run_audit(args: argparse.Namespace) -> int:
    if args.days < 1:
        raise CommandError("--days must be at least 1")
    with one_shot_gc():
        report = audit(args.archive, as_of=args.as_of, days=args.days, own_domains=args.own_domain, progress=_progress)
        outputs = {args.json: report.model_dump_json(indent=2)}
        if args.html:
            outputs[args.html] = render_html(report)
        _write_all(outputs)
    metrics = report.metrics
    print(
        f"Audited @{report.username or report.subscriber_id}, {report.week}: "
        f"{metrics.get('passive_follows')} passive follows, "
        f"{len(report.auto_dms.received)} automated DMs received, "
        f"engagement score {metrics.get('engagement_score')}. Report: {args.json}"
    )
    return 0


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [_add_audit]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="followthrough", description="Followthrough: X as a conversation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (ArchiveError, CommandError) as exc:
        print(f"followthrough {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    raise SystemExit(main())
