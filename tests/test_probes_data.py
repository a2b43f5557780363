"""Probe table for the data scripts' ``--from`` folders (no silent wrong answers): each probe is
a source a user might hand a script, with the outcome it must have. A folder is installed only
against a checksum the script knows or a manifest in the folder; an unknown column is dropped
only when every known value still matches."""
import hashlib
import shutil

import pandas as pd
import pytest

from conftest import SHARED_DATA
from data_scripts import gutenberg, weather5

WEATHER = SHARED_DATA / "weather5" / "Weather.csv"
NEEDS_WEATHER = pytest.mark.skipif(not WEATHER.is_file(), reason="no shared weather5")


def _book(words="The guns of the western front fell silent at last. "):
    return ("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n" + words * 20 +
            "\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n").encode()


def _tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows))


def _listed(src, raw):
    _tsv(src / "MANIFEST.tsv", ["pg_id", "sha256"], [["22523", hashlib.sha256(raw).hexdigest()]])


def _no_manifest(src, raw):
    pass


def _wrong_sum(src, raw):
    _tsv(src / "MANIFEST.tsv", ["pg_id", "sha256"], [["22523", "0" * 64]])


def _not_listed(src, raw):
    _tsv(src / "MANIFEST.tsv", ["pg_id", "sha256"], [["40087", hashlib.sha256(raw).hexdigest()]])


def _no_sha_column(src, raw):
    _tsv(src / "MANIFEST.tsv", ["pg_id", "title"], [["22523", "A book"]])


BOOK_PROBES = [  # (how the folder is made, exit code, words the one error line holds)
    (_listed, 0, None),
    (_no_manifest, 1, ["MANIFEST.tsv not found", "sha256"]),
    (_wrong_sum, 1, ["22523: sha256", "differs from MANIFEST.tsv's " + "0" * 64]),
    (_not_listed, 1, ["22523: not listed in MANIFEST.tsv"]),
    (_no_sha_column, 1, ["MANIFEST.tsv: no column(s) ['sha256']"]),
]


@pytest.mark.parametrize("make,code,needles", BOOK_PROBES, ids=[p[0].__name__ for p in BOOK_PROBES])
def test_gutenberg_from_folder_probes(tmp_path, capsys, make, code, needles):
    src = tmp_path / "src"
    src.mkdir()
    raw = _book()
    (src / "22523.txt").write_bytes(raw)
    make(src, raw)
    out = tmp_path / "out"
    assert gutenberg.main(["--from", str(src), "--ids", "22523", "--target", str(out)]) == code
    captured = capsys.readouterr()
    if code == 0:
        assert "(1 checked against the source manifest" in captured.out
        return
    err = captured.err.strip()
    assert err.startswith("error:") and len(err.splitlines()) == 1, err
    assert all(n in err for n in needles), err
    assert not out.exists()


def test_gutenberg_reference_folder_is_checked_against_its_manifest(tmp_path, capsys):
    src, listing = tmp_path / "corpus", tmp_path / "MANIFEST.tsv"
    (src / "sub").mkdir(parents=True)
    raw = _book("Stars and planets wheel across the night sky above. ")
    (src / "sub" / "Author___Title.txt").write_bytes(raw)
    args = ["reference", "--from", str(src), "--target", str(tmp_path / "out")]
    assert gutenberg.main(args) == 1  # no manifest in the folder, none given
    assert "MANIFEST.tsv not found" in capsys.readouterr().err
    _tsv(listing, ["file", "bytes", "sha256"],
         [["Author___Title.txt", str(len(raw)), hashlib.sha256(raw).hexdigest()]])
    assert gutenberg.main(args + ["--manifest", str(listing)]) == 0
    assert "(1 checked" in capsys.readouterr().out
    (src / "sub" / "Author___Title.txt").write_bytes(raw.replace(b"Stars", b"Suns "))
    assert gutenberg.main(args[:-1] + [str(tmp_path / "o2"), "--manifest", str(listing)]) == 1
    assert "Author___Title.txt: sha256" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


# ------------------------------------------------------------------------------------- weather5
def _as_is(frame):
    return frame


def _rownames(frame):
    frame.insert(0, "rownames", range(1, len(frame) + 1))
    return frame


def _extra_column(frame):
    frame["note"] = "x"
    return frame


def _changed_value(frame):
    frame.loc[10, "avg_temp"] += 1
    return frame


def _rownames_and_changed_value(frame):
    return _changed_value(_rownames(frame))


def _extra_column_and_changed_value(frame):
    return _changed_value(_extra_column(frame))


def _floats_and_na(frame):  # another formatting of the same values: 68.0, R's NA
    frame["high_temp"] = frame["high_temp"].astype(float)
    return frame


WEATHER_PROBES = [  # (how the table is edited, exit code)
    (_as_is, 0), (_rownames, 0), (_extra_column, 0), (_floats_and_na, 0),
    (_changed_value, 1), (_rownames_and_changed_value, 1), (_extra_column_and_changed_value, 1),
]


@NEEDS_WEATHER
@pytest.mark.parametrize("edit,code", WEATHER_PROBES, ids=[p[0].__name__ for p in WEATHER_PROBES])
def test_weather5_from_folder_probes(tmp_path, capsys, edit, code):
    src = tmp_path / "src"
    src.mkdir()
    if edit is _as_is:
        shutil.copy(WEATHER, src / "Weather.csv")
    else:
        edit(pd.read_csv(WEATHER)).to_csv(src / "Weather.csv", index=False, na_rep="NA")
    out = tmp_path / "out"
    assert weather5.main(["--from", str(src), "--target", str(out)]) == code
    err = capsys.readouterr().err.strip()
    if code == 0:
        installed = pd.read_csv(out / "Weather.csv")
        assert list(installed.columns) == weather5.COLUMNS
        pd.testing.assert_frame_equal(installed, pd.read_csv(WEATHER), check_dtype=False)
        if edit is _as_is:
            assert weather5.sha256_bytes((out / "Weather.csv").read_bytes()) == weather5.SHA256
        return
    assert err.startswith("error: Weather.csv: the values of its 25 expected columns")
    assert len(err.splitlines()) == 1 and "note:" not in err
    assert not (out / "Weather.csv").exists()
