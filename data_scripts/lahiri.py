"""Install S. Lahiri's Gutenberg corpus: the coherence reference of the paper's headline.

The corpus (Lahiri 2014, "Complexity of Word Collocation Networks: A Preliminary Structural
Analysis", EACL student workshop): 3,036 English books by 142 authors from Project Gutenberg,
one plain-text file per book named ``Author___Title.txt``, about 1.18 GB. The paper scores
its topics' UCI coherence against it ("intervocab", section 4.2; docs/method.md).

Every file is checked against :data:`MANIFEST` (shipped beside this script: file name, size in
bytes and sha256 of each of the 3,036 files; ``absent`` for the one book missing from the
public copies) before anything is written:

- a file whose size or sha256 differs is an error naming it, and nothing is installed;
- books listed in the manifest but not in the source are named in one line; the install goes
  on only if they are the ones the manifest marks absent (or with ``--partial``);
- a folder in which no file matches a manifest name is refused (not Lahiri's corpus);
- files the manifest does not list are ignored (and counted).

Sources:

- default: the zip linked from Lahiri's dataset page :data:`PAGE` (the link is read from the
  page, downloaded, and the ``.txt`` members checked as above);
- ``--from DIR``: a folder holding the ``.txt`` files (searched recursively), e.g. the zip
  unpacked, or the copy in the public repository LuEE-C/FewShotAuthorClassificationMetaLearning
  (folder ``Gutenberg/txt``; names with ``:`` or ``?`` written ``_``, as in the manifest).

The checked files and the manifest rows they match are written to a temporary folder beside
the target and renamed into place, so ``<target>`` is either the old installation or the whole
new one. Usage::

    python -m data_scripts.lahiri                       # Lahiri's zip (internet)
    python -m data_scripts.lahiri --from /path/to/txt   # a local copy, no network

Default target: ``data/lahiri`` at the repo root (what the paper profile's intervocab reads).
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import html.parser
import os
import shutil
import sys
import tempfile
import urllib.parse
import zipfile
from pathlib import Path

from data_scripts._common import REPO_DATA, InstallError, cli, fetch, fetch_to_file

PAGE = "https://web.eecs.umich.edu/~lahiri/gutenberg_dataset.html"
MANIFEST = Path(__file__).with_name("lahiri_manifest.tsv")
DEFAULT_TARGET = REPO_DATA / "lahiri"
INSTALLED_MANIFEST = "MANIFEST.tsv"
ABSENT = "absent"


def read_manifest(path=MANIFEST) -> dict:
    """``{file name: (bytes or None, sha256 or None)}``; None for rows marked ``absent``."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
    except OSError as exc:
        raise InstallError(f"cannot read the manifest {path}: {exc}") from None
    if not rows or {"file", "bytes", "sha256"} - set(rows[0]):
        raise InstallError(f"{path}: expected the columns file, bytes, sha256")
    return {r["file"]: (None, None) if r["bytes"] == ABSENT else (int(r["bytes"]), r["sha256"])
            for r in rows}


def manifest_name(name: str) -> str:
    """The manifest's spelling of a file name (``:`` and ``?`` written ``_``)."""
    return name.replace(":", "_").replace("?", "_")


def _hash_copy(read, out_path) -> tuple:
    """Copy a binary stream into ``out_path``; (size, sha256)."""
    h, size = hashlib.sha256(), 0
    with open(out_path, "wb") as out:
        for block in iter(lambda: read(1 << 20), b""):
            h.update(block)
            out.write(block)
            size += len(block)
    return size, h.hexdigest()


def _sources_from_folder(folder: Path) -> dict:
    if not folder.is_dir():
        raise InstallError(f"{folder}: not a folder")
    return {manifest_name(p.name): (lambda p=p: open(p, "rb"))
            for p in sorted(folder.rglob("*.txt")) if p.is_file()}


def _sources_from_zip(archive: Path) -> dict:
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as exc:
        raise InstallError(f"{archive}: not a zip file ({exc})") from None
    return {manifest_name(Path(i.filename).name): (lambda i=i: zf.open(i))
            for i in zf.infolist() if not i.is_dir() and i.filename.endswith(".txt")}


class _ZipLink(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href") if tag == "a" else None
        if href and href.split("?")[0].lower().endswith(".zip"):
            self.links.append(href)


def zip_url(page=PAGE) -> str:
    """The first ``.zip`` link of Lahiri's dataset page."""
    parser = _ZipLink()
    parser.feed(fetch(page).decode("utf-8", "replace"))
    if not parser.links:
        raise InstallError(f"{page}: no .zip link found on the page; download the corpus by "
                           "hand, unpack it and use --from DIR")
    return urllib.parse.urljoin(page, parser.links[0])


def install(sources: dict, target: Path, manifest: dict, partial=False, where="source") -> dict:
    """Check every manifest file in ``sources`` ({name: opener}) and install them atomically.

    Returns ``{"installed": n, "absent": [...], "ignored": n}``.
    """
    matched = [n for n in manifest if n in sources]
    if not matched:
        raise InstallError(f"{where}: none of its {len(sources)} .txt files is listed in the "
                           f"manifest {MANIFEST.name}; is this Lahiri's Gutenberg corpus?")
    expected_absent = {n for n, (size, _) in manifest.items() if size is None}
    absent = sorted(n for n in manifest if n not in sources)
    unexpected = [n for n in absent if n not in expected_absent]
    if unexpected and not partial:
        raise InstallError(f"{where}: {len(unexpected)} book(s) of the manifest missing: "
                           + "; ".join(unexpected) + " (--partial installs the rest)")
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        problems, rows = [], []
        for name in matched:
            want_size, want_sha = manifest[name]
            with sources[name]() as fh:
                size, digest = _hash_copy(fh.read, work / name)
            if want_size is None:
                problems.append(f"{name}: marked absent in the manifest, so it cannot be checked")
            elif (size, digest) != (want_size, want_sha):
                problems.append(f"{name}: {size} bytes, sha256 {digest}; the manifest has "
                                f"{want_size} bytes, sha256 {want_sha}")
            rows.append(f"{name}\t{size}\t{digest}\n")
        if problems:
            raise InstallError(f"{where}: {len(problems)} file(s) fail the manifest check, "
                               "nothing installed:\n  " + "\n  ".join(problems))
        (work / INSTALLED_MANIFEST).write_text("file\tbytes\tsha256\n" + "".join(rows),
                                               encoding="utf-8")
        os.chmod(work, 0o755)
        old = None
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(work, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return {"installed": len(matched), "absent": absent, "ignored": len(sources) - len(matched)}


@cli
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, default=None,
                        help="folder holding the corpus' .txt files (no download)")
    parser.add_argument("--page", default=PAGE, help=f"dataset page with the zip link (default {PAGE})")
    parser.add_argument("--target", type=Path, default=DEFAULT_TARGET,
                        help="folder to install into (default data/lahiri)")
    parser.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    parser.add_argument("--partial", action="store_true",
                        help="install even if books of the manifest are missing from the source")
    args = parser.parse_args(argv)
    manifest = read_manifest(args.manifest)
    if args.source is not None:
        done = install(_sources_from_folder(args.source), args.target, manifest, args.partial,
                       where=str(args.source))
    else:
        with tempfile.TemporaryDirectory(prefix="lahiri-zip-") as tmp:
            url = zip_url(args.page)
            archive = fetch_to_file(url, Path(tmp) / "gutenberg.zip")
            done = install(_sources_from_zip(archive), args.target, manifest, args.partial,
                           where=url)
    if done["absent"]:
        print(f"{len(done['absent'])} book(s) of the manifest absent from the source: "
              + "; ".join(done["absent"]), file=sys.stderr)
    ignored = f"; {done['ignored']} unlisted files ignored" if done["ignored"] else ""
    print(f"installed {done['installed']} books into {args.target} (size and sha256 of each "
          f"checked against the manifest; {INSTALLED_MANIFEST} there{ignored})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
