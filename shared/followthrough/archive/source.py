"""Where an archive's data files are, in every layout X has shipped, and their raw JSON one file at a time.

Layouts (learned from public readers of real exports, ``timhutton/twitter-archive-parser`` and
``alkihis/twitter-archive-reader``):

- since 2020 the data files are in ``data/`` next to ``Your archive.html``, and ``data/manifest.js``
  (``window.__THAR_CONFIG = {...}``) names each data type's files (``dataTypes.<type>.files[].fileName``,
  relative to the archive's root, e.g. ``data/tweets-part1.js``);
- before, the ``.js`` files sit at the archive's root, with no manifest;
- either may be inside one top folder (a re-zipped download), with macOS's ``__MACOSX/`` and ``._*``
  companions beside it, which are ignored;
- without a manifest, files are found by their known names: ``tweet.js`` or ``tweets.js``,
  ``direct-message.js`` or ``direct-messages.js``, ``direct-message-group.js`` or
  ``direct-messages-group.js``, ..., each possibly split into ``<name>-part<N>.js``.

Each data file is ``window.YTD.<name>.part<N> = [ ... ]``, sometimes after a UTF-8 byte order mark
and with CRLF line ends.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from followthrough.archive.errors import ArchiveError, problem
from followthrough.archive.shapes import ArchiveTime

_BOM = rb"(?:\xef\xbb\xbf)?"
DATA_PREFIX = re.compile(_BOM + rb"\s*window\.YTD\.\w+\.part\d+\s*=\s*")
_MANIFEST_PREFIX = re.compile(_BOM + rb"\s*window\.__THAR_CONFIG\s*=\s*")
_HEAD_BYTES = 4096  # far more than a prefix takes
_ASCII_WHITESPACE = b" \t\n\r\x0b\x0c"  # what bytes.rstrip() strips
_LENIENT = ConfigDict(extra="ignore", populate_by_name=True)
# told of each file as it is read: its name in the archive, its size and the whole archive's, in bytes
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class DataType:
    """One kind of data file: its keys in the manifest's ``dataTypes`` and the file names used without one."""

    manifest_keys: tuple[str, ...]
    names: str  # a regex of the file name without ``-part<N>.js``


ACCOUNT = DataType(("account",), r"account")
TWEETS = DataType(("tweets", "tweet"), r"tweets?")  # never deleted-tweets.js: deleted posts are not counted
NOTE_TWEETS = DataType(("noteTweet", "noteTweets"), r"note-tweets?")
LIKES = DataType(("like", "likes"), r"likes?")
FOLLOWING = DataType(("following",), r"following")
FOLLOWERS = DataType(("follower", "followers"), r"followers?")
DMS = DataType(("directMessages", "directMessage"), r"direct-messages?")
GROUP_DMS = DataType(("directMessagesGroup", "directMessageGroup"), r"direct-messages?-group")


class _FileInfo(BaseModel):
    model_config = _LENIENT
    file_name: str = Field(validation_alias="fileName")


class _DataTypeInfo(BaseModel):
    model_config = _LENIENT
    files: list[_FileInfo] | None = None


class _ArchiveInfo(BaseModel):
    model_config = _LENIENT
    generation_date: ArchiveTime | None = Field(None, validation_alias="generationDate")


class _Manifest(BaseModel):
    model_config = _LENIENT
    archive_info: _ArchiveInfo = Field(default_factory=_ArchiveInfo, validation_alias="archiveInfo")
    data_types: dict[str, _DataTypeInfo] = Field(default_factory=dict, validation_alias="dataTypes")


def _ignored(name: str) -> bool:
    parts = name.split("/")
    return parts[0] == "__MACOSX" or parts[-1].startswith("._") or not parts[-1]


def _without_top_folder(names: list[str]) -> tuple[str, list[str]]:
    """The one folder everything is in (a re-zipped download), and the names inside it."""
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) != 1 or all("/" not in name for name in names):
        return "", names
    top = tops.pop()
    if top == "data":  # the data folder itself, zipped
        return "", names
    return top + "/", [name[len(top) + 1 :] for name in names]


class Source:
    """The archive's data files, from a folder or a .zip."""

    def __init__(self, path: Path, progress: Progress | None = None) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._progress = progress
        self._sizes: dict[str, int] = {}  # member (as named in the zip, or relative to the folder) -> bytes
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                if file.is_file():
                    self._sizes[file.relative_to(path).as_posix()] = file.stat().st_size
        elif path.is_file():
            try:
                self._zip = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as exc:
                raise ArchiveError(f"{path}: not a readable .zip file ({exc})") from None
            self._sizes = {i.filename: i.file_size for i in self._zip.infolist() if not i.is_dir()}
        else:
            raise ArchiveError(f"{path}: no such file or folder")
        self._top, inside = _without_top_folder([n for n in self._sizes if not _ignored(n)])
        self._inside = set(inside)
        self._data = "data/" if any(n.startswith("data/") and n.endswith(".js") for n in inside) else ""
        # the data files, by file name
        self._files = {
            n[len(self._data) :]: n for n in inside if n.startswith(self._data) and "/" not in n[len(self._data) :]
        }
        # what reading the data files means (media files are never read)
        self.total_bytes = sum(self._sizes[self._top + n] for n in self._files.values() if n.endswith(".js"))
        self.manifest = self._read_manifest()

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def member(self, name: str) -> str:
        """How a file inside the archive is named in messages: its path in the zip or the folder."""
        return self._top + name

    def _read_manifest(self) -> _Manifest | None:
        name = self._files.get("manifest.js")
        if name is None:
            return None
        body = self.read(name, _MANIFEST_PREFIX)
        if body is None:
            raise ArchiveError(
                f"{self.member(name)}: does not start with 'window.__THAR_CONFIG ='; the file may be damaged"
            )
        try:
            return _Manifest.model_validate_json(body.rstrip().rstrip(b";"))
        except ValidationError as exc:
            raise ArchiveError(f"{self.member(name)}: {problem(exc)}") from None

    def find(self, kind: DataType) -> list[str]:
        """The data files of one kind, part files in order: named by the manifest if it lists the kind."""
        listed = self._listed(kind)
        if listed is not None:
            return listed
        rx = re.compile(rf"^(?:{kind.names})(?:-part(\d+))?\.js$")
        found = [(int(m.group(1) or 0), name) for name in self._files if (m := rx.match(name))]
        return [self._files[name] for _, name in sorted(found)]

    def _listed(self, kind: DataType) -> list[str] | None:
        if self.manifest is None:
            return None
        for key in kind.manifest_keys:
            info = self.manifest.data_types.get(key)
            if info is not None and info.files is not None:
                return [self._resolve(f.file_name) for f in info.files]
        return None

    def _resolve(self, file_name: str) -> str:
        """A file the manifest names (relative to the archive's root), as it is in this archive."""
        name = PurePosixPath(file_name.lstrip("/")).as_posix()
        if name in self._inside:
            return name
        base = name.rsplit("/", 1)[-1]
        if base in self._files:  # the data folder moved, or the manifest names files from the data folder
            return self._files[base]
        manifest = self.member(self._files["manifest.js"])
        raise ArchiveError(
            f"{manifest}: lists {file_name}, which is not in the archive; "
            "was the archive unpacked or re-zipped only in part?"
        )

    def _open(self, name: str) -> IO[bytes]:
        if self._zip is not None:
            return self._zip.open(self._top + name)
        return (self.path / (self._top + name)).open("rb")

    def read(self, name: str, prefix: re.Pattern[bytes] | None = None) -> bytes | None:
        """The file's bytes, or with ``prefix`` those after it (None when the file does not start with it).

        The data files are megabytes long: the part after the prefix is read
        straight into its own buffer rather than sliced (copied) out of the whole.
        """
        if self._progress is not None:
            self._progress(self.member(name), self._sizes[self._top + name], self.total_bytes)
        try:
            with self._open(name) as stream:
                if prefix is None:
                    return stream.read()
                head = stream.read(_HEAD_BYTES)
                found = prefix.match(head)
                if found is not None and found.end() < len(head):
                    stream.seek(found.end())
                    return stream.read()
                data = head + stream.read()  # the prefix may go on past the head: match the whole
                found = prefix.match(data)
                return None if found is None else data[found.end() :]
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
            raise ArchiveError(f"{self.member(name)}: could not be read ({exc})") from None

    def data_json(self, name: str) -> bytes:
        """The JSON of a ``window.YTD.<name>.part<N> = [...]`` file, without the prefix or a trailing ';'."""
        body = self.read(name, DATA_PREFIX)
        if body is None:
            raise ArchiveError(
                f"{self.member(name)}: does not start like an X archive data file "
                "('window.YTD.<name>.part0 = [...]'); the file may be damaged"
            )
        # without trailing whitespace and a trailing ";" (the body is copied only when there are any)
        end = len(body)
        while end and body[end - 1] in _ASCII_WHITESPACE:
            end -= 1
        if body[end - 1 : end] == b";":
            end -= 1
        return body[:end] if end < len(body) else body
