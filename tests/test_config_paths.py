"""Relative paths in a config file mean "beside the config file"; from the environment, "here" (issue 14 item 9)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from infra.config import load_settings


def _config(directory: Path, text: str, name: str = "radar.toml") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_store_migrate_creates_the_store_beside_the_config_not_here(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    _config(tmp_path / "reltest", 'data_dir = "reldata"\n[store]\npath = "reldata/radar.duckdb"\n')
    with pytest.raises(SystemExit) as exited:
        main(["-c", "reltest/radar.toml", "store", "migrate"])
    assert exited.value.code == 0, capsys.readouterr().err
    assert (tmp_path / "reltest" / "reldata" / "radar.duckdb").is_file()
    assert not (tmp_path / "reldata").exists()
    # rich wraps at 80 columns, inside the path too
    assert str(tmp_path / "reltest" / "reldata" / "radar.duckdb") in capsys.readouterr().out.replace("\n", "")


def test_relative_file_values_resolve_against_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    config = _config(
        tmp_path / "etc" / "radar",
        (
            'data_dir = "../var/radar"\n'
            f'[store]\npath = "{tmp_path / "abs" / "radar.duckdb"}"\n'
            '[digest]\nout_dir = "~/digests"\n'
        ),
    )
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "etc" / "var" / "radar"  # normalised, no ".." left
    assert settings.store.path == tmp_path / "abs" / "radar.duckdb"  # absolute: as written
    assert settings.digest.out_dir == home / "digests"  # "~" is the user's home, not a directory "~"


def test_path_defaults_follow_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A file naming no path: data_dir (broker state, Prefect home), store and digest output all sit
    # beside it, so a Prefect worker in a temporary directory finds the same broker and store.
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path / "conf", '[digest]\nlanguage = "en"\n')
    settings = load_settings(config)
    assert settings.data_dir == tmp_path / "conf" / "data"
    assert settings.store.path == tmp_path / "conf" / "data" / "radar.duckdb"
    assert settings.digest.out_dir == tmp_path / "conf" / "out"


def test_radar_config_env_var_anchors_the_same_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _config(tmp_path / "conf", '[store]\npath = "db/radar.duckdb"\n')
    monkeypatch.setenv("RADAR_CONFIG", "conf/radar.toml")
    assert load_settings().store.path == tmp_path / "conf" / "db" / "radar.duckdb"


def test_env_var_paths_stay_relative_to_the_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path / "conf", 'data_dir = "filedata"\n[store]\npath = "filedata/radar.duckdb"\n')
    monkeypatch.setenv("RADAR_DATA_DIR", "envdata")
    monkeypatch.setenv("RADAR_STORE__PATH", "envdata/radar.duckdb")
    settings = load_settings(config)
    assert settings.data_dir == Path("envdata")
    assert settings.store.path == Path("envdata/radar.duckdb")
    assert settings.store.path.resolve() == tmp_path / "envdata" / "radar.duckdb"


def test_env_var_for_another_key_of_a_section_keeps_the_anchored_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path / "conf", '[store]\npath = "db/radar.duckdb"\n')
    monkeypatch.setenv("RADAR_STORE__LOCK_TIMEOUT_S", "5")
    settings = load_settings(config)
    assert settings.store.lock_timeout_s == 5
    assert settings.store.path == tmp_path / "conf" / "db" / "radar.duckdb"


def test_without_a_config_file_paths_are_relative_to_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RADAR_CONFIG", raising=False)
    settings = load_settings()
    assert settings.data_dir == Path("data") and settings.store.path == Path("data/radar.duckdb")


def test_paths_given_in_code_are_used_as_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path / "conf", 'data_dir = "filedata"\n')
    assert load_settings(config, data_dir=Path("given")).data_dir == Path("given")
