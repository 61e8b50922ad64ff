"""Source groups (issue 16 item 3): a group per source (derived from the kind unless named), and
`radar ingest --group` / `--exclude-group` selecting by it, against real servers and the broker."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.ingest import run_ingest, select_sources
from connectors.sample_server import sample_sources, serve_corpus
from infra.config import ConfigError, Settings, SourceConfig, load_settings
from tests.connector_support import envelopes, source, with_sources
from tests.test_cli_ops import _app


def _settings(settings: Settings, sources: list[SourceConfig]) -> Settings:
    return settings.model_copy(update={"sources": sources})


def test_group_defaults_from_the_kind_and_an_explicit_one_wins(tmp_path: Path) -> None:
    config = tmp_path / "radar.toml"
    config.write_text(
        """
[[sources]]
name = "blog"
kind = "feed"
url = "https://example.com/feed.xml"
tier = "official"

[[sources]]
name = "labs"
kind = "x"
url = "https://api.x.com/2/tweets/search/recent"
tier = "social"
accounts = ["OpenAI", "@AnthropicAI", "openai"]
query_filter = "-is:retweet"

[[sources]]
name = "papers"
kind = "arxiv"
url = "https://export.arxiv.org/api/query?search_query=cat:cs.AI"
tier = "research"

[[sources]]
name = "china-media"
kind = "html"
url = "https://example.cn/ai"
tier = "media"
group = "asia"
""",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert [(s.name, s.group) for s in settings.sources] == [
        ("blog", "feeds"),
        ("labs", "x"),
        ("papers", "arxiv"),
        ("china-media", "asia"),
    ]
    # Case-insensitive handles, "@" dropped, first spelling kept.
    assert settings.source("labs").accounts == ["OpenAI", "AnthropicAI"]
    # A file with only the DESIGN.md §6 keys still loads (no group, no accounts).
    assert tomllib.loads(config.read_text())["sources"][0].keys() == {"name", "kind", "url", "tier"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "feed", "accounts": ["a"]}, 'for kind = "x" sources only'),
        ({"kind": "x", "accounts": ["not a handle"]}, "is not an X username"),
        (
            {"kind": "x", "accounts": ["a"], "url": "https://api.x.com/2/tweets/search/recent?query=ai"},
            "without query=",
        ),
        ({"kind": "feed", "group": "bad group"}, "group"),
    ],
)
def test_bad_group_and_account_settings_are_config_errors(
    tmp_path: Path, fields: dict[str, object], message: str
) -> None:
    entry = {"name": "s", "kind": "x", "url": "https://api.x.com/2/tweets/search/recent", "tier": "social", **fields}
    lines = ["[[sources]]"] + [f"{k} = {_toml(v)}" for k, v in entry.items()]
    config = tmp_path / "radar.toml"
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings(config)


def _toml(value: object) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    return f'"{value}"'


def test_select_by_group_name_and_exclusion(settings: Settings) -> None:
    sources = [
        source("f1", "feed", "http://127.0.0.1:1/a.xml"),
        source("x1", "x", "http://127.0.0.1:1/2/tweets/search/recent"),
        source("a1", "arxiv", "http://127.0.0.1:1/api/query"),
        source("mine", "html", "http://127.0.0.1:1/p.html", group="asia"),
        source("off", "feed", "http://127.0.0.1:1/off.xml", enabled=False),
    ]
    configured = _settings(settings, sources)

    def names(*args: object) -> list[str]:
        return [s.name for s in select_sources(configured, *args)]  # type: ignore[arg-type]

    assert names() == ["f1", "x1", "a1", "mine"]
    assert names(None, ["x"]) == ["x1"]
    assert names(None, ["feeds", "asia"]) == ["f1", "mine"]  # configured order; disabled ones stay out
    assert names(["off"], ["x"]) == ["x1", "off"]  # a named source is asked for, enabled or not
    assert names(None, None, ["x", "arxiv"]) == ["f1", "mine"]  # the 15-minute schedule's selection
    assert names(["a1", "f1"]) == ["a1", "f1"]  # names alone: the order asked for, as before groups
    # A kind-derived group always exists (a deployment for it runs nothing rather than failing).
    assert names(None, ["x"]) and select_sources(_settings(settings, sources[:1]), None, ["arxiv"]) == []
    with pytest.raises(ConfigError, match="no source group 'asai'.*known: arxiv, asia, feeds, x"):
        select_sources(configured, None, ["asai"])


def test_cli_ingest_by_group_runs_only_that_group(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        corpus = sample_sources(server.base_url)
        configured = with_sources(settings, corpus)
        result = CliRunner(env={"COLUMNS": "200"}).invoke(_app(configured), ["ingest", "--group", "x", "-g", "arxiv"])
        assert result.exit_code == 0, result.output
        kinds = {e.source.kind for e in envelopes(broker, settings.kafka, settings.kafka.raw_topic)}
        assert kinds == {"x", "arxiv"}
        progress = [line for line in result.output.splitlines() if line.startswith("ingest [")]
        assert len(progress) == 2

        rest = CliRunner(env={"COLUMNS": "200"}).invoke(
            _app(configured), ["ingest", "--exclude-group", "x", "--exclude-group", "arxiv"]
        )
        assert rest.exit_code == 0, rest.output
        assert len([line for line in rest.output.splitlines() if line.startswith("ingest [")]) == len(corpus) - 2

        unknown = CliRunner().invoke(_app(configured), ["ingest", "--group", "nope"])
        assert unknown.exit_code != 0 and isinstance(unknown.exception, ConfigError)


def test_run_ingest_takes_groups(settings: Settings, broker: str) -> None:
    with serve_corpus() as server:
        configured = with_sources(settings, sample_sources(server.base_url))
        report = run_ingest(configured, groups=["feeds"])
    assert {r.kind for r in report.sources} == {"feed", "html"}
    assert report.total("errors") == 0
