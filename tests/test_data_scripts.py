"""Data scripts facing bad sources: each ends with one clear line naming the file, exit 1,
and nothing half-written in the target."""
import json
import os
import shutil
from pathlib import Path

import pytest

from conftest import SHARED_DATA
from data_scripts import _common, glove, gsod, mocap, nltk_corpora, weather5

NEEDS_SHARED = pytest.mark.skipif(not SHARED_DATA.is_dir(),
                                  reason="../shared/data is not beside the checkout")


def copy_nltk(src, dst, name="stopwords"):
    (dst / "corpora").mkdir(parents=True)
    shutil.copy(src / "nltk_data" / "corpora" / f"{name}.zip", dst / "corpora" / f"{name}.zip")
    return dst / "corpora" / f"{name}.zip"


def corrupt(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@NEEDS_SHARED
@pytest.mark.parametrize("damage", [corrupt, truncate], ids=["wrong-sha256", "truncated"])
def test_nltk_corpora_rejects_a_damaged_zip(tmp_path, capsys, damage):
    damage(copy_nltk(SHARED_DATA, tmp_path / "src"))
    code = nltk_corpora.main(["--from", str(tmp_path / "src"), "--only", "stopwords",
                              "--target", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "error: nltk_data check failed" in err and "stopwords.zip: sha256" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.zip"))


@NEEDS_SHARED
@pytest.mark.parametrize("damage", [corrupt, truncate], ids=["wrong-sha256", "truncated"])
def test_mocap_rejects_a_damaged_file(tmp_path, capsys, damage):
    src = tmp_path / "src"
    shutil.copytree(SHARED_DATA / "mocap6", src)
    damage(src / "13_30.dat")
    code = mocap.main(["--from", str(src), "--target", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "13_30.dat" in err and "sha256" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@NEEDS_SHARED
@pytest.mark.parametrize("damage", [corrupt, truncate], ids=["wrong-sha256", "truncated"])
def test_weather5_rejects_a_damaged_table(tmp_path, capsys, damage):
    src = tmp_path / "src"
    src.mkdir()
    shutil.copy(SHARED_DATA / "weather5" / "Weather.csv", src / "Weather.csv")
    damage(src / "Weather.csv")
    code = weather5.main(["--from", str(src), "--target", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error: Weather.csv")
    assert not (tmp_path / "out" / "Weather.csv").exists()


@pytest.mark.parametrize("script,args,needle", [
    (nltk_corpora, ["--only", "stopwords"], "missing stopwords.zip"),
    (mocap, [], "missing 13_29.dat"),
    (weather5, [], "Weather.csv not found"),
    (gsod, ["--years", "2015"], "missing input files"),
    (glove, [], "neither glove.6B.50d.txt nor glove.6B.zip found"),
])
def test_missing_files_are_named(tmp_path, capsys, script, args, needle):
    (tmp_path / "empty").mkdir()
    code = script.main(["--from", str(tmp_path / "empty"), "--target", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("error:") and needle in err
    assert not (tmp_path / "out").exists() or not [p for p in (tmp_path / "out").rglob("*")
                                                     if p.is_file() and p.suffix != ".tmp"]


def test_download_failure_is_one_clear_line(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr(_common.urllib.request, "urlopen", refuse)
    with pytest.raises(_common.InstallError, match="could not download https://example.invalid/x"):
        _common.fetch("https://example.invalid/x")
    with pytest.raises(_common.InstallError, match="could not download"):
        _common.fetch_to_file("https://example.invalid/y", tmp_path / "y")
    assert not (tmp_path / "y").exists()


def test_write_atomic_leaves_no_temporary_file_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    with pytest.raises(TypeError):
        _common.write_atomic(target, object())  # not bytes: the write fails midway
    assert not target.exists() and not list(tmp_path.glob(".f.bin.*"))
    _common.write_atomic(target, b"ok")
    assert target.read_bytes() == b"ok" and oct(target.stat().st_mode & 0o777) == "0o644"


def _file_target(tmp_path):
    target = tmp_path / "taken"
    target.write_text("a file, not a folder")
    return target


def _unwritable_target(tmp_path):
    if os.geteuid() != 0:
        target = tmp_path / "read-only"
        target.mkdir()
        target.chmod(0o555)
        return target
    return Path("/proc/spahm-data-target")  # root may write anywhere else; not in /proc


@NEEDS_SHARED
@pytest.mark.parametrize("make_target,needle", [
    (_file_target, "taken is a file, not a directory"),
    (_unwritable_target, "the target must be a writable directory"),
], ids=["file-target", "unwritable-target"])
def test_unusable_targets_are_one_clear_line(tmp_path, capsys, make_target, needle):
    target = make_target(tmp_path)
    code = weather5.main(["--from", str(SHARED_DATA / "weather5"), "--target", str(target)])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith(f"error: cannot write {target}")
    assert needle in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    if target.is_file():
        assert target.read_text() == "a file, not a folder"


# ---------------------------------------------------------------------------- checked at run time
def _edit(path):
    data = bytearray(path.read_bytes())
    data[10] = ord("7") if data[10] != ord("7") else ord("8")  # same size, another value
    path.write_bytes(bytes(data))


def _grow(path):
    path.write_bytes(path.read_bytes() + b"1.0\n")


def _remove(path):
    path.unlink()


EDITS = [(_edit, "changed since it was installed"), (_grow, "bytes, "), (_remove, "is missing")]


@NEEDS_SHARED
@pytest.mark.parametrize("edit,message", EDITS, ids=[e[0].__name__ for e in EDITS])
def test_installed_data_is_checked_at_run_time(tmp_path, monkeypatch, edit, message):
    """Every file a data script installs is recorded (size, CRC-32); a run of the experiment
    that reads it refuses a file edited afterwards, naming it, before any work."""
    from experiments.data_requirements import check_installed_data
    from experiments.errors import DataMissingError

    assert mocap.main(["--from", str(SHARED_DATA / "mocap6"),
                       "--target", str(tmp_path / "mocap6")]) == 0
    record = tmp_path / "mocap6" / _common.INSTALL_RECORD
    assert len(json.loads(record.read_text())) == len(mocap.SHA256)
    monkeypatch.setenv("SPAHM_DATA", str(tmp_path))
    check_installed_data("mocap", "quick")  # as installed: nothing to say
    edit(tmp_path / "mocap6" / "13_30.dat")
    with pytest.raises(DataMissingError, match=f"13_30.dat.*{message}"):
        check_installed_data("mocap", "paper")
