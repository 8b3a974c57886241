"""The OpenAI-compatible Batch File API of Model Studio, for the emulator: `/files` and `/batches`.

    emu.batch_api.retrieves_per_status = 2   # two GETs per status step (default 1)
    emu.batch_api.expire_after = 3           # the next batches expire after 3 lines
    emu.batch_api.max_line_bytes = 1000      # validation fails a batch with a longer line
    emu.batch_api.reply_for = lambda line: Reply(text=line["custom_id"])   # script by line, not FIFO

Each `GET /batches/{id}` moves a batch one step along validating → in_progress → finalizing →
completed. Lines are validated when the batch leaves `validating` (a bad file fails the batch with
`errors`), and run when it leaves `in_progress`: each line's body goes through the same rules and
the same `enqueue` FIFO as a chat request, in line order, so `emu.enqueue(...)` scripts batch items
too. A 2xx reply becomes a result-file line; an `ErrorReply` or a broken rule becomes an error-file
line. `GET /files` and `GET /batches` list what was uploaded and created (batches newest first,
`limit` / `after` pagination). Line shapes follow OpenAI's batch output (`{"id", "custom_id",
"response": {"status_code", "request_id", "body"}, "error"}`); error lines also carry
`error: {"code", "message"}` [I: the exact Model Studio error-file line was not captured].
Validation enforces the documented limits: at most 50,000 lines and 500 MB per file, 6 MB per line
(Model Studio "バッチ推論", https://www.alibabacloud.com/help/ja/model-studio/batch-inference)
[I: the messages are not captured].
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qwen_vl_core.testing._compat import compat_error, render_compat
from qwen_vl_core.testing._http import RawRequest, Response
from qwen_vl_core.testing._rules import COMPAT_PREFIX, check_request, compat_view
from qwen_vl_core.testing._script import Script

__all__ = ["BATCH_ENDPOINT", "BatchAPI", "parse_multipart"]

_ROOT = "/compatible-mode/v1"
BATCH_ENDPOINT = "/v1/chat/completions"
"""The only `endpoint` (and line `url`) accepted for chat batches."""
_TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
_EXPIRED = "This request could not be executed before the completion window expired."  # OpenAI's wording
_JSON = "application/json"
MAX_LINES = 50_000
MAX_FILE_BYTES = 500 * 1000 * 1000
MAX_LINE_BYTES = 6 * 1000 * 1000


def parse_multipart(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """`multipart/form-data` → {field name: (file name or None, content)}; stdlib only."""
    boundary = next(
        (p.split("=", 1)[1].strip().strip('"') for p in content_type.split(";") if p.strip().startswith("boundary=")),
        None,
    )
    if not boundary:
        raise ValueError("multipart body without a boundary")
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary.encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        disposition = next(
            (
                line.split(":", 1)[1]
                for line in head.decode("latin-1").split("\r\n")
                if line.lower().startswith("content-disposition:")
            ),
            "",
        )
        params = dict(_param(p) for p in disposition.split(";")[1:])
        if "name" in params:
            fields[params["name"]] = (params.get("filename"), content.removesuffix(b"\r\n"))
    return fields


def _param(text: str) -> tuple[str, str]:
    key, _, value = text.strip().partition("=")
    return key.lower(), value.strip('"')


def _json_response(value: Any, status: int = 200) -> Response:
    rid = str(uuid.uuid4())
    return Response(status, [("content-type", _JSON), ("x-request-id", rid)], json.dumps(value).encode())


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.data),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class _Batch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: Any
    created_at: int
    status: str = "validating"
    polls: int = 0
    expire_after: int | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: Any = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    times: dict[str, int] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        stamps = ("in_progress", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": self.errors,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "expires_at": self.created_at + 86_400,
            **{f"{name}_at": self.times.get(name) for name in stamps},
            "request_counts": dict(self.counts),
            "metadata": self.metadata,
        }

    def move(self, status: str) -> None:
        self.status = status
        self.times[status] = int(time.time())


class BatchAPI:
    """Files and batches under the compat base URL; one per emulator (`emu.batch_api`).

    `retrieves_per_status`: GETs of a batch before it moves one status on (0: straight to the end).
    `expire_after`: batches created from now on expire after running that many lines; the rest go
    to the error file as `batch_expired`. `max_lines`, `max_file_bytes`, `max_line_bytes`: the
    limits validation enforces. `reply_for(line)`: the script for one input line (None: the FIFO).
    `files` and `batches` hold the stored objects by id.
    """

    def __init__(self, pop: Callable[[], Script], *, enforce_rules: bool) -> None:
        self._pop = pop
        self._enforce_rules = enforce_rules
        self._lock = threading.Lock()
        self.retrieves_per_status = 1
        self.expire_after: int | None = None
        self.max_lines = MAX_LINES
        self.max_file_bytes = MAX_FILE_BYTES
        self.max_line_bytes = MAX_LINE_BYTES
        self.reply_for: Callable[[dict[str, Any]], Script | None] | None = None
        self.files: dict[str, _File] = {}
        self.batches: dict[str, _Batch] = {}

    def reset(self) -> None:
        with self._lock:
            self.files.clear()
            self.batches.clear()

    @staticmethod
    def handles(path: str) -> bool:
        return path.startswith((f"{_ROOT}/files", f"{_ROOT}/batches"))

    def dispatch(self, request: RawRequest) -> Response:
        parts = request.path.removeprefix(_ROOT).strip("/").split("/")
        with self._lock:
            route = (request.method, parts[0], len(parts), parts[-1] if len(parts) == 3 else None)
            if route == ("POST", "files", 1, None):
                return self._upload(request)
            if route == ("GET", "files", 1, None):
                return self._list_files(request.target)
            if route == ("GET", "batches", 1, None):
                return self._list_batches(request.target)
            if route[:3] == ("GET", "files", 2):
                return self._file(parts[1], content=False)
            if route == ("GET", "files", 3, "content"):
                return self._file(parts[1], content=True)
            if route == ("POST", "batches", 1, None):
                return self._create(request.body)
            if route[:3] == ("GET", "batches", 2):
                return self._retrieve(parts[1])
            if route == ("POST", "batches", 3, "cancel"):
                return self._cancel(parts[1])
        return compat_error(404, "Not Found", code="not_found", type="not_found")

    # -- files -------------------------------------------------------------------------------

    def _upload(self, request: RawRequest) -> Response:
        try:
            fields = parse_multipart(request.body, request.headers.get("content-type", ""))
        except ValueError as exc:
            return compat_error(400, str(exc))
        purpose = fields.get("purpose", (None, b""))[1].decode()
        name, data = fields.get("file", (None, b""))
        if "file" not in fields or purpose != "batch":
            return compat_error(400, "Upload a JSONL file with purpose=batch.")  # [I] wording not captured
        file = _File(f"file-batch-{uuid.uuid4().hex[:24]}", name or "upload.jsonl", purpose, data, int(time.time()))
        self.files[file.id] = file
        return _json_response(file.as_json())

    def _file(self, file_id: str, *, content: bool) -> Response:
        file = self.files.get(file_id)
        if file is None:
            return compat_error(404, f"File {file_id} not found.", code="not_found", type="not_found")
        if content:
            return Response(200, [("content-type", "application/octet-stream")], file.data)
        return _json_response(file.as_json())

    def _list_files(self, target: str) -> Response:
        purpose = parse_qs(urlsplit(target).query).get("purpose", [None])[0]
        data = [f.as_json() for f in self.files.values() if purpose is None or f.purpose == purpose]
        return _json_response({"object": "list", "data": data, "has_more": False})

    def _list_batches(self, target: str) -> Response:
        query = parse_qs(urlsplit(target).query)
        newest = list(reversed(self.batches.values()))
        after = query.get("after", [None])[0]
        if after is not None:
            ids = [b.id for b in newest]
            newest = newest[ids.index(after) + 1 :] if after in ids else []
        limit = int(query.get("limit", ["20"])[0])
        page = [b.as_json() for b in newest[:limit]]
        return _json_response(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(newest) > limit,
            }
        )

    def _store(self, name: str, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        data = b"".join(json.dumps(line, ensure_ascii=False).encode() + b"\n" for line in lines)
        file = _File(f"file-batch-{uuid.uuid4().hex[:24]}", name, "batch_output", data, int(time.time()))
        self.files[file.id] = file
        return file.id

    # -- batches -----------------------------------------------------------------------------

    def _create(self, raw: bytes) -> Response:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return compat_error(400, "The request body is not valid JSON.")
        if body.get("input_file_id") not in self.files:
            return compat_error(404, f"File {body.get('input_file_id')} not found.", code="not_found", type="not_found")
        if body.get("endpoint") != BATCH_ENDPOINT or not isinstance(body.get("completion_window"), str):
            return compat_error(400, f"endpoint must be {BATCH_ENDPOINT} and completion_window is required.")
        batch = _Batch(
            id=f"batch_{uuid.uuid4()}",
            input_file_id=body["input_file_id"],
            endpoint=body["endpoint"],
            completion_window=body["completion_window"],
            metadata=body.get("metadata"),
            created_at=int(time.time()),
            expire_after=self.expire_after,
        )
        self.batches[batch.id] = batch
        return _json_response(batch.as_json())

    def _retrieve(self, batch_id: str) -> Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return compat_error(404, f"Batch {batch_id} not found.", code="not_found", type="not_found")
        batch.polls += 1
        while batch.status not in _TERMINAL and batch.polls >= self.retrieves_per_status:
            batch.polls = 0
            self._advance(batch)
            if self.retrieves_per_status > 0:
                break
        return _json_response(batch.as_json())

    def _cancel(self, batch_id: str) -> Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return compat_error(404, f"Batch {batch_id} not found.", code="not_found", type="not_found")
        if batch.status in ("validating", "in_progress"):
            batch.move("cancelling")
        elif batch.status not in ("cancelling", "cancelled"):
            return compat_error(400, f"Cannot cancel a batch with status {batch.status}.")
        return _json_response(batch.as_json())

    def _advance(self, batch: _Batch) -> None:
        if batch.status == "cancelling":
            batch.move("cancelled")
        elif batch.status == "validating":
            error = self._validate(batch)
            if error is not None:
                batch.errors = {"object": "list", "data": [error]}
                batch.move("failed")
            else:
                batch.counts["total"] = len(batch.lines)
                batch.move("in_progress")
        elif batch.status == "in_progress":
            self._run(batch)
        elif batch.status == "finalizing":
            batch.move("completed")

    def _validate(self, batch: _Batch) -> dict[str, Any] | None:
        lines: list[dict[str, Any]] = []
        seen: set[Any] = set()
        models: set[Any] = set()
        data = self.files[batch.input_file_id].data
        if len(data) > self.max_file_bytes:
            return _invalid(f"The file is over {self.max_file_bytes:,} bytes.")
        for number, raw in enumerate(data.splitlines(), 1):
            if not raw.strip():
                continue
            if len(raw) > self.max_line_bytes:
                return _invalid(f"The line is over {self.max_line_bytes:,} bytes.", number)
            if number > self.max_lines:
                return _invalid(f"The file has over {self.max_lines:,} lines.")
            text = raw.decode()
            try:
                line = json.loads(text)
            except ValueError:
                line = None
            problem = _line_problem(line, seen)
            if problem is not None:
                return _invalid(problem, number)
            assert isinstance(line, dict)
            seen.add(line["custom_id"])
            models.add(line["body"].get("model"))
            lines.append(line)
        if len(models) > 1:
            return _invalid("All lines must request the same model.")
        if not lines:
            return _invalid("The input file has no requests.")
        batch.lines = lines
        return None

    def _run(self, batch: _Batch) -> None:
        done: list[dict[str, Any]] = []
        failed: list[dict[str, Any]] = []
        limit = len(batch.lines) if batch.expire_after is None else batch.expire_after
        for position, line in enumerate(batch.lines):
            if position >= limit:
                failed.append(_line(line["custom_id"], None, {"code": "batch_expired", "message": _EXPIRED}))
                continue
            result, ok = self._answer(line)
            (done if ok else failed).append(result)
        batch.output_file_id = self._store(f"{batch.id}_success.jsonl", done)
        batch.error_file_id = self._store(f"{batch.id}_error.jsonl", failed)
        batch.counts.update(completed=len(done), failed=len(failed))
        batch.move("expired" if batch.expire_after is not None and limit < len(batch.lines) else "finalizing")

    def _answer(self, line: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Run one line like a chat request; (result line, succeeded)."""
        view = compat_view(line["body"])
        violation = check_request(view) if self._enforce_rules else None
        if violation is not None:
            message = COMPAT_PREFIX + violation.message if violation.internal else violation.message
            response = compat_error(400, message)
        elif view.stream:
            response = compat_error(400, "Batch requests cannot stream; remove stream.")  # [I] not captured
        else:
            script = self.reply_for(line) if self.reply_for is not None else None
            response = render_compat(script if script is not None else self._pop(), view)
        headers = dict(response.headers)
        body = _body_json(response.body)
        envelope = {"status_code": response.status, "request_id": headers.get("x-request-id"), "body": body}
        if response.status < 400:
            return _line(line["custom_id"], envelope, None), True
        inner = body.get("error") if isinstance(body, dict) else None
        error = inner if isinstance(inner, dict) else {}
        return _line(line["custom_id"], envelope, {"code": error.get("code"), "message": error.get("message")}), False


def _invalid(message: str, line: int | None = None) -> dict[str, Any]:
    return {"code": "invalid_request", "message": message, "line": line, "param": None}


def _line_problem(line: Any, seen: set[Any]) -> str | None:
    if not isinstance(line, dict):
        return "The line is not a JSON object."
    if not isinstance(line.get("custom_id"), str) or not line["custom_id"]:
        return "custom_id is missing."
    if line["custom_id"] in seen:
        return f"Duplicate custom_id {line['custom_id']!r}."
    if line.get("method") != "POST" or line.get("url") != BATCH_ENDPOINT:
        return f"method must be POST and url {BATCH_ENDPOINT}."
    if not isinstance(line.get("body"), dict):
        return "body must be a JSON object."
    return None


def _line(custom_id: str, response: dict[str, Any] | None, error: dict[str, Any] | None) -> dict[str, Any]:
    return {"id": f"batch_req_{uuid.uuid4().hex}", "custom_id": custom_id, "response": response, "error": error}


def _body_json(raw: bytes) -> Any:
    text = raw.decode()
    if text.startswith("data:"):  # an SSE-framed error body
        text = text[5:].strip()
    try:
        return json.loads(text)
    except ValueError:
        return {"error": {"code": None, "message": text}}
