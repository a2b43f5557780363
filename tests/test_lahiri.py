"""data_scripts.lahiri on a tiny fixture: good install, bad sum, missing file, wrong folder,
and the shipped manifest itself."""
import hashlib

import pytest

from data_scripts import lahiri

BOOKS = {"Ann Author___First Book.txt": b"Stars and planets.\n",
         "Ann Author___Second: Book?.txt": b"The moon and the sun.\n",
         "Bob Writer___Third Book.txt": b"War and peace.\n"}
ABSENT = "Bob Writer___Lost Book.txt"


def _manifest(tmp_path, books=BOOKS):
    rows = ["file\tbytes\tsha256"]
    rows += [f"{lahiri.manifest_name(n)}\t{len(b)}\t{hashlib.sha256(b).hexdigest()}"
             for n, b in books.items()]
    rows.append(f"{ABSENT}\tabsent\t")
    path = tmp_path / "manifest.tsv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _folder(tmp_path, books=BOOKS, name="src"):
    folder = tmp_path / name
    folder.mkdir()
    for n, b in books.items():
        (folder / n).write_bytes(b)
    return folder


def _main(src, target, manifest, *extra):
    return lahiri.main(["--from", str(src), "--target", str(target), "--manifest", str(manifest),
                        *extra])


def test_installs_checked_files_and_names_the_absent_one(tmp_path, capsys):
    manifest, src, target = _manifest(tmp_path), _folder(tmp_path), tmp_path / "data" / "lahiri"
    (src / "notes.md").write_text("not a book")
    assert _main(src, target, manifest) == 0
    err = capsys.readouterr().err
    assert f"1 book(s) of the manifest absent from the source: {ABSENT}" in err
    installed = sorted(p.name for p in target.iterdir())
    # ':' and '?' in the source names are written '_' as in the manifest
    assert installed == sorted(["MANIFEST.tsv", "Ann Author___First Book.txt",
                                "Ann Author___Second_ Book_.txt", "Bob Writer___Third Book.txt"])
    rows = (target / "MANIFEST.tsv").read_text().splitlines()
    assert len(rows) == 4 and ABSENT not in "".join(rows)
    assert (target / "Bob Writer___Third Book.txt").read_bytes() == b"War and peace.\n"


def test_a_bad_sum_installs_nothing_and_keeps_the_old_installation(tmp_path, capsys):
    manifest, target = _manifest(tmp_path), tmp_path / "lahiri"
    assert _main(_folder(tmp_path), target, manifest) == 0
    before = sorted(p.name for p in target.iterdir())
    bad = dict(BOOKS)
    bad["Bob Writer___Third Book.txt"] = b"War and pease.\n"             # same size, other bytes
    assert _main(_folder(tmp_path, bad, "bad"), target, manifest) == 1
    err = capsys.readouterr().err
    assert "Bob Writer___Third Book.txt: 15 bytes, sha256" in err and "nothing installed" in err
    assert sorted(p.name for p in target.iterdir()) == before
    assert (target / "Bob Writer___Third Book.txt").read_bytes() == b"War and peace.\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".lahiri")]  # no leftovers


def test_a_missing_book_is_named_in_one_line_and_refused_unless_partial(tmp_path, capsys):
    manifest, target = _manifest(tmp_path), tmp_path / "lahiri"
    fewer = {k: v for k, v in BOOKS.items() if not k.startswith("Bob")}
    src = _folder(tmp_path, fewer)
    assert _main(src, target, manifest) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "1 book(s) of the manifest missing: Bob Writer___Third Book.txt" in err[0]
    assert not target.exists()
    assert _main(src, target, manifest, "--partial") == 0
    assert len((target / "MANIFEST.tsv").read_text().splitlines()) == 3


def test_a_folder_that_is_not_the_corpus_is_refused(tmp_path, capsys):
    manifest, target = _manifest(tmp_path), tmp_path / "lahiri"
    src = _folder(tmp_path, {"pg1342.txt": b"Pride and Prejudice\n"})
    assert _main(src, target, manifest) == 1
    assert "none of its 1 .txt files is listed in the manifest" in capsys.readouterr().err
    assert not target.exists()
    assert _main(tmp_path / "nowhere", target, manifest) == 1
    assert "not a folder" in capsys.readouterr().err


def test_the_shipped_manifest_lists_the_corpus():
    rows = lahiri.read_manifest()
    present = {n: v for n, v in rows.items() if v[0] is not None}
    assert len(rows) == 3036 and len(present) == 3035
    assert rows["John Bunyan___The Works of John Bunyan.txt"] == (None, None)
    assert all(len(sha) == 64 and size > 0 for size, sha in present.values())
    assert all(n.endswith(".txt") and '"' not in n and "\\" not in n for n in rows)
    assert sum(size for size, _ in present.values()) == 1_175_600_583


def test_the_zip_link_is_read_from_the_dataset_page(monkeypatch):
    page = b'<html><a href="other.html">x</a> <a href="files/Gutenberg.zip">corpus</a></html>'
    monkeypatch.setattr(lahiri, "fetch", lambda url: page)
    assert lahiri.zip_url("https://example.org/~l/page.html") == "https://example.org/~l/files/Gutenberg.zip"
    monkeypatch.setattr(lahiri, "fetch", lambda url: b"<html>no link</html>")
    with pytest.raises(lahiri.InstallError, match="no .zip link"):
        lahiri.zip_url("https://example.org/page.html")
