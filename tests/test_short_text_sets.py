"""The loader of the literature's short-text sets (bench/short_text_sets.py), on files written here:
the sets themselves are not bundled, so what a user points the bench at must load or say why not."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.short_text_sets import load_short_text


def _write(directory: Path, texts: list[str], labels: list[str]) -> None:
    (directory / "GoogleNews.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    (directory / "GoogleNews_LABEL.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")


def test_lines_and_labels_become_dated_records_in_file_or_shuffled_order(tmp_path: Path) -> None:
    texts = [f"headline number {n}" for n in range(20)]
    labels = [str(n % 3) for n in range(20)]
    _write(tmp_path, texts, labels)
    in_file = load_short_text(tmp_path, "GoogleNews")
    assert [d.record.title for d in in_file] == texts
    assert [d.story for d in in_file] == labels
    assert {d.record.published_at for d in in_file} == {in_file[0].record.published_at} != {None}
    assert len({d.record.id for d in in_file}) == 20
    shuffled = load_short_text(tmp_path, "GoogleNews", "shuffled")
    assert [d.record.title for d in shuffled] != texts
    assert sorted((d.record.id, d.story) for d in shuffled) == sorted((d.record.id, d.story) for d in in_file)
    assert [d.record.id for d in load_short_text(tmp_path, "GoogleNews", "shuffled")] == [d.record.id for d in shuffled]


def test_a_missing_file_or_a_count_mismatch_says_which(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="GoogleNews.txt not found: copy dataset/GoogleNews.txt"):
        load_short_text(tmp_path, "GoogleNews")
    _write(tmp_path, ["a b c", "d e f"], ["1"])
    with pytest.raises(ValueError, match="GoogleNews.txt has 2 lines but GoogleNews_LABEL.txt 1 labels"):
        load_short_text(tmp_path, "GoogleNews")
    _write(tmp_path, ["a b c"], ["1"])
    with pytest.raises(ValueError, match="unknown order 'time'"):
        load_short_text(tmp_path, "GoogleNews", "time")
