"""Configuration: the §6 keys, env overrides, clear errors, secrets never printed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from infra.config import ConfigError, load_settings

CONTRACT_TOML = """
[kafka]
bootstrap = "embedded"
[store]
path = "data/radar.duckdb"
[digest]
timezone = "Asia/Shanghai"
language = "zh"
lookback_days = 14
[[sources]]
name = "openai-news"
kind = "feed"
url = "https://openai.com/news/rss.xml"
tier = "official"
[[sources]]
name = "x-search"
kind = "x"
url = "https://api.x.com/2/tweets/search/recent?query=openai"
tier = "social"
token_env = "X_BEARER_TOKEN"
"""

CANARY = "CANARY-7f3e9a1c-do-not-print"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "radar.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_file_with_only_contract_keys_loads(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, CONTRACT_TOML))
    assert settings.kafka.embedded
    # relative to the config file's directory (tests/test_config_paths.py)
    assert settings.store.path == tmp_path / "data" / "radar.duckdb"
    assert (settings.digest.timezone, settings.digest.language, settings.digest.lookback_days) == (
        "Asia/Shanghai",
        "zh",
        14,
    )
    assert [(s.name, s.kind, s.tier) for s in settings.sources] == [
        ("openai-news", "feed", "official"),
        ("x-search", "x", "social"),
    ]
    assert settings.sources[1].token_env == "X_BEARER_TOKEN"
    # keys beyond the contract have defaults
    assert settings.kafka.raw_topic == "radar.raw.v1"


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADAR_DIGEST__LANGUAGE", "en")
    monkeypatch.setenv("RADAR_KAFKA__BOOTSTRAP", "broker1:9092,broker2:9092")
    settings = load_settings(_write(tmp_path, CONTRACT_TOML))
    assert settings.digest.language == "en"
    assert settings.kafka.bootstrap == "broker1:9092,broker2:9092"
    assert not settings.kafka.embedded


def test_pipeline_options_come_from_env_as_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADAR_PROCESSOR__PIPELINE_OPTIONS", '["--direct_num_workers=2"]')
    assert load_settings(_write(tmp_path, CONTRACT_TOML)).processor.pipeline_options == ["--direct_num_workers=2"]


def test_radar_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RADAR_CONFIG", str(_write(tmp_path, CONTRACT_TOML)))
    assert load_settings().sources[0].name == "openai-news"


@pytest.mark.parametrize(
    ("toml_text", "expected"),
    [
        ('[kafka]\nbootstrapp = "embedded"\n', "kafka.bootstrapp: unknown key"),
        ('[digest]\nlanguage = "fr"\n', "digest.language: Input should be 'zh' or 'en'"),
        ('[digest]\ntimezone = "Mars/Olympus"\n', "digest.timezone: Value error, unknown IANA timezone"),
        ('[kafka]\nbootstrap = "nohostport"\n', "kafka.bootstrap: Value error, expected 'embedded'"),
        ('[[sources]]\nname = "a"\nkind = "rss"\nurl = "https://a"\ntier = "official"\n', "sources.0.kind"),
        ('[[sources]]\nname = "a"\nkind = "feed"\nurl = "ftp://a"\ntier = "official"\n', "sources.0.url"),
        ('[[sources]]\nname = "a"\nkind = "feed"\nurl = "https://a"\n', "sources.0.tier: Field required"),
        ("bogus_section = 1\n", "bogus_section: unknown key"),
        ("[kafka\n", "is not valid TOML"),
        ('[processor]\npipeline_options = ["direct_num_workers=2"]\n', "processor.pipeline_options: Value error"),
    ],
    ids=[
        "unknown-key",
        "bad-enum",
        "bad-timezone",
        "bad-bootstrap",
        "bad-kind",
        "bad-scheme",
        "missing-tier",
        "unknown-section",
        "broken-toml",
        "bad-pipeline-flag",
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, toml_text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc_info:
        load_settings(_write(tmp_path, toml_text))
    assert expected in str(exc_info.value)
    assert "\n" not in str(exc_info.value)


def test_duplicate_source_names_rejected(tmp_path: Path) -> None:
    text = CONTRACT_TOML + '[[sources]]\nname = "openai-news"\nkind = "html"\nurl = "https://b"\ntier = "media"\n'
    with pytest.raises(ConfigError, match="duplicate source name 'openai-news'"):
        load_settings(_write(tmp_path, text))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml")


def _run_cli(args: list[str], env_extra: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RADAR_")}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=60
    )


@pytest.mark.parametrize(
    "env_extra",
    [
        # a secret beside an invalid value in the same section: pydantic would echo the section
        {"RADAR_KAFKA__SASL_PASSWORD": CANARY, "RADAR_KAFKA__RAW_PARTITIONS": "many"},
        # the secret itself is the invalid value (a dict where a string is expected)
        {"RADAR_LLM__API_KEY": '{"k": "' + CANARY + '"}'},
        # a whole section given as unparsable JSON that contains the secret
        {"RADAR_KAFKA": '{"sasl_password": "' + CANARY + '", "bootstrap": 5'},
        # valid secret, printed config
        {"RADAR_KAFKA__SASL_PASSWORD": CANARY},
    ],
    ids=["beside-bad-value", "secret-wrong-type", "section-bad-json", "config-show"],
)
def test_secret_canary_never_printed(tmp_path: Path, env_extra: dict[str, str]) -> None:
    for args in (["config", "check"], ["config", "show"], ["--debug", "config", "show"]):
        result = _run_cli(args, env_extra, tmp_path)
        assert CANARY not in result.stdout + result.stderr, (args, result.stdout, result.stderr)
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env_extra.items():
            mp.setenv(key, value)
        try:
            shown = str(load_settings().redacted())
        except ConfigError as exc:
            shown = str(exc)
        assert CANARY not in shown


def test_cli_config_error_is_one_line_without_traceback(tmp_path: Path) -> None:
    path = _write(tmp_path, '[kafka]\nbootstrapp = "x"\n')
    result = _run_cli(["--config", str(path), "config", "check"], {}, tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "kafka.bootstrapp: unknown key" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_names_each_webhook_and_fails_for_one_that_cannot_deliver(tmp_path: Path) -> None:
    """A loopback target without `local = true` dead-letters every alert, and an unset secret keeps
    them pending for ever: `config check` says so (and exits 1) instead of "OK"."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    hooks = """
[[alerts.webhooks]]
name = "ok-hook"
url = "https://hooks.example.com/radar"
secret_env = "HOOK_SECRET"

[[alerts.webhooks]]
name = "loopback"
url = "http://127.0.0.1:9/radar"

[[alerts.webhooks]]
name = "unset"
url = "https://hooks.slack.com/services/T000/B000/SLACKTOKEN"
secret_env = "NOT_SET_ANYWHERE"
format = "slack"
"""
    path = _write(tmp_path, hooks)
    result = _run_cli(["--config", str(path), "config", "check"], {"HOOK_SECRET": secret}, tmp_path)
    out = " ".join(result.stdout.split())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "loads, but 2 webhook(s) cannot deliver" in out and "3 webhook(s)" in out, out
    assert "webhook ok-hook (standard, high and up): https://hooks.example.com" in out
    assert "127.0.0.1 is a loopback or private address: every delivery fails without local = true" in out
    assert "note: no secret_env: deliveries are not signed" in out
    assert "env var NOT_SET_ANYWHERE is not set: its deliveries wait until it is" in out
    # A Slack incoming webhook's path is its credential: only the origin is printed.
    assert "SLACKTOKEN" not in result.stdout + result.stderr and secret not in result.stdout
    fixed = _write(tmp_path, hooks.replace('"http://127.0.0.1:9/radar"', '"http://127.0.0.1:9/radar"\nlocal = true'))
    env = {"HOOK_SECRET": secret, "NOT_SET_ANYWHERE": secret}
    result = _run_cli(["--config", str(fixed), "config", "check"], env, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "configuration OK" in result.stdout and "cannot deliver" not in result.stdout


def test_a_bad_key_from_the_environment_names_its_variable(tmp_path: Path) -> None:
    result = _run_cli(["config", "check"], {"RADAR_ALERTS__MIN_SCOR": "5"}, tmp_path)
    assert result.returncode == 1
    assert "alerts.min_scor: unknown key (set by the environment variable RADAR_ALERTS__MIN_SCOR)" in result.stderr
    path = _write(tmp_path, "[alerts]\nmin_scor = 5\n")
    result = _run_cli(["--config", str(path), "config", "check"], {}, tmp_path)
    assert "alerts.min_scor: unknown key" in result.stderr and "environment variable" not in result.stderr
