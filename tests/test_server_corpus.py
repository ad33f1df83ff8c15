"""A corpus of malformed requests: every one gets a 4xx with a message, none a 5xx.

Bodies, multipart forms, options JSON, zips (escaping paths, links, non-images, broken
captures), images, headers and paths. The server runs with small limits so that the
limits themselves are part of the corpus.
"""

from __future__ import annotations

import http.client
import io
import json
import shutil
import stat
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.server_helpers import Part, Server, png_bytes, style_png, zip_folder

LIMITS = ["--max-upload-mb", "2", "--max-images", "40", "--max-image-side", "1024"]


@dataclass(frozen=True)
class Bad:
    """One malformed request."""

    method: str = "POST"
    path: str = "/jobs"
    parts: list[Part] | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    token: str | bool | None = True


@dataclass(frozen=True)
class Context:
    capture: Path
    zipped: bytes
    scratch: Path


def _zip(entries: list[tuple[str, bytes]], link: str | None = None, encrypted: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # duplicate names, on purpose
        for name, data in entries:
            info = zipfile.ZipInfo(name)
            if name == link:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, data)
    return _flag_encrypted(out.getvalue(), encrypted) if encrypted else out.getvalue()


def _flag_encrypted(data: bytes, name: str) -> bytes:
    """Set the 'encrypted' bit of ``name`` in the central directory (zipfile cannot)."""
    out = bytearray(data)
    at = out.find(b"PK\x01\x02")
    while at >= 0:
        length = int.from_bytes(out[at + 28 : at + 30], "little")
        if out[at + 46 : at + 46 + length] == name.encode():
            out[at + 8] |= 0x1
        at = out.find(b"PK\x01\x02", at + 4)
    return bytes(out)


def _capture_entries(ctx: Context) -> list[tuple[str, bytes]]:
    return [
        (p.relative_to(ctx.capture).as_posix(), p.read_bytes())
        for p in sorted(ctx.capture.rglob("*"))
        if p.is_file()
    ]


def _with_capture(ctx: Context, extra: list[tuple[str, bytes]], **kwargs) -> bytes:
    return _zip(_capture_entries(ctx) + extra, **kwargs)


def _edited_capture(ctx: Context, edit: Callable[[dict], None], name="transforms_train.json"):
    """The capture zipped with one change to a transforms file."""
    entries = []
    for path, data in _capture_entries(ctx):
        if path == name:
            content = json.loads(data)
            edit(content)
            data = json.dumps(content).encode()
        entries.append((path, data))
    return _zip(entries)


def _job(capture: bytes | None = None, *extra: Part, styles: bool = True) -> Bad:
    parts = [] if capture is None else [Part("capture", capture, "capture.zip")]
    if styles:
        parts.append(Part("builtin_style", "ink"))
    return Bad(parts=[*parts, *extra])


def _options(ctx: Context, text: str) -> Bad:
    return _job(ctx.zipped, Part("options", text))


def _cases() -> dict[str, Callable[[Context], Bad]]:
    big = np.zeros((8, 1100, 3), np.uint8)
    junk = b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20
    return {
        # bodies and forms
        "no body": lambda ctx: Bad(),
        "json body": lambda ctx: Bad(body=b'{"capture": "x"}', headers=_json()),
        "json body malformed": lambda ctx: Bad(body=b'{"capture": ', headers=_json()),
        "text body": lambda ctx: Bad(body=b"hello", headers={"Content-Type": "text/plain"}),
        "urlencoded": lambda ctx: Bad(body=b"capture_path=%00", headers=_form()),
        "multipart without boundary": lambda ctx: Bad(body=b"--x\r\n", headers=_multi("")),
        "multipart wrong boundary": lambda ctx: Bad(body=_multipart_text(), headers=_multi("b")),
        "multipart truncated": lambda ctx: Bad(body=_multipart_text()[:-20], headers=_multi("a")),
        "multipart garbage": lambda ctx: Bad(body=b"\x00\xff" * 500, headers=_multi("a")),
        "no capture": lambda ctx: _job(None),
        "capture and capture_path": lambda ctx: _job(
            ctx.zipped, Part("capture_path", str(ctx.capture))
        ),
        "no style": lambda ctx: _job(ctx.zipped, styles=False),
        "capture as text": lambda ctx: Bad(parts=[Part("capture", "abc"), _ink()]),
        "style as text": lambda ctx: _job(ctx.zipped, Part("style", "abc")),
        "too many styles": lambda ctx: _job(ctx.zipped, *[_ink()] * 17),
        "unknown builtin style": lambda ctx: _job(ctx.zipped, Part("builtin_style", "../x")),
        "upload over the limit": lambda ctx: _job(bytes(3 * 1024 * 1024)),
        # options
        "options not json": lambda ctx: _options(ctx, "{steps: 1}"),
        "options a list": lambda ctx: _options(ctx, "[1, 2]"),
        "options unknown key": lambda ctx: _options(ctx, '{"stepz": 5}'),
        "options steps string": lambda ctx: _options(ctx, '{"steps": "5"}'),
        "options steps zero": lambda ctx: _options(ctx, '{"steps": 0}'),
        "options steps bool": lambda ctx: _options(ctx, '{"steps": true}'),
        "options steps NaN": lambda ctx: _options(ctx, '{"steps": NaN}'),
        "options steps float": lambda ctx: _options(ctx, '{"style_steps": 1e999}'),
        "options huge integer": lambda ctx: _options(ctx, '{"steps": ' + "9" * 5000 + "}"),
        "options deep nesting": lambda ctx: _options(ctx, "[" * 200_000),
        "options bad preset": lambda ctx: _options(ctx, '{"preset": "slow"}'),
        "options bad device": lambda ctx: _options(ctx, '{"device": "tpu"}'),
        "options bad features": lambda ctx: _options(ctx, '{"features": "resnet"}'),
        "options bad weights": lambda ctx: _options(ctx, '{"weights": "randm"}'),
        "options bad material": lambda ctx: _options(ctx, '{"material": "matte"}'),
        "options bad texture size": lambda ctx: _options(ctx, '{"texture_size": 512}'),
        "options texture size as text": lambda ctx: _options(ctx, '{"texture_size": "1024"}'),
        "options huge face budget": lambda ctx: _options(ctx, '{"face_budget": 10000000}'),
        "options max_side tiny": lambda ctx: _options(ctx, '{"max_side": 4}'),
        "options max_side over limit": lambda ctx: _options(ctx, '{"max_side": 5000}'),
        "options empty name": lambda ctx: _options(ctx, '{"name": ""}'),
        "options control chars in name": lambda ctx: _options(ctx, '{"name": "a\\u0000b"}'),
        "options colornet string": lambda ctx: _options(ctx, '{"colornet": "yes"}'),
        "options bad stop_after": lambda ctx: _options(ctx, '{"stop_after": "everything"}'),
        "options empty prompt": lambda ctx: _options(ctx, '{"prompt": " \\n "}'),
        "options prompt not text": lambda ctx: _options(ctx, '{"prompt": ["a painting"]}'),
        "options prompt too long": lambda ctx: _options(ctx, '{"prompt": "' + "a" * 400 + '"}'),
        # local paths
        "capture_path relative": lambda ctx: Bad(parts=[Part("capture_path", "capture"), _ink()]),
        "capture_path missing": lambda ctx: Bad(parts=[Part("capture_path", "/nope/x"), _ink()]),
        "capture_path a file": lambda ctx: Bad(
            parts=[Part("capture_path", str(ctx.capture / "transforms_train.json")), _ink()]
        ),
        "capture_path not a capture": lambda ctx: Bad(
            parts=[Part("capture_path", str(ctx.scratch)), _ink()]
        ),
        "capture_path with NUL": lambda ctx: Bad(parts=[Part("capture_path", "/tmp\x00x"), _ink()]),
        "style_path relative": lambda ctx: _job(ctx.zipped, Part("style_path", "ink.png")),
        "style_path missing": lambda ctx: _job(ctx.zipped, Part("style_path", "/nope/ink.png")),
        "style_path not an image": lambda ctx: _job(
            ctx.zipped, Part("style_path", str(ctx.capture / "transforms_train.json"))
        ),
        # zips
        "capture not a zip": lambda ctx: _job(b"PK\x03\x04 this is not a zip"),
        "capture empty file": lambda ctx: _job(b""),
        "capture truncated zip": lambda ctx: _job(ctx.zipped[: len(ctx.zipped) // 2]),
        "zip entry with ..": lambda ctx: _job(_with_capture(ctx, [("../evil.png", junk)])),
        "zip entry nested ..": lambda ctx: _job(_with_capture(ctx, [("a/../../evil.json", b"")])),
        "zip entry absolute": lambda ctx: _job(_with_capture(ctx, [("/etc/evil.json", b"{}")])),
        "zip entry backslash": lambda ctx: _job(_with_capture(ctx, [("..\\evil.json", b"{}")])),
        "zip entry drive letter": lambda ctx: _job(_with_capture(ctx, [("C:/evil.json", b"")])),
        "zip symlink": lambda ctx: _job(
            _with_capture(ctx, [("link.png", b"/etc/passwd")], link="link.png")
        ),
        "zip encrypted entry": lambda ctx: _job(
            _with_capture(ctx, [("x.json", b"{}")], encrypted="x.json")
        ),
        "zip with an executable": lambda ctx: _job(_with_capture(ctx, [("run.sh", b"rm -rf")])),
        "zip with a duplicate entry": lambda ctx: _job(
            _with_capture(ctx, [("transforms_train.json", b"{}")])
        ),
        "zip without transforms": lambda ctx: _job(_zip([("train/r_0.png", style_png())])),
        "zip with two top folders": lambda ctx: _job(
            _zip([(f"{t}/{n}", d) for t in "ab" for n, d in _capture_entries(ctx) if ".json" in n])
        ),
        "zip of an empty folder": lambda ctx: _job(_zip([])),
        "transforms not json": lambda ctx: _job(
            _zip([("transforms.json", b"{nope"), ("a.png", style_png())])
        ),
        "transforms frames not a list": lambda ctx: _job(
            _edited_capture(ctx, lambda t: t.update(frames={"a": 1}))
        ),
        "transforms no focal length": lambda ctx: _job(
            _edited_capture(ctx, lambda t: t.pop("camera_angle_x"))
        ),
        "transforms NaN pose": lambda ctx: _job(
            _edited_capture(
                ctx, lambda t: t["frames"][0].update(transform_matrix=[[float("nan")] * 4] * 4)
            )
        ),
        "transforms path escapes": lambda ctx: _job(
            _edited_capture(ctx, lambda t: t["frames"][0].update(file_path="../../etc/passwd"))
        ),
        "image missing": lambda ctx: _job(
            _zip([e for e in _capture_entries(ctx) if e[0] != "train/r_0.png"])
        ),
        "image corrupt": lambda ctx: _job(_replaced(ctx, "train/r_1.png", junk)),
        "image is text": lambda ctx: _job(_replaced(ctx, "train/r_1.png", b"hello")),
        "image too large": lambda ctx: _job(_replaced(ctx, "train/r_1.png", png_bytes(big))),
        "too many images": lambda ctx: _job(
            _with_capture(ctx, [(f"extra/{i}.png", png_bytes(big[:, :8])) for i in range(30)])
        ),
        # style images
        "style not an image": lambda ctx: _job(ctx.zipped, Part("style", b"hello", "s.png")),
        "style empty": lambda ctx: _job(ctx.zipped, Part("style", b"", "s.png")),
        "style too small": lambda ctx: _job(ctx.zipped, Part("style", style_png(size=8), "s.png")),
        "style too large": lambda ctx: _job(ctx.zipped, Part("style", png_bytes(big), "s.png")),
        "style truncated": lambda ctx: _job(ctx.zipped, Part("style", style_png()[:200], "s.png")),
        # paths and methods
        "unknown path": lambda ctx: Bad("GET", "/nothing/here"),
        "job id not hex": lambda ctx: Bad("GET", "/jobs/zzzz"),
        "job id unknown": lambda ctx: Bad("GET", "/jobs/" + "a" * 32),
        "job id traversal": lambda ctx: Bad("GET", "/jobs/../../etc/passwd"),
        "job id percent NUL": lambda ctx: Bad("GET", "/jobs/%00"),
        "job id percent non-UTF-8": lambda ctx: Bad("GET", "/jobs/%ff%fe"),
        "artifact of unknown job": lambda ctx: Bad("GET", "/jobs/" + "b" * 32 + "/artifacts/x"),
        "cancel unknown job": lambda ctx: Bad("POST", "/jobs/" + "c" * 32 + "/cancel"),
        "apply-style unknown job": lambda ctx: Bad("POST", "/jobs/" + "d" * 32 + "/apply-style"),
        "DELETE /jobs": lambda ctx: Bad("DELETE", "/jobs"),
        "PUT a job": lambda ctx: Bad("PUT", "/jobs/" + "a" * 32),
        "POST /health": lambda ctx: Bad("POST", "/health"),
        # headers
        "no token": lambda ctx: Bad("GET", "/jobs", token=None),
        "wrong token": lambda ctx: Bad("GET", "/jobs", token="not-the-token"),
        "basic auth": lambda ctx: Bad(
            "GET", "/jobs", token=None, headers={"Authorization": "Basic x"}
        ),
        "bearer without token": lambda ctx: Bad(
            "GET", "/jobs", token=None, headers={"Authorization": "Bearer"}
        ),
        "non-ASCII token": lambda ctx: Bad("GET", "/jobs", token="t\u00e9st\u00ff"),
        "content-length not a number": lambda ctx: Bad(headers={"Content-Length": "abc"}),
        "content-length huge": lambda ctx: Bad(headers={"Content-Length": str(10**15)}),
    }


def _json() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def _form() -> dict[str, str]:
    return {"Content-Type": "application/x-www-form-urlencoded"}


def _multi(boundary: str) -> dict[str, str]:
    return {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def _multipart_text() -> bytes:
    return (
        b'--a\r\nContent-Disposition: form-data; name="capture_path"\r\n\r\n/tmp\r\n'
        b'--a\r\nContent-Disposition: form-data; name="builtin_style"\r\n\r\nink\r\n--a--\r\n'
    )


def _ink() -> Part:
    return Part("builtin_style", "ink")


def _replaced(ctx: Context, name: str, data: bytes) -> bytes:
    return _zip([(n, data if n == name else d) for n, d in _capture_entries(ctx)])


CASES = _cases()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    running = Server(tmp_path_factory.mktemp("corpus")).start(*LIMITS)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def context(tiny_capture_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Context:
    scratch = tmp_path_factory.mktemp("scratch")
    shutil.copy(tiny_capture_dir / "train" / "r_0.png", scratch / "stray.png")
    return Context(tiny_capture_dir, zip_folder(tiny_capture_dir), scratch)


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 50


@pytest.mark.parametrize("name", list(CASES))
def test_malformed_request_gets_a_4xx_with_a_message(server: Server, context: Context, name):
    bad = CASES[name](context)
    reply = server.request(
        bad.method, bad.path, token=bad.token, body=bad.body, headers=bad.headers, parts=bad.parts
    )
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    if reply.headers.get("content-type") == "application/json":
        message = reply.json()["error"]
    else:  # refused by the HTTP parser itself, before the application saw it
        message = reply.body.decode()
    assert isinstance(message, str) and len(message) > 5, reply.body


def test_raw_garbage_on_the_socket_gets_a_4xx(server: Server):
    for raw in [b"GARBAGE\r\n\r\n", b"GET /jobs HTTP/9.9\r\n\r\n", b"\x16\x03\x01\x00\xa5\x01"]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        connection.connect()
        connection.sock.sendall(raw)
        answer = connection.sock.recv(4096)
        connection.close()
        assert answer == b"" or answer.split(b" ")[1].startswith(b"4"), answer


def test_after_the_corpus_the_server_is_healthy_and_no_job_exists(server: Server):
    assert server.process.poll() is None
    assert server.request("GET", "/health", token=None).status == 200
    assert server.request("GET", "/jobs").json() == {"jobs": []}
    log = server.log()
    assert "Traceback" not in log and '" 500' not in log and "internal error" not in log
    assert not [p for p in (server.data_dir / "jobs").iterdir()], "staging folders left"
