"""A small Hugging Face Hub-compatible HTTP server for tests.

The server is written with the Python standard library only (``http.server``) and implements the subset of the Hub
HTTP API that ``huggingface_hub`` (``HfApi``, ``hf_hub_download``, ``snapshot_download``, ``HfFileSystem``),
``transformers`` and ``datasets`` use to create repos, upload files (regular and LFS), and download them back.

Repositories are versioned like on the Hub: every commit has a 40-hex sha, a parent and a full snapshot of the files
(``path -> content``, the contents being stored once in a content-addressed object store on disk). Revisions can be
branch names, tags, ``refs/pr/N`` refs or (possibly abbreviated) commit shas.

Supported endpoints (``{type}`` is ``models``, ``datasets`` or ``spaces``; ``{prefix}`` is empty for models,
``datasets/`` or ``spaces/`` otherwise):

* ``GET  /api/whoami-v2``, ``GET /api/agent-harnesses``, ``POST /api/validate-yaml``
* ``POST /api/repos/create``, ``DELETE /api/repos/delete``, ``PUT /api/{type}/{repo}/settings``
* ``GET  /api/{type}`` (listing, ``author``/``search`` filters)
* ``GET  /api/{type}/{repo}`` and ``GET /api/{type}/{repo}/revision/{rev}`` (repo info, ``blobs=1`` supported)
* ``GET  /api/{type}/{repo}/tree/{rev}[/{path}]`` (``recursive`` and ``expand`` supported)
* ``POST /api/{type}/{repo}/paths-info/{rev}``
* ``GET  /api/{type}/{repo}/commits/{rev}``, ``GET /api/{type}/{repo}/refs``
* ``POST /api/{type}/{repo}/preupload/{rev}``, ``POST /api/{type}/{repo}/commit/{rev}`` (NDJSON, ``create_pr``)
* ``POST|DELETE /api/{type}/{repo}/branch/{branch}``, ``POST|DELETE /api/{type}/{repo}/tag/{rev_or_tag}``
* ``POST /{prefix}{repo}.git/info/lfs/objects/batch``, ``POST /{prefix}{repo}.git/info/lfs/objects/verify``,
  ``PUT /lfs-upload/{sha256}`` (the "presigned" upload URL returned by the batch endpoint)
* ``HEAD|GET /{prefix}{repo}/resolve/{rev}/{path}`` (``Range`` requests supported)

Unknown routes answer ``404`` with a JSON body and are logged on stderr (and recorded in
:attr:`LocalHub.unhandled_requests`) so that a missing endpoint is obvious.

Authentication: a single user (:data:`HUB_USERNAME`) owns every repo and is authenticated by the bearer token
:data:`HUB_TOKEN`. Write operations need the token. Private repos are invisible (``404 RepoNotFound``) to requests
that do not carry it. A request carrying any other token gets ``401`` like on the Hub.

Faults: :meth:`LocalHub.inject_fault` makes the requests that match a method and a path pattern fail, until
:meth:`LocalHub.clear_faults` (or for a number of requests): answered with an HTTP error (``500`` by default) without
being served, or with the connection dropped half-way through the request body (no answer), or served and then left
unanswered (the connection closed instead of the answer). For example, a push that fails at its commit or during
its LFS upload::

    local_hub.inject_fault("POST", COMMIT_PATH)                      # 500 to every commit
    local_hub.inject_fault("PUT", LFS_UPLOAD_PATH, kind="drop")      # every LFS upload cut off half-way

``huggingface_hub`` retries pre-uploads and LFS uploads (5 times, waiting 1 to 8 s): :func:`skip_retry_waits` skips
the waits in a test whose fault hits every try.

The module also provides :func:`configure_hf_clients`, :func:`set_offline`, :func:`skip_retry_waits` and
:func:`reset_hf_client_state`, which point ``huggingface_hub``/``transformers``/``datasets`` at a server within one
process. They import those libraries
lazily, when called: importing this module only needs the standard library.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    import pytest
    from typing_extensions import Self

__all__ = [
    "COMMIT_PATH",
    "HUB_TOKEN",
    "HUB_USERNAME",
    "LFS_UPLOAD_PATH",
    "PREUPLOAD_PATH",
    "Fault",
    "HubRequest",
    "LocalHub",
    "configure_hf_clients",
    "reset_hf_client_state",
    "set_offline",
    "skip_retry_waits",
]

#: The only bearer token accepted by the server.
HUB_TOKEN = "hf_test_token"
#: The user authenticated by :data:`HUB_TOKEN`, default namespace of repos created without one.
HUB_USERNAME = "test-user"

#: Path patterns of the upload steps for :meth:`LocalHub.inject_fault` (:func:`fnmatch.fnmatch`: ``*`` matches ``/``).
COMMIT_PATH = "/api/*/commit/*"
PREUPLOAD_PATH = "/api/*/preupload/*"
LFS_UPLOAD_PATH = "/lfs-upload/*"

#: Files strictly bigger than this (in bytes) are uploaded with LFS.
DEFAULT_LFS_THRESHOLD = 1024

_PLURAL_TO_REPO_TYPE = {"models": "model", "datasets": "dataset", "spaces": "space"}
_URL_PREFIXES = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REPO_TYPES = tuple(_URL_PREFIXES)
_DEFAULT_BRANCH = "main"

# Extensions tracked by LFS, as in the `.gitattributes` file the Hub commits in every new repo.
_LFS_EXTENSIONS = (
    "7z", "arrow", "bin", "ckpt", "gguf", "gz", "h5", "msgpack", "npy", "npz", "onnx", "parquet", "pickle", "pkl",
    "pt", "pth", "safetensors", "tar", "zip",
)  # fmt: skip
_GITATTRIBUTES = "".join(f"*.{ext} filter=lfs diff=lfs merge=lfs -text\n" for ext in _LFS_EXTENSIONS).encode()
_LFS_POINTER_TEMPLATE = "version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n"
_SAFE_SECURITY_STATUS = {
    "status": "safe",
    "avScan": {"virusFound": False, "virusNames": None},
    "pickleImportScan": None,
}


def _utc_now() -> str:
    """Current time in the format the Hub uses (``2024-01-31T12:34:56.789Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _git_blob_oid(content: bytes) -> str:
    """Git object id (sha1) of a blob with this content."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    """Content of the git LFS pointer file of an object."""
    return _LFS_POINTER_TEMPLATE.format(oid=sha256, size=size).encode()


# ----------------------------------------------------------------------------------------------------------------------
# Storage
# ----------------------------------------------------------------------------------------------------------------------


class HubError(Exception):
    """An error answered to the client as JSON, with the Hub's ``X-Error-Code`` header when relevant."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_code = error_code
        self.headers = headers or {}
        self.extra = extra or {}


@dataclass(frozen=True)
class StoredFile:
    """A file of a commit snapshot. Its content lives in the object store under ``sha256``."""

    sha256: str
    size: int
    lfs: bool
    #: Git blob id: of the content for regular files, of the LFS pointer file for LFS files.
    oid: str

    @property
    def pointer_size(self) -> int:
        """Size of the LFS pointer file (only meaningful for LFS files)."""
        return len(_lfs_pointer(self.sha256, self.size))

    @property
    def etag(self) -> str:
        """ETag served by ``/resolve``: the sha256 for LFS files, the git blob id otherwise (like the Hub)."""
        return self.sha256 if self.lfs else self.oid

    @property
    def preupload_oid(self) -> str:
        """Oid answered by ``/preupload``, comparable with the client's ``CommitOperationAdd._local_oid``."""
        return self.sha256 if self.lfs else self.oid

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "lfs": self.lfs, "oid": self.oid}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StoredFile:
        return cls(sha256=data["sha256"], size=data["size"], lfs=data["lfs"], oid=data["oid"])


@dataclass
class Commit:
    """A commit: a full snapshot of the repo files, with a parent and a message."""

    oid: str
    parent: str | None
    title: str
    message: str
    author: str
    date: str
    files: dict[str, StoredFile]

    def to_json(self) -> dict[str, Any]:
        return {
            "oid": self.oid,
            "parent": self.parent,
            "title": self.title,
            "message": self.message,
            "author": self.author,
            "date": self.date,
            "files": {path: stored.to_json() for path, stored in sorted(self.files.items())},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Commit:
        return cls(
            oid=data["oid"],
            parent=data["parent"],
            title=data["title"],
            message=data["message"],
            author=data["author"],
            date=data["date"],
            files={path: StoredFile.from_json(stored) for path, stored in data["files"].items()},
        )


@dataclass
class Repo:
    """A repository: its commits and refs (branches, tags and pull requests)."""

    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    uid: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    pull_requests: dict[int, str] = field(default_factory=dict)
    gated: bool | str = False
    sdk: str | None = None

    @property
    def author(self) -> str:
        return self.repo_id.split("/")[0]

    @property
    def url_path(self) -> str:
        """Path of the repo on the server, e.g. ``datasets/user/name``."""
        return _URL_PREFIXES[self.repo_type] + self.repo_id

    def resolve(self, revision: str) -> Commit | None:
        """Commit pointed to by a branch, tag, ``refs/...`` ref or (abbreviated) commit sha; ``None`` if unknown."""
        for refs, prefix in ((self.branches, "refs/heads/"), (self.tags, "refs/tags/")):
            name = revision.removeprefix(prefix)
            if name in refs:
                return self.commits[refs[name]]
        if revision.startswith("refs/pr/") and revision[len("refs/pr/") :].isdigit():
            oid = self.pull_requests.get(int(revision[len("refs/pr/") :]))
            return self.commits[oid] if oid is not None else None
        lowered = revision.lower()
        if 7 <= len(lowered) <= 40 and all(char in "0123456789abcdef" for char in lowered):
            matches = [oid for oid in self.commits if oid.startswith(lowered)]
            if len(matches) == 1:
                return self.commits[matches[0]]
        return None

    def history(self, commit: Commit) -> Iterator[Commit]:
        """Commits from ``commit`` back to the initial one (newest first)."""
        current: Commit | None = commit
        while current is not None:
            yield current
            current = self.commits[current.parent] if current.parent is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "repo_type": self.repo_type,
            "repo_id": self.repo_id,
            "private": self.private,
            "created_at": self.created_at,
            "uid": self.uid,
            "gated": self.gated,
            "sdk": self.sdk,
            "branches": self.branches,
            "tags": self.tags,
            "pull_requests": {str(num): oid for num, oid in self.pull_requests.items()},
            "commits": [commit.to_json() for commit in self.commits.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Repo:
        return cls(
            repo_type=data["repo_type"],
            repo_id=data["repo_id"],
            private=data["private"],
            created_at=data["created_at"],
            uid=data["uid"],
            gated=data.get("gated", False),
            sdk=data.get("sdk"),
            branches=dict(data["branches"]),
            tags=dict(data["tags"]),
            pull_requests={int(num): oid for num, oid in data["pull_requests"].items()},
            commits={commit["oid"]: Commit.from_json(commit) for commit in data["commits"]},
        )


@dataclass(frozen=True)
class CommitOperation:
    """One operation of a commit: ``add`` (of an object already in the store), ``delete_file`` or ``delete_folder``."""

    kind: str
    path: str
    sha256: str | None = None
    size: int | None = None
    lfs: bool = False


def _tree_oid(entries: Iterable[tuple[str, str]]) -> str:
    """A stable id for a folder, computed from the (relative path, oid) pairs below it."""
    digest = hashlib.sha1(b"tree")
    for path, oid in sorted(entries):
        digest.update(f"{path}\0{oid}\n".encode())
    return digest.hexdigest()


def _folder_items(files: dict[str, StoredFile], folder: str) -> list[tuple[str, str]]:
    prefix = folder + "/"
    return [(path[len(prefix) :], stored.oid) for path, stored in files.items() if path.startswith(prefix)]


class HubStorage:
    """Repositories and a content-addressed object store, persisted in ``root`` (thread-safe)."""

    def __init__(self, root: Path, *, lfs_threshold: int = DEFAULT_LFS_THRESHOLD) -> None:
        self.root = root
        self.lfs_threshold = lfs_threshold
        self.lock = threading.RLock()
        self._objects_dir = root / "objects"
        self._repos_dir = root / "repos"
        self._objects_dir.mkdir(parents=True, exist_ok=True)
        self._repos_dir.mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], Repo] = {}
        for repo_file in sorted(self._repos_dir.glob("*/*/*/repo.json")):
            repo = Repo.from_json(json.loads(repo_file.read_text(encoding="utf-8")))
            self.repos[(repo.repo_type, repo.repo_id)] = repo

    # Objects ----------------------------------------------------------------------------------------------------------

    def _object_path(self, sha256: str) -> Path:
        return self._objects_dir / sha256[:2] / sha256

    def put_object(self, content: bytes) -> str:
        """Store content (idempotent) and return its sha256."""
        sha256 = hashlib.sha256(content).hexdigest()
        path = self._object_path(sha256)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp_path = path.with_name(f"{sha256}.{uuid.uuid4().hex}.tmp")
            tmp_path.write_bytes(content)
            os.replace(tmp_path, path)
        return sha256

    def has_object(self, sha256: str) -> bool:
        return len(sha256) == 64 and self._object_path(sha256).is_file()

    def object_size(self, sha256: str) -> int:
        return self._object_path(sha256).stat().st_size

    def read_object(self, sha256: str) -> bytes:
        return self._object_path(sha256).read_bytes()

    # Repos ------------------------------------------------------------------------------------------------------------

    def _save(self, repo: Repo) -> None:
        folder = self._repos_dir / repo.repo_type / repo.repo_id
        folder.mkdir(parents=True, exist_ok=True)
        tmp_path = folder / f"repo.json.{uuid.uuid4().hex}.tmp"
        tmp_path.write_text(json.dumps(repo.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp_path, folder / "repo.json")

    def get_repo(self, repo_type: str, repo_id: str) -> Repo | None:
        with self.lock:
            return self.repos.get((repo_type, repo_id))

    def list_repos(self, repo_type: str) -> list[Repo]:
        with self.lock:
            return [repo for (kind, _), repo in sorted(self.repos.items()) if kind == repo_type]

    def create_repo(self, repo_type: str, repo_id: str, *, private: bool, author: str, sdk: str | None = None) -> Repo:
        """Create a repo with an initial commit holding a ``.gitattributes`` file, like the Hub does."""
        with self.lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(
                    HTTPStatus.CONFLICT,
                    f"You already created this {repo_type} repo",
                    extra={"url": None},  # filled by the HTTP layer which knows the public URL
                )
            repo = Repo(
                repo_type=repo_type,
                repo_id=repo_id,
                private=private,
                created_at=_utc_now(),
                uid=uuid.uuid4().hex[:24],
                sdk=sdk,
            )
            self.repos[(repo_type, repo_id)] = repo
            sha256 = self.put_object(_GITATTRIBUTES)
            stored = StoredFile(sha256=sha256, size=len(_GITATTRIBUTES), lfs=False, oid=_git_blob_oid(_GITATTRIBUTES))
            initial = self._new_commit(
                repo, parent=None, files={".gitattributes": stored}, title="initial commit", message="", author=author
            )
            repo.branches[_DEFAULT_BRANCH] = initial.oid
            self._save(repo)
            return repo

    def delete_repo(self, repo_type: str, repo_id: str) -> None:
        with self.lock:
            if self.repos.pop((repo_type, repo_id), None) is None:
                raise HubError(HTTPStatus.NOT_FOUND, "Repository not found", error_code="RepoNotFound")
            shutil.rmtree(self._repos_dir / repo_type / repo_id, ignore_errors=True)

    def update_settings(self, repo: Repo, *, private: bool | None = None, gated: bool | str | None = None) -> None:
        with self.lock:
            if private is not None:
                repo.private = private
            if gated is not None:
                repo.gated = gated
            self._save(repo)

    def _new_commit(
        self,
        repo: Repo,
        *,
        parent: str | None,
        files: dict[str, StoredFile],
        title: str,
        message: str,
        author: str,
    ) -> Commit:
        date = _utc_now()
        seed = json.dumps(
            [repo.repo_type, repo.repo_id, parent, title, message, date, uuid.uuid4().hex, sorted(files)]
        ).encode()
        commit = Commit(
            oid=hashlib.sha1(seed).hexdigest(),
            parent=parent,
            title=title,
            message=message,
            author=author,
            date=date,
            files=files,
        )
        repo.commits[commit.oid] = commit
        return commit

    def commit(
        self,
        repo: Repo,
        *,
        branch: str,
        operations: list[CommitOperation],
        title: str,
        message: str,
        author: str,
        parent_commit: str | None = None,
        create_pr: bool = False,
    ) -> tuple[Commit, int | None]:
        """Apply ``operations`` on top of ``branch`` (or open a pull request) and return the new commit."""
        with self.lock:
            branch = branch.removeprefix("refs/heads/")
            if branch not in repo.branches:
                raise HubError(HTTPStatus.NOT_FOUND, f"Invalid rev id: {branch}", error_code="RevisionNotFound")
            head = repo.commits[repo.branches[branch]]
            if parent_commit is not None:
                base = repo.resolve(parent_commit) if create_pr else head
                if base is None or not base.oid.startswith(parent_commit.lower()):
                    raise HubError(
                        HTTPStatus.PRECONDITION_FAILED,
                        "A commit has happened since. Please refresh and try again.",
                    )
                head = base
            files = dict(head.files)
            for operation in operations:
                if operation.kind == "add":
                    assert operation.sha256 is not None and operation.size is not None
                    content_oid = (
                        _git_blob_oid(_lfs_pointer(operation.sha256, operation.size))
                        if operation.lfs
                        else _git_blob_oid(self.read_object(operation.sha256))
                    )
                    files[operation.path] = StoredFile(
                        sha256=operation.sha256, size=operation.size, lfs=operation.lfs, oid=content_oid
                    )
                elif operation.kind == "delete_file":
                    if files.pop(operation.path, None) is None:
                        raise HubError(
                            HTTPStatus.NOT_FOUND,
                            f"File not found: {operation.path}",
                            error_code="EntryNotFound",
                        )
                else:
                    prefix = operation.path.rstrip("/") + "/"
                    removed = [path for path in files if path.startswith(prefix)]
                    if not removed:
                        raise HubError(
                            HTTPStatus.NOT_FOUND,
                            f"Folder not found: {operation.path}",
                            error_code="EntryNotFound",
                        )
                    for path in removed:
                        del files[path]
            commit = self._new_commit(repo, parent=head.oid, files=files, title=title, message=message, author=author)
            pr_num: int | None = None
            if create_pr:
                pr_num = max(repo.pull_requests, default=0) + 1
                repo.pull_requests[pr_num] = commit.oid
            else:
                repo.branches[branch] = commit.oid
            self._save(repo)
            return commit, pr_num

    def create_ref(self, repo: Repo, kind: str, name: str, target: Commit) -> None:
        """Create a branch or a tag (``kind`` is ``branch`` or ``tag``) pointing at ``target``."""
        with self.lock:
            refs = repo.branches if kind == "branch" else repo.tags
            if name in refs:
                raise HubError(HTTPStatus.CONFLICT, f"Reference already exists: refs/{kind}s/{name}")
            refs[name] = target.oid
            self._save(repo)

    def delete_ref(self, repo: Repo, kind: str, name: str) -> None:
        with self.lock:
            refs = repo.branches if kind == "branch" else repo.tags
            if kind == "branch" and name == _DEFAULT_BRANCH:
                raise HubError(HTTPStatus.FORBIDDEN, f"Cannot delete the default branch '{name}'")
            if refs.pop(name, None) is None:
                raise HubError(HTTPStatus.NOT_FOUND, f"Invalid rev id: {name}", error_code="RevisionNotFound")
            self._save(repo)

    def should_use_lfs(self, path: str, size: int, sample: bytes) -> bool:
        """Upload mode decision of ``/preupload``: LFS for tracked extensions, big files and binary files."""
        if size == 0:
            return False
        if path.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() in _LFS_EXTENSIONS:
            return True
        return size > self.lfs_threshold or b"\0" in sample


# ----------------------------------------------------------------------------------------------------------------------
# HTTP layer
# ----------------------------------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """A fault the server injects into the requests it matches (see :meth:`LocalHub.inject_fault`)."""

    method: str
    #: :func:`fnmatch.fnmatch` pattern of the URL path (no query), e.g. :data:`COMMIT_PATH`.
    path: str
    #: ``"error"``: answer ``status`` without serving the request; ``"drop"``: read half of the request body, then
    #: close the connection without an answer; ``"lose_answer"``: serve the request, then close the connection
    #: instead of answering.
    kind: str = "error"
    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    #: How many requests it hits (``None``: every one until :meth:`LocalHub.clear_faults`).
    times: int | None = None
    #: How many requests it has hit.
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return method == self.method and fnmatch.fnmatchcase(path, self.path) and (
            self.times is None or self.hits < self.times)


@dataclass(frozen=True)
class HubRequest:
    """A request served by the hub, as recorded in :attr:`LocalHub.requests`."""

    method: str
    path: str
    status: int
    authenticated: bool


class _HubHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], hub: LocalHub) -> None:
        super().__init__(address, _HubRequestHandler)
        self.hub = hub


class _HubRequestHandler(BaseHTTPRequestHandler):
    """Routes one request to the matching Hub endpoint."""

    server: _HubHTTPServer
    protocol_version = "HTTP/1.1"  # keep-alive, like the Hub; every response carries a Content-Length
    timeout = 60  # idle keep-alive connections are closed after this many seconds
    server_version = "LocalHub/1.0"

    # Plumbing ---------------------------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        if self.hub.verbose:
            sys.stderr.write(f"[LocalHub] {self.address_string()} {format % args}\n")

    @property
    def hub(self) -> LocalHub:
        return self.server.hub

    @property
    def storage(self) -> HubStorage:
        return self.server.hub.storage

    @property
    def base_url(self) -> str:
        """Public URL of the server, as seen by the client (from the ``Host`` header)."""
        host = self.headers.get("Host") or f"{self.server.server_address[0]}:{self.server.server_address[1]}"
        return f"http://{host}"

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # skip trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self, method: str) -> None:
        self._method = method
        self._status = 0
        self._token_user: str | None = None
        try:
            url = urlsplit(self.path)
            fault = self.hub._take_fault(method, url.path)
            if fault is not None and fault.kind == "drop":
                self._drop_connection(half_of_the_body=True)
                return
            self._body = self._read_body()
            if fault is not None and fault.kind == "error":
                raise HubError(fault.status, f"LocalHub: injected fault for {method} {url.path}")
            if fault is not None and fault.kind == "lose_answer":
                self.wfile = io.BytesIO()  # the answer goes nowhere
            self._query = parse_qs(url.query, keep_blank_values=True)
            segments = [unquote(segment) for segment in url.path.split("/") if segment]
            self._token_user = self._authenticate()
            if not self._route(method, segments):
                self._unhandled(method)
            if fault is not None and fault.kind == "lose_answer":
                self._drop_connection(half_of_the_body=False)
        except HubError as error:
            self._send_error(error)
        except Exception as error:  # noqa: BLE001 (a bug of the server: answer 500 and make it visible)
            sys.stderr.write(f"[LocalHub] error while serving {method} {self.path}:\n{traceback.format_exc()}")
            self._send_error(HubError(HTTPStatus.INTERNAL_SERVER_ERROR, f"LocalHub internal error: {error!r}"))
        finally:
            self.hub._record(
                HubRequest(method=method, path=self.path, status=self._status, authenticated=bool(self._token_user))
            )

    def _drop_connection(self, *, half_of_the_body: bool) -> None:
        """Close the connection without (more of) an answer; first read half of the request body if asked."""
        if half_of_the_body:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length // 2)
            elif "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                self.rfile.readline()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _unhandled(self, method: str) -> None:
        description = f"{method} {self.path}"
        self.hub._record_unhandled(description)
        sys.stderr.write(f"[LocalHub] unhandled request (no such endpoint): {description}\n")
        self._send_json({"error": f"LocalHub: no route for {description}"}, status=HTTPStatus.NOT_FOUND)

    def _send(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
        content_length: int | None = None,
    ) -> None:
        self._status = int(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if content_length is None else content_length))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self._method != "HEAD" and body:
            self.wfile.write(body)

    def _send_json(self, payload: Any, *, status: int = HTTPStatus.OK, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _send_error(self, error: HubError) -> None:
        headers = dict(error.headers)
        headers["X-Error-Message"] = error.message.encode("ascii", "replace").decode()
        if error.error_code is not None:
            headers["X-Error-Code"] = error.error_code
        self._send_json({"error": error.message, **error.extra}, status=error.status, headers=headers)

    # Auth and lookups -------------------------------------------------------------------------------------------------

    def _authenticate(self) -> str | None:
        """User authenticated by the ``Authorization`` header; ``None`` if anonymous; 401 if the token is invalid."""
        authorization = self.headers.get("Authorization")
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.hub.token:
            raise HubError(HTTPStatus.UNAUTHORIZED, "Invalid credentials in Authorization header")
        return self.hub.username

    def _require_user(self) -> str:
        if self._token_user is None:
            raise HubError(HTTPStatus.UNAUTHORIZED, "You must be authenticated to perform this operation")
        return self._token_user

    def _json_body(self) -> dict[str, Any]:
        if not self._body:
            return {}
        try:
            payload = json.loads(self._body)
        except ValueError as error:
            raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid JSON body: {error}") from error
        if not isinstance(payload, dict):
            raise HubError(HTTPStatus.BAD_REQUEST, "Expected a JSON object")
        return payload

    def _flag(self, name: str) -> bool:
        values = self._query.get(name) or self._query.get(f"{name}[]") or []
        return any(value.lower() in ("1", "true", "yes", "") for value in values)

    def _get_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.storage.get_repo(repo_type, repo_id)
        if repo is None or (repo.private and self._token_user is None):
            raise HubError(HTTPStatus.NOT_FOUND, "Repository not found", error_code="RepoNotFound")
        return repo

    def _get_commit(self, repo: Repo, revision: str) -> Commit:
        with self.storage.lock:  # refs may be updated concurrently by a commit
            commit = repo.resolve(revision)
        if commit is None:
            raise HubError(HTTPStatus.NOT_FOUND, f"Invalid rev id: {revision}", error_code="RevisionNotFound")
        return commit

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.base_url}/{repo.url_path}"

    # Routing ----------------------------------------------------------------------------------------------------------

    def _route(self, method: str, segments: list[str]) -> bool:
        """Serve the request if a route matches and return whether one did."""
        if segments[:1] == ["api"]:
            return self._route_api(method, segments[1:])
        if method == "PUT" and len(segments) == 2 and segments[0] == "lfs-upload":
            self._lfs_upload(segments[1])
            return True
        repo_type = "model"
        if segments and segments[0] in ("datasets", "spaces"):
            repo_type, segments = _PLURAL_TO_REPO_TYPE[segments[0]], segments[1:]
        if (
            method == "POST"
            and len(segments) == 6
            and segments[1].endswith(".git")
            and segments[2:5] == ["info", "lfs", "objects"]
            and segments[5] in ("batch", "verify")
        ):
            repo_id = f"{segments[0]}/{segments[1][: -len('.git')]}"
            if segments[5] == "batch":
                self._lfs_batch(repo_type, repo_id)
            else:
                self._lfs_verify(repo_type, repo_id)
            return True
        if method in ("GET", "HEAD") and "resolve" in segments[1:3]:
            index = segments.index("resolve", 1)
            if index == 1:  # canonical (namespace-less) repo ids are not supported by this server
                raise HubError(HTTPStatus.NOT_FOUND, "Repository not found", error_code="RepoNotFound")
            if len(segments) >= 5:
                self._resolve(repo_type, "/".join(segments[:2]), segments[3], "/".join(segments[4:]))
                return True
        return False

    def _route_api(self, method: str, segments: list[str]) -> bool:
        if method == "GET" and segments == ["whoami-v2"]:
            self._whoami()
        elif method == "GET" and segments == ["agent-harnesses"]:
            self._send_json({"standardEnvVars": [], "harnesses": {}})
        elif method == "POST" and segments == ["validate-yaml"]:
            self._send_json({"errors": [], "warnings": []})
        elif method == "POST" and segments == ["repos", "create"]:
            self._create_repo()
        elif method == "DELETE" and segments == ["repos", "delete"]:
            self._delete_repo()
        elif method == "GET" and len(segments) == 1 and segments[0] in _PLURAL_TO_REPO_TYPE:
            self._list_repos(_PLURAL_TO_REPO_TYPE[segments[0]])
        elif len(segments) >= 3 and segments[0] in _PLURAL_TO_REPO_TYPE:
            return self._route_repo_api(
                method, _PLURAL_TO_REPO_TYPE[segments[0]], f"{segments[1]}/{segments[2]}", segments[3:]
            )
        else:
            return False
        return True

    def _route_repo_api(self, method: str, repo_type: str, repo_id: str, sub: list[str]) -> bool:
        action = sub[0] if sub else None
        if method == "GET" and action is None:
            self._repo_info(repo_type, repo_id, _DEFAULT_BRANCH)
        elif method == "GET" and action == "revision" and len(sub) >= 2:
            self._repo_info(repo_type, repo_id, "/".join(sub[1:]))
        elif method == "GET" and action == "tree" and len(sub) >= 2:
            self._tree(repo_type, repo_id, sub[1], "/".join(sub[2:]))
        elif method == "POST" and action == "paths-info" and len(sub) == 2:
            self._paths_info(repo_type, repo_id, sub[1])
        elif method == "GET" and action == "commits" and len(sub) == 2:
            self._list_commits(repo_type, repo_id, sub[1])
        elif method == "GET" and sub == ["refs"]:
            self._list_refs(repo_type, repo_id)
        elif method == "POST" and action == "preupload" and len(sub) == 2:
            self._preupload(repo_type, repo_id, sub[1])
        elif method == "POST" and action == "commit" and len(sub) == 2:
            self._commit(repo_type, repo_id, sub[1])
        elif method in ("POST", "DELETE") and action in ("branch", "tag") and len(sub) == 2:
            self._ref(method, repo_type, repo_id, action, sub[1])
        elif method == "PUT" and sub == ["settings"]:
            self._settings(repo_type, repo_id)
        else:
            return False
        return True

    # Endpoints: account and repos -------------------------------------------------------------------------------------

    def _whoami(self) -> None:
        user = self._require_user()
        self._send_json(
            {
                "type": "user",
                "id": hashlib.sha1(user.encode()).hexdigest()[:24],
                "name": user,
                "fullname": user,
                "email": f"{user}@example.com",
                "emailVerified": True,
                "isPro": False,
                "canPay": False,
                "orgs": [],
                "auth": {"type": "access_token", "accessToken": {"displayName": "local-hub", "role": "write"}},
            }
        )

    def _repo_type_from_payload(self, payload: dict[str, Any]) -> str:
        repo_type = payload.get("type") or "model"
        if repo_type not in _REPO_TYPES:
            raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid repo type: {repo_type}")
        return repo_type

    def _repo_id_from_payload(self, payload: dict[str, Any], user: str) -> str:
        name = payload.get("name")
        if not isinstance(name, str) or not name or "/" in name:
            raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid repo name: {name!r}")
        return f"{payload.get('organization') or user}/{name}"

    def _create_repo(self) -> None:
        user = self._require_user()
        payload = self._json_body()
        repo_type = self._repo_type_from_payload(payload)
        repo_id = self._repo_id_from_payload(payload, user)
        private = payload.get("visibility", "private" if payload.get("private") else "public") != "public"
        try:
            repo = self.storage.create_repo(repo_type, repo_id, private=private, author=user, sdk=payload.get("sdk"))
        except HubError as error:
            if error.status == HTTPStatus.CONFLICT:
                error.extra["url"] = f"{self.base_url}/{_URL_PREFIXES[repo_type]}{repo_id}"
            raise
        self._send_json({"url": self._repo_url(repo), "name": repo_id, "id": repo.uid})

    def _delete_repo(self) -> None:
        user = self._require_user()
        payload = self._json_body()
        self.storage.delete_repo(self._repo_type_from_payload(payload), self._repo_id_from_payload(payload, user))
        self._send_json({})

    def _settings(self, repo_type: str, repo_id: str) -> None:
        self._require_user()
        repo = self._get_repo(repo_type, repo_id)
        payload = self._json_body()
        private = payload.get("private")
        if "visibility" in payload:
            private = payload["visibility"] != "public"
        self.storage.update_settings(repo, private=private, gated=payload.get("gated"))
        self._send_json({})

    def _repo_payload(self, repo: Repo, commit: Commit, *, blobs: bool) -> dict[str, Any]:
        siblings: list[dict[str, Any]] = []
        for path, stored in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path}
            if blobs:
                sibling.update(size=stored.size, blobId=stored.oid)
                if stored.lfs:
                    sibling["lfs"] = {"size": stored.size, "sha256": stored.sha256, "pointerSize": stored.pointer_size}
            siblings.append(sibling)
        payload: dict[str, Any] = {
            "_id": repo.uid,
            "id": repo.repo_id,
            "author": repo.author,
            "sha": commit.oid,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": sum(stored.size for stored in commit.files.values()),
        }
        if repo.repo_type == "model":
            payload["modelId"] = repo.repo_id
        if repo.repo_type == "space":
            payload["sdk"] = repo.sdk
        return payload

    def _list_repos(self, repo_type: str) -> None:
        author = (self._query.get("author") or [None])[0]
        search = (self._query.get("search") or [""])[0].lower()
        payloads = [
            self._repo_payload(repo, repo.commits[repo.branches[_DEFAULT_BRANCH]], blobs=False)
            for repo in self.storage.list_repos(repo_type)
            if (not repo.private or self._token_user is not None)
            and (author is None or repo.author == author)
            and search in repo.repo_id.lower()
        ]
        self._send_json(payloads)

    def _repo_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._get_repo(repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        self._send_json(self._repo_payload(repo, commit, blobs=self._flag("blobs")))

    # Endpoints: listings ----------------------------------------------------------------------------------------------

    @staticmethod
    def _last_commit(repo: Repo, commit: Commit, path: str, *, is_folder: bool) -> dict[str, str]:
        """Most recent commit (from ``commit`` backwards) that changed ``path``, in the Hub's ``lastCommit`` format."""

        def state(snapshot: Commit) -> str | None:
            if is_folder:
                items = _folder_items(snapshot.files, path)
                return _tree_oid(items) if items else None
            stored = snapshot.files.get(path)
            return stored.oid if stored is not None else None

        last = commit
        current_state = state(commit)
        for ancestor in repo.history(commit):
            if state(ancestor) != current_state:
                break
            last = ancestor
        return {"id": last.oid, "title": last.title, "date": last.date}

    def _file_entry(self, repo: Repo, commit: Commit, path: str, *, expand: bool) -> dict[str, Any]:
        stored = commit.files[path]
        entry: dict[str, Any] = {"type": "file", "oid": stored.oid, "size": stored.size, "path": path}
        if stored.lfs:
            entry["lfs"] = {"oid": stored.sha256, "size": stored.size, "pointerSize": stored.pointer_size}
        if expand:
            entry["lastCommit"] = self._last_commit(repo, commit, path, is_folder=False)
            entry["securityFileStatus"] = _SAFE_SECURITY_STATUS
        return entry

    def _folder_entry(self, repo: Repo, commit: Commit, path: str, *, expand: bool) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "type": "directory",
            "oid": _tree_oid(_folder_items(commit.files, path)),
            "size": 0,
            "path": path,
        }
        if expand:
            entry["lastCommit"] = self._last_commit(repo, commit, path, is_folder=True)
        return entry

    def _tree(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._get_repo(repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        path = path.strip("/")
        prefix = f"{path}/" if path else ""
        below = [file_path for file_path in commit.files if file_path.startswith(prefix)]
        if path and not below:
            raise HubError(
                HTTPStatus.NOT_FOUND,
                f"Entry not found: {path}",
                error_code="EntryNotFound",
                headers={"X-Repo-Commit": commit.oid},
            )
        recursive = self._flag("recursive")
        expand = self._flag("expand")
        folders: set[str] = set()
        files: list[str] = []
        for file_path in below:
            parts = file_path[len(prefix) :].split("/")
            if len(parts) == 1 or recursive:
                files.append(file_path)
            depth = len(parts) - 1 if recursive else min(1, len(parts) - 1)
            folders.update(prefix + "/".join(parts[: index + 1]) for index in range(depth))
        entries = [self._folder_entry(repo, commit, folder, expand=expand) for folder in sorted(folders)]
        entries += [self._file_entry(repo, commit, file_path, expand=expand) for file_path in sorted(files)]
        self._send_json(entries)

    def _paths_info(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._get_repo(repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        content_type = self.headers.get("Content-Type", "")
        if "json" in content_type:
            payload = self._json_body()
            paths, expand = list(payload.get("paths") or []), bool(payload.get("expand"))
        else:
            form = parse_qs(self._body.decode(), keep_blank_values=True)
            paths = form.get("paths", [])
            expand = (form.get("expand") or ["false"])[0].lower() in ("1", "true")
        entries: list[dict[str, Any]] = []
        for raw_path in paths:
            path = raw_path.strip("/")
            if path in commit.files:
                entries.append(self._file_entry(repo, commit, path, expand=expand))
            elif path and any(file_path.startswith(path + "/") for file_path in commit.files):
                entries.append(self._folder_entry(repo, commit, path, expand=expand))
        self._send_json(entries)

    def _list_commits(self, repo_type: str, repo_id: str, revision: str) -> None:
        repo = self._get_repo(repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        formatted = "formatted" in (self._query.get("expand[]") or []) + (self._query.get("expand") or [])
        items: list[dict[str, Any]] = []
        for ancestor in repo.history(commit):
            item: dict[str, Any] = {
                "id": ancestor.oid,
                "title": ancestor.title,
                "message": ancestor.message,
                "authors": [{"user": ancestor.author, "avatar": None}],
                "date": ancestor.date,
            }
            if formatted:
                item["formatted"] = {"title": ancestor.title, "message": ancestor.message}
            items.append(item)
        self._send_json(items)

    def _list_refs(self, repo_type: str, repo_id: str) -> None:
        repo = self._get_repo(repo_type, repo_id)
        with self.storage.lock:
            branches, tags = sorted(repo.branches.items()), sorted(repo.tags.items())
            pull_requests = sorted(repo.pull_requests.items())
        payload: dict[str, Any] = {
            "branches": [{"name": name, "ref": f"refs/heads/{name}", "targetCommit": oid} for name, oid in branches],
            "converts": [],
            "tags": [{"name": name, "ref": f"refs/tags/{name}", "targetCommit": oid} for name, oid in tags],
        }
        if self._flag("include_prs"):
            payload["pullRequests"] = [
                {"name": f"refs/pr/{num}", "ref": f"refs/pr/{num}", "targetCommit": oid} for num, oid in pull_requests
            ]
        self._send_json(payload)

    def _ref(self, method: str, repo_type: str, repo_id: str, kind: str, name: str) -> None:
        self._require_user()
        repo = self._get_repo(repo_type, repo_id)
        if method == "DELETE":
            self.storage.delete_ref(repo, kind, name)
        elif kind == "branch":
            starting_point = self._json_body().get("startingPoint") or _DEFAULT_BRANCH
            if name.startswith("refs/"):
                raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid reference for a branch: {name}")
            self.storage.create_ref(repo, "branch", name, self._get_commit(repo, starting_point))
        else:  # POST /tag/{revision} with {"tag": name}
            tag = self._json_body().get("tag")
            if not isinstance(tag, str) or not tag:
                raise HubError(HTTPStatus.BAD_REQUEST, "Missing tag name")
            self.storage.create_ref(repo, "tag", tag, self._get_commit(repo, name))
        self._send_json({})

    # Endpoints: uploads -----------------------------------------------------------------------------------------------

    def _preupload(self, repo_type: str, repo_id: str, revision: str) -> None:
        self._require_user()
        repo = self._get_repo(repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        payload = self._json_body()
        ignore_patterns = [
            line.strip()
            for line in str(payload.get("gitIgnore") or "").splitlines()
            if line.strip() and not line.strip().startswith("#")
        ]
        files: list[dict[str, Any]] = []
        for item in payload.get("files") or []:
            path = str(item["path"])
            sample = base64.b64decode(item.get("sample") or "")
            use_lfs = self.storage.should_use_lfs(path, int(item.get("size") or 0), sample)
            stored = commit.files.get(path)
            files.append(
                {
                    "path": path,
                    "uploadMode": "lfs" if use_lfs else "regular",
                    "shouldIgnore": any(
                        fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], pattern)
                        for pattern in ignore_patterns
                    ),
                    "oid": stored.preupload_oid if stored is not None else None,
                }
            )
        self._send_json({"files": files, "commitOid": commit.oid})

    def _lfs_batch(self, repo_type: str, repo_id: str) -> None:
        self._require_user()
        repo = self._get_repo(repo_type, repo_id)
        payload = self._json_body()
        if payload.get("operation") != "upload":
            raise HubError(HTTPStatus.UNPROCESSABLE_ENTITY, "LocalHub only supports the LFS 'upload' operation")
        objects: list[dict[str, Any]] = []
        for item in payload.get("objects") or []:
            oid, size = str(item["oid"]), int(item["size"])
            entry: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            if not self.storage.has_object(oid):
                entry["actions"] = {
                    "upload": {"href": f"{self.base_url}/lfs-upload/{oid}", "expires_in": 3600},
                    "verify": {"href": f"{self._repo_url(repo)}.git/info/lfs/objects/verify", "header": {}},
                }
            objects.append(entry)
        self._send(
            HTTPStatus.OK,
            json.dumps({"transfer": "basic", "objects": objects, "hash_algo": "sha256"}).encode(),
            content_type="application/vnd.git-lfs+json",
        )

    def _lfs_upload(self, oid: str) -> None:
        sha256 = hashlib.sha256(self._body).hexdigest()
        if sha256 != oid:
            raise HubError(HTTPStatus.BAD_REQUEST, f"Content sha256 {sha256} does not match the object id {oid}")
        self.storage.put_object(self._body)
        self._send(HTTPStatus.OK, headers={"ETag": f'"{oid}"'})

    def _lfs_verify(self, repo_type: str, repo_id: str) -> None:
        self._require_user()
        self._get_repo(repo_type, repo_id)
        payload = self._json_body()
        oid = str(payload.get("oid"))
        if not self.storage.has_object(oid) or self.storage.object_size(oid) != payload.get("size"):
            raise HubError(HTTPStatus.NOT_FOUND, f"LFS object {oid} not found (or wrong size)")
        self._send_json({"success": True})

    @staticmethod
    def _validate_path(path: Any) -> str:
        if not isinstance(path, str) or not path.strip("/"):
            raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid path in commit: {path!r}")
        path = path.lstrip("/")
        if any(part in ("", ".", "..") for part in path.rstrip("/").split("/")):
            raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid path in commit: {path!r}")
        return path

    def _parse_commit_payload(self) -> tuple[dict[str, Any], list[CommitOperation]]:
        header: dict[str, Any] = {}
        operations: list[CommitOperation] = []
        for line in self._body.splitlines():
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                key, value = item["key"], item["value"]
            except (ValueError, KeyError, TypeError) as error:
                raise HubError(HTTPStatus.BAD_REQUEST, f"Invalid NDJSON commit line: {line[:200]!r}") from error
            if key == "header":
                header = value
            elif key == "file":
                path = self._validate_path(value.get("path"))
                if value.get("encoding", "base64") != "base64":
                    raise HubError(HTTPStatus.BAD_REQUEST, f"Unsupported encoding: {value.get('encoding')}")
                content = base64.b64decode(value.get("content") or "")
                sha256 = self.storage.put_object(content)
                operations.append(CommitOperation("add", path, sha256=sha256, size=len(content), lfs=False))
            elif key == "lfsFile":
                path = self._validate_path(value.get("path"))
                oid = str(value.get("oid"))
                if not self.storage.has_object(oid):
                    raise HubError(
                        HTTPStatus.UNPROCESSABLE_ENTITY, f"LFS file {path} (oid {oid}) has not been uploaded"
                    )
                size = self.storage.object_size(oid)
                if value.get("size") is not None and int(value["size"]) != size:
                    raise HubError(HTTPStatus.UNPROCESSABLE_ENTITY, f"Size mismatch for LFS file {path}")
                operations.append(CommitOperation("add", path, sha256=oid, size=size, lfs=True))
            elif key == "deletedFile":
                operations.append(CommitOperation("delete_file", self._validate_path(value.get("path"))))
            elif key == "deletedFolder":
                operations.append(CommitOperation("delete_folder", self._validate_path(value.get("path"))))
            else:
                raise HubError(HTTPStatus.BAD_REQUEST, f"Unsupported commit operation: {key}")
        if not header.get("summary"):
            raise HubError(HTTPStatus.BAD_REQUEST, "Missing commit summary")
        return header, operations

    def _commit(self, repo_type: str, repo_id: str, revision: str) -> None:
        user = self._require_user()
        repo = self._get_repo(repo_type, repo_id)
        header, operations = self._parse_commit_payload()
        create_pr = self._flag("create_pr")
        commit, pr_num = self.storage.commit(
            repo,
            branch=revision,
            operations=operations,
            title=str(header["summary"]),
            message=str(header.get("description") or ""),
            author=user,
            parent_commit=header.get("parentCommit"),
            create_pr=create_pr,
        )
        self._send_json(
            {
                "success": True,
                "commitOid": commit.oid,
                "commitUrl": f"{self._repo_url(repo)}/commit/{commit.oid}",
                "commitMessage": commit.title,
                "hookOutput": "",
                "pullRequestUrl": f"{self._repo_url(repo)}/discussions/{pr_num}" if pr_num is not None else None,
            }
        )

    # Endpoints: downloads ---------------------------------------------------------------------------------------------

    def _resolve(self, repo_type: str, repo_id: str, revision: str, path: str) -> None:
        repo = self._get_repo(repo_type, repo_id)
        commit = self._get_commit(repo, revision)
        stored = commit.files.get(path)
        if stored is None:
            raise HubError(
                HTTPStatus.NOT_FOUND,
                "Entry not found",
                error_code="EntryNotFound",
                headers={"X-Repo-Commit": commit.oid},
            )
        filename = path.rsplit("/", 1)[-1]
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{stored.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'inline; filename="{filename}";',
        }
        if stored.lfs:
            headers["X-Linked-Etag"] = f'"{stored.sha256}"'
            headers["X-Linked-Size"] = str(stored.size)
        content_type = "application/octet-stream" if stored.lfs else "text/plain; charset=utf-8"
        if self._method == "HEAD":
            self._send(HTTPStatus.OK, content_type=content_type, headers=headers, content_length=stored.size)
            return
        content = self.storage.read_object(stored.sha256)
        byte_range = self._parse_range(self.headers.get("Range"), len(content))
        if byte_range is None:
            self._send(HTTPStatus.OK, content, content_type=content_type, headers=headers)
            return
        start, end = byte_range
        headers["Content-Range"] = f"bytes {start}-{end}/{len(content)}"
        self._send(HTTPStatus.PARTIAL_CONTENT, content[start : end + 1], content_type=content_type, headers=headers)

    @staticmethod
    def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
        """Inclusive ``(start, end)`` of a single ``bytes=`` range; ``None`` without one; 416 if unsatisfiable."""
        if not header or not header.strip().lower().startswith("bytes="):
            return None
        spec = header.strip()[len("bytes=") :].strip()
        if "," in spec:
            raise HubError(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, "Multiple ranges are not supported")
        start_text, _, end_text = spec.partition("-")
        try:
            if not start_text:  # suffix range: the last N bytes
                start, end = max(size - int(end_text), 0), size - 1
            else:
                start = int(start_text)
                end = min(int(end_text), size - 1) if end_text else size - 1
        except ValueError as error:
            raise HubError(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, f"Invalid range: {header}") from error
        if start >= size or start > end:
            raise HubError(
                HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE,
                f"Range not satisfiable: {header}",
                headers={"Content-Range": f"bytes */{size}"},
            )
        return start, end


# ----------------------------------------------------------------------------------------------------------------------
# Public entry point
# ----------------------------------------------------------------------------------------------------------------------


class LocalHub:
    """A Hub-compatible HTTP server on ``127.0.0.1`` (random free port by default), for tests.

    Example:
        ```py
        with LocalHub() as hub:
            api = HfApi(endpoint=hub.url, token=hub.token)
            api.create_repo("test-user/my-model")
        ```

    Args:
        root: Folder where repos and objects are stored. A temporary folder (removed by :meth:`stop`) if ``None``;
            an existing folder reopens the repos stored there.
        host: Interface to bind.
        port: Port to bind; ``0`` picks a free one.
        token: The bearer token accepted by the server.
        username: The user authenticated by ``token``.
        lfs_threshold: Files strictly bigger than this many bytes (or binary, or with an LFS extension such as
            ``.safetensors``/``.parquet``) are uploaded with LFS.
        verbose: Log every request on stderr.
    """

    def __init__(
        self,
        root: str | os.PathLike[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token: str = HUB_TOKEN,
        username: str = HUB_USERNAME,
        lfs_threshold: int = DEFAULT_LFS_THRESHOLD,
        verbose: bool = False,
    ) -> None:
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="local_hub_")) if root is None else Path(root)
        self.host = host
        self.port = port
        self.token = token
        self.username = username
        self.verbose = verbose
        self.storage = HubStorage(self.root, lfs_threshold=lfs_threshold)
        #: Every request served, in order.
        self.requests: list[HubRequest] = []
        #: ``"METHOD /path"`` of the requests no endpoint matched.
        self.unhandled_requests: list[str] = []
        #: The faults injected into matching requests (:meth:`inject_fault`).
        self.faults: list[Fault] = []
        self._log_lock = threading.Lock()
        self._server: _HubHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL of the server, e.g. ``http://127.0.0.1:54321`` (to use as ``HF_ENDPOINT``)."""
        if self._server is None:
            raise RuntimeError("LocalHub is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def start(self) -> Self:
        """Start serving in a background thread and return ``self``."""
        if self._server is not None:
            raise RuntimeError("LocalHub is already started")
        self._server = _HubHTTPServer((self.host, self.port), self)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"LocalHub:{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the server (idempotent) and remove its storage if it is a temporary folder."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._thread is not None:
                self._thread.join(timeout=5)
            self._server = None
            self._thread = None
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Self:
        return self if self.is_running else self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback_: TracebackType | None,
    ) -> None:
        self.stop()

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        """Whether a repo exists on this server (bypassing HTTP and visibility)."""
        return self.storage.get_repo(repo_type, repo_id) is not None

    def inject_fault(self, method: str, path: str, kind: str = "error", *,
                     status: int = HTTPStatus.INTERNAL_SERVER_ERROR, times: int | None = None) -> Fault:
        """Make the requests ``method`` + a URL path matching ``path`` fail (see :class:`Fault`), until
        :meth:`clear_faults` or for ``times`` requests; returns the fault (its ``hits`` count the requests it hit).

        Example:
            ```py
            fault = hub.inject_fault("POST", COMMIT_PATH)                  # every commit answers 500
            hub.inject_fault("PUT", LFS_UPLOAD_PATH, kind="drop")          # LFS uploads cut off half-way
            ```
        """
        if kind not in ("error", "drop", "lose_answer"):
            raise ValueError(f"Unknown fault kind {kind!r}: 'error', 'drop' or 'lose_answer'")
        fault = Fault(method=method.upper(), path=path, kind=kind, status=int(status), times=times)
        with self._log_lock:
            self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Serve every request normally again."""
        with self._log_lock:
            self.faults.clear()

    def _take_fault(self, method: str, path: str) -> Fault | None:
        """The first fault matching the request, counted as a hit; ``None`` when none does."""
        with self._log_lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def clear_request_log(self) -> None:
        """Forget the recorded requests (``requests`` and ``unhandled_requests``)."""
        with self._log_lock:
            self.requests.clear()
            self.unhandled_requests.clear()

    def _record(self, request: HubRequest) -> None:
        with self._log_lock:
            self.requests.append(request)

    def _record_unhandled(self, description: str) -> None:
        with self._log_lock:
            self.unhandled_requests.append(description)


# ----------------------------------------------------------------------------------------------------------------------
# Pointing the Hugging Face client libraries at a server (imports them lazily)
# ----------------------------------------------------------------------------------------------------------------------


def _setattr_if_loaded(monkeypatch: pytest.MonkeyPatch, module_name: str, attribute: str, value: Any) -> None:
    """Patch ``module.attribute`` if the module is imported and has that attribute."""
    module = sys.modules.get(module_name)
    if module is not None and hasattr(module, attribute):
        monkeypatch.setattr(module, attribute, value)


def reset_hf_client_state() -> None:
    """Drop the client-side state that outlives a test: HTTP session, ``HfFileSystem`` instances, caches.

    Call it when the endpoint changes (or a server stops) so that no pooled connection, cached filesystem or cached
    ``HfApi`` keeps pointing at the previous one. Safe to call at any time.
    """
    from huggingface_hub import HfFileSystem, _tree_cache
    from huggingface_hub.utils import _hf_uris, _http

    _http.close_session()
    HfFileSystem.clear_instance_cache()
    with _tree_cache._IN_MEMORY_TREE_CACHE_LOCK:
        _tree_cache._IN_MEMORY_TREE_CACHE.clear()
    _hf_uris.parse_hf_uri.cache_clear()
    transformers_hub = sys.modules.get("transformers.utils.hub")
    if transformers_hub is not None and hasattr(transformers_hub, "_hf_api"):
        transformers_hub._hf_api = None  # recreated lazily from the current endpoint


def configure_hf_clients(
    monkeypatch: pytest.MonkeyPatch,
    *,
    endpoint: str,
    token: str | None,
    hf_home: str | os.PathLike[str],
) -> None:
    """Point ``huggingface_hub``, ``transformers``, ``datasets`` (and ``evaluate`` if imported) at ``endpoint``.

    Sets the environment variables (``HF_ENDPOINT``, ``HF_TOKEN``, ``HF_HOME``, ``HF_HUB_DISABLE_XET=1``,
    ``HF_HUB_DISABLE_TELEMETRY=1``, ``HF_HUB_OFFLINE=0``, ...) *and* the module-level copies the libraries made of
    them at import time, so the switch works within one process. Everything is undone by ``monkeypatch``.
    ``transformers.utils.hub`` and ``datasets.config`` are imported here so that their constants are restored too;
    the Dataset Viewer (parquet export) and download counters of ``datasets`` are disabled since the local server
    does not implement them. Pass ``token=None`` to run without any token.
    """
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.utils import _http

    # Imported now so that their module-level copies are patched (and restored) instead of computed from our env.
    for module_name in ("transformers.utils.hub", "datasets.config"):
        try:
            __import__(module_name)
        except ImportError:
            pass

    endpoint = endpoint.rstrip("/")
    home = Path(hf_home)
    home.mkdir(parents=True, exist_ok=True)
    hub_cache = str(home / "hub")
    assets_cache = str(home / "assets")
    modules_cache = str(home / "modules")
    datasets_cache = home / "datasets"

    # Environment: for subprocesses and for libraries imported later.
    for name in (
        "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_ASSETS_CACHE", "HUGGINGFACE_ASSETS_CACHE", "HF_TOKEN_PATH",
        "HF_XET_CACHE", "HF_MODULES_CACHE", "HF_DATASETS_CACHE", "HF_EVALUATE_CACHE", "HUGGING_FACE_HUB_TOKEN",
        "HF_OIDC_RESOURCE", "HF_OIDC_ID_TOKEN", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HF_EVALUATE_OFFLINE",
        "HUGGINGFACE_CO_STAGING", "HF_HUB_DISABLE_IMPLICIT_TOKEN",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setenv("HF_UPDATE_DOWNLOAD_COUNTS", "0")
    if token is None:
        monkeypatch.delenv("HF_TOKEN", raising=False)
    else:
        monkeypatch.setenv("HF_TOKEN", token)

    # huggingface_hub.constants (read at call time by the library code).
    host = urlsplit(endpoint).hostname or ""
    for attribute, value in {
        "ENDPOINT": endpoint,
        "HUGGINGFACE_CO_URL_TEMPLATE": endpoint + "/{repo_id}/resolve/{revision}/{filename}",
        "HF_URL_HOSTS": constants.HF_URL_HOSTS | {host.lower()},
        "HF_HOME": str(home),
        "default_cache_path": hub_cache,
        "default_assets_cache_path": assets_cache,
        "HUGGINGFACE_HUB_CACHE": hub_cache,
        "HUGGINGFACE_ASSETS_CACHE": assets_cache,
        "HF_HUB_CACHE": hub_cache,
        "HF_ASSETS_CACHE": assets_cache,
        "HF_TOKEN_PATH": str(home / "token"),
        "HF_STORED_TOKENS_PATH": str(home / "stored_tokens"),
        "CHECK_FOR_UPDATE_DONE_PATH": str(home / ".check_for_update_done"),
        "CHECK_FOR_SKILL_UPDATE_DONE_PATH": str(home / ".check_for_skill_update_done"),
        "AGENT_HARNESSES_PATH": str(home / ".agent_harnesses.json"),
        "default_xet_cache_path": str(home / "xet"),
        "HF_XET_CACHE": str(home / "xet"),
        "HF_HUB_OFFLINE": False,
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": False,
    }.items():
        monkeypatch.setattr(constants, attribute, value)
    # Copies made with `from ..constants import X` and other import-time snapshots.
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", endpoint)  # the `huggingface_hub.<method>` helpers
    monkeypatch.setattr(_http, "_HUB_ORIGINS", _http._HUB_ORIGINS | {_http._url_origin(endpoint)})
    _setattr_if_loaded(
        monkeypatch, "huggingface_hub", "HUGGINGFACE_CO_URL_TEMPLATE", constants.HUGGINGFACE_CO_URL_TEMPLATE
    )
    _setattr_if_loaded(monkeypatch, "huggingface_hub.utils._cache_manager", "HF_HUB_CACHE", hub_cache)
    _setattr_if_loaded(monkeypatch, "huggingface_hub.utils._cache_assets", "HF_ASSETS_CACHE", assets_cache)
    _setattr_if_loaded(monkeypatch, "huggingface_hub.utils._git_credential", "ENDPOINT", endpoint)
    _setattr_if_loaded(monkeypatch, "huggingface_hub.cli.auth", "ENDPOINT", endpoint)

    # transformers
    for module_name in (
        "transformers.utils.hub", "transformers.utils", "transformers.dynamic_module_utils", "transformers.file_utils",
    ):  # fmt: skip
        _setattr_if_loaded(monkeypatch, module_name, "HF_MODULES_CACHE", modules_cache)
    _setattr_if_loaded(monkeypatch, "transformers.utils.hub", "_hf_api", None)

    # datasets
    for attribute, value in {
        "HF_ENDPOINT": endpoint,
        "HUB_DATASETS_URL": endpoint + "/datasets/{repo_id}/resolve/{revision}/{path}",
        "HF_CACHE_HOME": str(home),
        "HF_DATASETS_CACHE": datasets_cache,
        "HF_MODULES_CACHE": Path(modules_cache),
        "DOWNLOADED_DATASETS_PATH": datasets_cache / "downloads",
        "EXTRACTED_DATASETS_PATH": datasets_cache / "downloads" / "extracted",
        "HF_HUB_OFFLINE": False,
        "HF_DATASETS_OFFLINE": False,
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
        "USE_PARQUET_EXPORT": False,
    }.items():
        _setattr_if_loaded(monkeypatch, "datasets.config", attribute, value)

    # evaluate (only if already imported: importing it is slow)
    evaluate_cache = home / "evaluate"
    for attribute, value in {
        "HF_ENDPOINT": endpoint,
        "HF_LIST_ENDPOINT": endpoint + "/api/spaces?filter={type}",
        "HUB_EVALUATE_URL": endpoint + "/spaces/{path}/resolve/{revision}/{name}",
        "HF_CACHE_HOME": str(home),
        "HF_EVALUATE_CACHE": evaluate_cache,
        "HF_METRICS_CACHE": home / "metrics",
        "HF_MODULES_CACHE": Path(modules_cache),
        "DOWNLOADED_EVALUATE_PATH": evaluate_cache / "downloads",
        "EXTRACTED_EVALUATE_PATH": evaluate_cache / "downloads" / "extracted",
        "HF_UPDATE_DOWNLOAD_COUNTS": False,
        "HF_EVALUATE_OFFLINE": False,
    }.items():
        _setattr_if_loaded(monkeypatch, "evaluate.config", attribute, value)

    reset_hf_client_state()


def set_offline(monkeypatch: pytest.MonkeyPatch, offline: bool = True) -> None:
    """Simulate ``HF_HUB_OFFLINE=1`` (or ``0``) within the process, for ``huggingface_hub``, ``transformers``,
    ``datasets`` and ``evaluate``: sets the environment variables and patches the module-level constants.

    In offline mode every request through ``huggingface_hub``'s HTTP session raises ``OfflineModeIsEnabled`` and the
    libraries fall back to their caches.
    """
    from huggingface_hub import constants

    flag = "1" if offline else "0"
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(name, flag)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", offline)
    _setattr_if_loaded(monkeypatch, "datasets.config", "HF_HUB_OFFLINE", offline)
    _setattr_if_loaded(monkeypatch, "datasets.config", "HF_DATASETS_OFFLINE", offline)
    _setattr_if_loaded(monkeypatch, "evaluate.config", "HF_EVALUATE_OFFLINE", offline)


class _NoWaits:
    """The ``time`` module, except that ``sleep`` returns at once."""

    def __getattr__(self, name: str) -> Any:
        return getattr(time, name)

    @staticmethod
    def sleep(seconds: float) -> None:
        return None


def skip_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``huggingface_hub``'s retries (``http_backoff``: pre-uploads, LFS uploads; 5 retries waiting 1 to 8 s) retry
    at once, for tests whose injected fault hits every try."""
    from huggingface_hub.utils import _http

    monkeypatch.setattr(_http, "time", _NoWaits())
