"""What a scheduled digest run checks first and publishes after (digest/publish.py), without Prefect:
tests/test_flows.py and tests/test_prefect_deployments.py run the `daily-digest` flow over the same."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.build import build_digest
from digest.publish import EmptyWindow, default_window_end, prepare, publication
from digest.render import render_markdown
from infra.config import ConfigError
from infra.store import Store
from tests.digest_corpus import WINDOW_END, corpus_settings, populate, week

NOW = datetime(2026, 4, 20, 6, tzinfo=UTC)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "radar.toml"
    path.write_text(
        f"data_dir = {str(tmp_path / 'data')!r}\n[digest]\ntimezone = 'Asia/Shanghai'\n"
        f"out_dir = {str(tmp_path / 'out')!r}\n",
        encoding="utf-8",
    )
    return path


def test_the_default_window_ends_yesterday_in_the_digest_timezone() -> None:
    # 20:00 UTC on the 19th is already the 20th in Shanghai: its yesterday is the 19th, UTC's the 18th.
    evening = datetime(2026, 4, 19, 20, tzinfo=UTC)
    assert default_window_end("Asia/Shanghai", evening) == date(2026, 4, 19)
    assert default_window_end("UTC", evening) == date(2026, 4, 18)


def test_prepare_checks_before_any_task_and_fills_the_defaults(tmp_path: Path) -> None:
    config = str(_config(tmp_path))
    with pytest.raises(ConfigError, match="^days: must be at least 1, got 0$"):
        prepare(config, None, 0, None)
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^out_dir: .*/file is not a directory$"):
        prepare(config, None, 7, str(tmp_path / "file" / "out"))
    run = prepare(config, None, 7, None, now=datetime(2026, 4, 19, 20, tzinfo=UTC))
    assert (run.window_end, run.days, run.out_dir) == (date(2026, 4, 19), 7, tmp_path / "out")
    assert run.settings.digest.timezone == "Asia/Shanghai"
    asked = prepare(config, WINDOW_END, 3, str(tmp_path / "elsewhere"))
    assert (asked.window_end, asked.days, asked.out_dir) == (WINDOW_END, 3, tmp_path / "elsewhere")


def test_a_window_with_events_is_published_as_its_markdown(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    store = Store(settings.store.path)
    events, loose = week()
    populate(store, events, loose)
    digest = build_digest(store, settings, WINDOW_END, lang="en", now=NOW)
    published = publication(digest, WINDOW_END, ["a.md", "a.json"])
    assert published.key == "digest-2026-04-19-en" and not published.empty
    assert published.markdown == render_markdown(digest)
    assert published.description == "Daily digest 2026-04-13 .. 2026-04-19 (en)"
    assert published.log_level == logging.INFO
    assert published.log_line == (
        f"daily-digest 2026-04-13 .. 2026-04-19 {digest.window.timezone} (en): {len(digest.top_events)} top events,"
        f" {digest.stats.items_in} items in the window; wrote a.md, a.json"
    )
    published.check(fail_on_empty=True)  # events: nothing to fail on


def test_an_empty_window_says_so_and_fails_only_when_asked(tmp_path: Path) -> None:
    settings = corpus_settings(tmp_path)
    digest = build_digest(Store(settings.store.path), settings, date(2020, 1, 7), lang="zh", now=NOW)
    published = publication(digest, date(2020, 1, 7), [])
    assert published.empty and published.log_level == logging.WARNING
    assert published.key == "digest-2020-01-07-zh"
    assert published.description.endswith(" (zh) - EMPTY WINDOW")
    note = (
        f"empty window 2020-01-01 .. 2020-01-07 {digest.window.timezone}: 0 items published in it, 0 events;"
        " the digest says so (check `radar status`: did ingest and process run?)"
    )
    assert published.log_line == f"daily-digest: {note}"
    assert published.markdown == f"> **Empty window.** {note}\n\n{render_markdown(digest)}"
    published.check(fail_on_empty=False)
    with pytest.raises(EmptyWindow, match=r"^digest window 2020-01-01 \.\. 2020-01-07 .* has no events"):
        published.check(fail_on_empty=True)
