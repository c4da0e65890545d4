"""Tests for seq2seq_jax.data.text_files: every bad-input case names its file and line."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from seq2seq_jax.data.text_files import find_file, read_fields, read_parallel
from seq2seq_jax.errors import DataError

LAYOUT = "WORD<TAB>PHONEMES"


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def fields(path: Path, skip: bool = False, max_fields: int | None = 2):
    return read_fields(path, min_fields=2, max_fields=max_fields, layout=LAYOUT,
                       skip_bad_lines=skip)


@pytest.mark.parametrize("gz", [False, True])
def test_reads_plain_and_gzip_alike(tmp_path, gz):
    path = write(tmp_path / "f", b"HELLO\tHH AH L OW\r\nA\t AH \n", gz)
    result = fields(path)
    assert result.rows == [("HELLO", "HH AH L OW"), ("A", "AH")]
    assert result.skipped == 0


def test_missing_file_and_directory_name_the_path(tmp_path):
    with pytest.raises(DataError, match=r"does not exist.*GET IT HERE"):
        find_file(tmp_path / "nowhere", "x.txt", how_to_get="GET IT HERE")
    with pytest.raises(DataError, match=r"x\.txt\.gz exists\. GET IT HERE"):
        find_file(tmp_path, "x.txt", how_to_get="GET IT HERE")
    with pytest.raises(DataError, match="does not exist"):
        fields(tmp_path / "absent")


def test_find_file_prefers_plain_then_gz(tmp_path):
    write(tmp_path / "a.gz", b"x\n", gz=True)
    assert find_file(tmp_path, "a", how_to_get="") == tmp_path / "a.gz"
    write(tmp_path / "a", b"x\n")
    assert find_file(tmp_path, "a", how_to_get="") == tmp_path / "a"


@pytest.mark.parametrize(
    ("content", "line", "why"),
    [
        (b"A\tAH\nB\tB IY\textra\n", 2, "expected 2 tab-separated fields .*found 3"),
        (b"A\tAH\nNOTAB\n", 2, ".*found 1"),
        (b"A\tAH\n\nB\tB IY\n", 2, ".*found 1"),
        (b"A\tAH\nB\t  \n", 2, "field 2 is empty"),
        (b"A\tAH\nB\tB IY\nC\xff\tS IY\n", 3, "invalid UTF-8 .*0xff"),
    ],
)
def test_bad_field_lines_raise_with_file_and_line(tmp_path, content, line, why):
    path = write(tmp_path / "dict.gz", content, gz=True)
    with pytest.raises(DataError, match=rf"dict\.gz, line {line}: {why}.*skip_bad_lines"):
        fields(path)
    result = fields(path, skip=True)
    assert result.skipped == 1
    assert len(result.rows) == content.count(b"\n") - 1
    assert f"line {line}" in result.problems[0]


def test_validate_hook_and_open_field_count(tmp_path):
    path = write(tmp_path / "ref", b"A\tAH\tEY\nB2\tB IY\n")
    with pytest.raises(DataError, match=r"ref, line 2: digits"):
        read_fields(path, min_fields=2, max_fields=None, layout=LAYOUT,
                    validate=lambda f: "digits" if any(c.isdigit() for c in f[0]) else None)
    assert fields(path, skip=True, max_fields=None).rows == [("A", "AH", "EY"),
                                                             ("B2", "B IY")]


def test_no_usable_line_is_an_error(tmp_path):
    path = write(tmp_path / "f", b"only-one-field\n")
    with pytest.raises(DataError, match=r"no usable lines \(1 skipped\)"):
        fields(path, skip=True)


def test_corrupt_gzip_names_the_file(tmp_path):
    whole = gzip.compress(b"A\tAH\n" * 100)
    path = write(tmp_path / "broken.gz", whole[: len(whole) // 2])
    with pytest.raises(DataError, match=r"Cannot read .*broken\.gz"):
        fields(path)


def test_parallel_pairs_lines(tmp_path):
    src = write(tmp_path / "s.en", b"a dog .\r\nthe cat\n", gz=True)
    tgt = write(tmp_path / "s.de", "ein hund .\ndie kätze\n".encode())
    assert read_parallel(src, tgt).rows == [("a dog .", "ein hund ."),
                                            ("the cat", "die kätze")]


def test_parallel_keeps_a_stray_carriage_return_inside_a_line(tmp_path):
    src = write(tmp_path / "s", b"a\rb\nc\n")
    tgt = write(tmp_path / "t", b"x\ny\n")
    assert [r[1] for r in read_parallel(src, tgt).rows] == ["x", "y"]


@pytest.mark.parametrize(
    ("src", "tgt", "bad_file", "line", "why"),
    [
        (b"a\n\nc\n", b"x\ny\nz\n", "s", 2, "empty sentence"),
        (b"a\nb\nc\n", b"x\n  \nz\n", "t", 2, "empty sentence"),
        (b"a\nb\nc\n", b"x\ny\n\xc3\x28\n", "t", 3, "invalid UTF-8"),
    ],
)
def test_parallel_bad_side(tmp_path, src, tgt, bad_file, line, why):
    s, t = write(tmp_path / "s", src, gz=True), write(tmp_path / "t", tgt)
    with pytest.raises(DataError, match=rf"/{bad_file}, line {line}: {why}"):
        read_parallel(s, t)
    result = read_parallel(s, t, skip_bad_lines=True)
    assert result.skipped == 1
    assert len(result.rows) == 2
    assert all(a and b for a, b in result.rows)


def test_parallel_line_count_mismatch_is_never_skipped(tmp_path):
    s = write(tmp_path / "train.en", b"a\nb\nc\n")
    t = write(tmp_path / "train.de", b"x\ny\n")
    for skip in (False, True):
        with pytest.raises(DataError, match=r"train\.en has 3 lines but .*train\.de has 2: "
                                            r"line 3 of .*train\.en has no partner"):
            read_parallel(s, t, skip_bad_lines=skip)
