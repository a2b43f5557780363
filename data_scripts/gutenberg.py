"""Install the paper's 40 Project Gutenberg books (one silo each) and a coherence reference corpus.

Books (paper section 4.2; mostly on World War I and astronomy): fetched by ID from Project
Gutenberg's canonical plain-text URLs, ``https://www.gutenberg.org/cache/epub/<id>/pg<id>.txt``
(older layouts ``files/<id>/<id>-0.txt`` and ``files/<id>/<id>.txt`` are tried next). The
Gutenberg header and licence are stripped (everything outside the ``*** START OF`` / ``*** END
OF`` markers); each book is written as ``<target>/books/<id>.txt``. ``MANIFEST.json`` records
the source, the sha256 of the downloaded file and of the stripped text; ``--verify`` checks a
later installation against a recorded manifest (Gutenberg revises files, so the sums of the
paper's 2019 downloads cannot be known here).

``--from DIR`` needs a manifest listing the sha256 of every file it installs, and checks every
raw file against it before anything is written (a folder without one, a file it does not list
or whose sum differs is refused, naming the file and what was expected): for the books,
``DIR/MANIFEST.tsv`` with columns ``pg_id`` and ``sha256`` (and ``source_repository``,
``commit``, ``title``, recorded beside the sums; e.g. the GITenberg copies of the same
editions); for ``reference``, a ``MANIFEST.tsv`` with columns ``file`` and ``sha256`` (Lahiri's
corpus ships one), in ``DIR`` or given with ``--manifest``.

Another coherence reference (the experiment's ``data.reference_dir``): any folder of plain-text
books with a manifest of their sums (``reference --from DIR``), or chosen Gutenberg IDs
(``reference --ids ...``); it lands in ``<target>/reference/``. The paper's headline reference, S. Lahiri's corpus, has its
own script with a checksum for every book: ``python -m data_scripts.lahiri``.

Usage::

    python -m data_scripts.gutenberg                            # the 40 books, canonical URLs
    python -m data_scripts.gutenberg --from ../shared/data/gutenberg40   # <id>.txt + MANIFEST.tsv
    python -m data_scripts.gutenberg reference --from DIR --manifest SUMS.tsv    # any books, with their sums
    python -m data_scripts.gutenberg reference --ids 1342 84    # Gutenberg books by ID
    python -m data_scripts.gutenberg --verify data/gutenberg/books/MANIFEST.json

Default target: ``data/gutenberg`` at the repo root (what the paper profile reads).
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import sys
import time
import urllib.request
from pathlib import Path

from data_scripts._common import REPO_DATA, InstallError, sha256_bytes, write_atomic

BOOK_IDS = (22523, 40087, 15896, 25341, 16588, 15524, 47248, 26930, 47269, 20335, 35075, 20435,
            13045, 29443, 29501, 29493, 30047, 24570, 6082, 26879, 793, 7947, 23601, 33438, 10409,
            30114, 35937, 27477, 25267, 28570, 6630, 15636, 35744, 8172, 16767, 26556, 25992,
            27378, 39142, 58810)
URL_PATTERNS = (
    "https://www.gutenberg.org/cache/epub/{id}/pg{id}.txt",
    "https://www.gutenberg.org/files/{id}/{id}-0.txt",
    "https://www.gutenberg.org/files/{id}/{id}.txt",
)
LOCAL_PATTERNS = ("pg{id}.txt", "{id}.txt", "{id}-0.txt", "pg{id}-0.txt")
DEFAULT_TARGET = REPO_DATA / "gutenberg"

_START = re.compile(r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK[^\n]*$",
                    re.IGNORECASE | re.MULTILINE)
_END = re.compile(r"^\s*(?:\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?BOOK"
                  r"|End of (?:the )?Project Gutenberg'?s? E-?(?:Book|text))[^\n]*$",
                  re.IGNORECASE | re.MULTILINE)


sha256 = sha256_bytes  # the name the manifest code and tests use


def strip_gutenberg(raw: str) -> str:
    """The text between the START and END markers (the whole text if a marker is absent)."""
    start = _START.search(raw)
    body = raw[start.end():] if start else raw
    end = _END.search(body)
    if end:
        body = body[:end.start()]
    return body.strip() + "\n"


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def download_book(book_id, timeout=60, pause=1.0):
    """(bytes, url) of a book from the first canonical URL that answers."""
    errors = []
    for pattern in URL_PATTERNS:
        url = pattern.format(id=book_id)
        try:
            print(f"downloading {url}", file=sys.stderr)
            req = urllib.request.Request(url, headers={"User-Agent": "spahm-reproduction"})
            with urllib.request.urlopen(req, timeout=timeout) as response:
                data = response.read()
            time.sleep(pause)                  # be gentle with gutenberg.org
            return data, url
        except OSError as exc:
            errors.append(f"{url}: {exc}")
    raise InstallError(f"book {book_id}: no canonical URL answered:\n  " + "\n  ".join(errors))


def read_local_book(folder, book_id):
    folder = Path(folder)
    for pattern in LOCAL_PATTERNS:
        path = folder / pattern.format(id=book_id)
        if path.is_file():
            return path.read_bytes(), str(path)
    raise InstallError(f"{folder}: no file for book {book_id} "
                       f"(looked for {', '.join(p.format(id=book_id) for p in LOCAL_PATTERNS)})")


def read_source_manifest(path, key="pg_id") -> dict:
    """``{key: row}`` of a source manifest (tab-separated, columns ``key`` and ``sha256``).

    Raise :class:`InstallError` naming the file if it is missing or lacks a column: files from
    a ``--from`` folder are installed only when a manifest vouches for every one of them.
    """
    path = Path(path)
    if not path.is_file():
        raise InstallError(f"{path} not found: a --from folder is installed only against a "
                           f"manifest listing the sha256 of every file (tab-separated columns "
                           f"{key}, sha256)")
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    missing = {key, "sha256"} - set(rows[0] if rows else {})
    if missing:
        raise InstallError(f"{path}: no column(s) {sorted(missing)} (expected {key} and sha256)")
    try:
        return {(int(r[key]) if key == "pg_id" else r[key]): r for r in rows}
    except ValueError as exc:
        raise InstallError(f"{path}: a {key} is not a book number ({exc})") from None


def _ident(name, source, key):
    """How a source manifest names an item: its book number, or its file name."""
    return int(name) if key == "pg_id" else Path(source).name


def check_against(listed: dict, items, key="pg_id", manifest="MANIFEST.tsv") -> None:
    """Raise :class:`InstallError` naming every file whose bytes differ from ``listed``."""
    problems = []
    for name, raw, source in items:
        ident = _ident(name, source, key)
        row = listed.get(ident)
        if row is None:
            problems.append(f"{ident}: not listed in {manifest}")
        elif sha256(raw) != row["sha256"]:
            problems.append(f"{ident}: sha256 {sha256(raw)} differs from {manifest}'s "
                            f"{row['sha256']} ({len(raw)} bytes)")
    if problems:
        raise InstallError("source check failed: " + problems[0] if len(problems) == 1 else
                           "source check failed:\n  " + "\n  ".join(problems))


def install(items, folder: Path, strip=True, listed=None, key="pg_id") -> dict:
    """Write ``items`` (name, raw bytes, source) as stripped UTF-8 text + MANIFEST.json.

    ``listed``: rows of a source MANIFEST.tsv by book id; each raw file was checked against
    it, and its repository, commit and title are recorded.
    """
    manifest = {}
    for name, raw, source in items:
        body = strip_gutenberg(_decode(raw)) if strip else _decode(raw)
        encoded = body.encode("utf-8")
        if len(body.split()) < 100:
            raise InstallError(f"{name}: fewer than 100 words after stripping the header/licence")
        write_atomic(folder / f"{name}.txt", encoded)
        manifest[f"{name}.txt"] = {"source": source, "sha256_download": sha256(raw),
                                   "sha256_text": sha256(encoded), "words": len(body.split())}
        row = (listed or {}).get(_ident(name, source, key))
        if row is not None:
            manifest[f"{name}.txt"].update(
                {"sha256_download_checked": True, "title": row.get("title"),
                 "source_repository": row.get("source_repository"), "commit": row.get("commit")})
    write_atomic(folder / "MANIFEST.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def verify(manifest_path) -> list:
    """Problems (empty if none) of the installed texts against a recorded manifest."""
    manifest_path = Path(manifest_path)
    manifest = json.loads(manifest_path.read_text())
    problems = []
    for name, entry in manifest.items():
        path = manifest_path.parent / name
        if not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256(path.read_bytes()) != entry["sha256_text"]:
            problems.append(f"{name}: sha256 differs from the manifest")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", nargs="?", choices=("books", "reference"), default="books")
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="books: folder with pg<id>.txt/<id>.txt files; reference: any folder "
                             "of plain-text files (searched recursively for *.txt)")
    parser.add_argument("--ids", type=int, nargs="+", default=None,
                        help="Gutenberg IDs (books: default the paper's 40; reference: required "
                             "unless --from)")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="install into TARGET/books or TARGET/reference (default data/gutenberg)")
    parser.add_argument("--manifest", type=Path, default=None,
                        help="with --from: the manifest to check the files against (default "
                             "DIR/MANIFEST.tsv)")
    parser.add_argument("--verify", type=Path, default=None,
                        help="only check installed texts against this MANIFEST.json")
    args = parser.parse_args(argv)
    try:
        if args.verify is not None:
            problems = verify(args.verify)
            if problems:
                raise InstallError("verification failed:\n  " + "\n  ".join(problems))
            print(f"{args.verify}: all texts match")
            return 0
        folder = args.target / args.what
        if args.what == "reference" and args.source is not None and args.ids is None:
            files = sorted(p for p in Path(args.source).rglob("*.txt") if p.is_file())
            if not files:
                raise InstallError(f"{args.source}: no .txt files")
            items = [(p.stem, p.read_bytes(), str(p)) for p in files]
        else:
            ids = args.ids or (BOOK_IDS if args.what == "books" else None)
            if ids is None:
                raise InstallError("reference: give --from DIR (a folder of books) "
                                   "or --ids ID ...")
            items = []
            for book_id in ids:
                raw, src = (read_local_book(args.source, book_id) if args.source is not None
                            else download_book(book_id))
                items.append((str(book_id), raw, src))
        listed, key = {}, "file" if args.what == "reference" and args.ids is None else "pg_id"
        if args.source is not None:
            manifest_path = args.manifest or Path(args.source) / "MANIFEST.tsv"
            listed = read_source_manifest(manifest_path, key)
            check_against(listed, items, key, manifest_path.name)
        manifest = install(items, folder, listed=listed, key=key)
    except InstallError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    checked = sum(bool(e.get("sha256_download_checked")) for e in manifest.values())
    print(f"installed {len(manifest)} texts into {folder} ({checked} checked against the "
          f"source manifest; sha256 in {folder / 'MANIFEST.json'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
