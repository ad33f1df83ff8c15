"""The HTTP API (docs/API.md): routes, response models and error handling.

Every refusal is a 4xx with ``{"error": message}``. Routes check everything they are
given before using it; the catch-all handler exists for bugs, and logs them.
"""

from __future__ import annotations

import ipaddress
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Annotated, Literal, Protocol

import numpy as np
from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from backend import __version__
from backend.errors import BackendError
from backend.methods.clip.edit import edit_name
from backend.server.applystyle import FORMATS, ApplyRequest, StyleApplyService
from backend.server.config import Limits, ServerConfig
from backend.server.jobfiles import JOB_ID, JobFiles
from backend.server.middleware import BodyLimit, TokenAuth
from backend.server.store import FINISHED, JobRecord, JobStore
from backend.server.submit import JobForm, UploadedFile, create_job
from backend.server.supervisor import WorkerSupervisor
from backend.server.uploads import UploadError, load_style_upload, style_name
from backend.style.builtin import BUILTIN_STYLES
from backend.style.clip_loss import check_prompt

log = logging.getLogger("backend.server")

MEDIA_TYPES = {
    ".glb": "model/gltf-binary",
    ".png": "image/png",
    ".json": "application/json",
}


class ErrorBody(BaseModel):
    error: str


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str = __version__


class JobView(BaseModel):
    """A job as clients see it (docs/API.md, "A job")."""

    id: str
    name: str
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    stage: str
    progress: float
    message: str
    eta_seconds: float | None
    created: str
    updated: str
    metrics: dict[str, object]
    artifacts: list[str]
    styles: list[str]
    has_colornet: bool
    error: str | None


class JobList(BaseModel):
    jobs: list[JobView]


ERRORS = {code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422)}


@dataclass
class Service:
    """What the routes share: settings, the job table, the worker and the colour nets."""

    config: ServerConfig
    store: JobStore
    executor: Executor
    applier: StyleApplyService

    def files(self, job_id: str) -> JobFiles:
        return JobFiles(self.config.jobs_dir / job_id)

    def job(self, job_id: str) -> JobRecord:
        job = self.store.get(job_id) if JOB_ID.match(job_id) else None
        if job is None:
            raise UploadError(f"no job with id {job_id[:80]!r}", 404)
        return job

    def view(self, job: JobRecord) -> JobView:
        files = self.files(job.id)
        return JobView(
            id=job.id,
            name=job.name,
            state=job.state,
            stage=job.stage,
            progress=job.progress,
            message=job.message,
            eta_seconds=job.eta_seconds,
            created=job.created,
            updated=job.updated,
            metrics=files.metrics(job.styles),
            artifacts=files.artifacts(),
            styles=job.styles,
            has_colornet=files.has_colornet(),
            error=job.error,
        )


class Executor(Protocol):
    """Runs the queued jobs: the local worker supervisor, or the Ray executor."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


def make_executor(config: ServerConfig, store: JobStore) -> Executor:
    if config.executor == "local":
        return WorkerSupervisor(config, store)
    try:
        from backend.server.ray_executor import RayExecutor
    except ImportError as exc:
        raise BackendError(
            f"--executor ray needs Ray ({exc}): pip install -e '.[ray]', on every node too"
        ) from exc
    return RayExecutor(config, store)


def create_app(config: ServerConfig, token: str) -> FastAPI:
    config.jobs_dir.mkdir(parents=True, exist_ok=True)
    store = JobStore(config.db_path)
    applier = StyleApplyService(config.offline, config.clip_weights)
    service = Service(config, store, make_executor(config, store), applier)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.executor.start()
        yield
        service.executor.stop()

    app = FastAPI(
        title="Stylized heads backend",
        version=__version__,
        description="Local service: capture -> stylized 3D head. Contract: docs/API.md.",
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    _add_routes(app, service)
    app.add_middleware(BodyLimit, max_bytes=config.limits.max_upload_bytes)
    app.add_middleware(TokenAuth, token=token)
    return app


def _add_routes(app: FastAPI, service: Service) -> None:
    @app.get("/health", response_model=Health)
    def health() -> Health:
        return Health()

    @app.post("/jobs", status_code=201, response_model=JobView, responses=ERRORS)
    def post_job(
        request: Request,
        capture: Annotated[UploadFile | None, File(description="capture zip")] = None,
        capture_path: Annotated[str | None, Form(description="local folder")] = None,
        style: Annotated[list[UploadFile] | None, File(description="style images")] = None,
        style_path: Annotated[list[str] | None, Form(description="local images")] = None,
        builtin_style: Annotated[list[str] | None, Form(description="built-in names")] = None,
        options: Annotated[str | None, Form(description="JSON object")] = None,
    ) -> JobView:
        form = JobForm(
            capture=None if capture is None else UploadedFile(capture.filename, capture.file),
            capture_path=capture_path,
            styles=[UploadedFile(s.filename, s.file) for s in style or []],
            style_paths=style_path or [],
            builtin_styles=builtin_style or [],
            options=options,
            client_is_local=_is_loopback(request),
        )
        return service.view(create_job(form, service.config, service.store))

    @app.get("/jobs", response_model=JobList, responses=ERRORS)
    def list_jobs() -> JobList:
        return JobList(jobs=[service.view(job) for job in service.store.list()])

    @app.get("/jobs/{job_id}", response_model=JobView, responses=ERRORS)
    def get_job(job_id: str) -> JobView:
        return service.view(service.job(job_id))

    @app.post("/jobs/{job_id}/cancel", response_model=JobView, responses=ERRORS)
    def cancel_job(job_id: str) -> JobView:
        job = service.job(job_id)
        if job.state in FINISHED and job.state != "cancelled":
            raise UploadError(f"job {job_id} is already {job.state}", 409)
        return service.view(service.store.request_cancel(job_id))

    @app.get("/jobs/{job_id}/artifacts/{name:path}", responses=ERRORS)
    def get_artifact(job_id: str, name: str) -> FileResponse:
        files = service.files(service.job(job_id).id)
        if name not in files.artifacts():
            raise UploadError(f"job {job_id} has no artifact {name[:200]!r}", 404)
        path = files.out / name
        media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        return FileResponse(path, media_type=media_type, filename=path.name)

    @app.post("/jobs/{job_id}/apply-style", responses=ERRORS)
    def apply_style(
        job_id: str,
        style: Annotated[UploadFile | None, File(description="style image")] = None,
        builtin_style: Annotated[str | None, Form()] = None,
        prompt: Annotated[str | None, Form(description="text instead of a style")] = None,
        mix: Annotated[UploadFile | None, File(description="second style image")] = None,
        mix_builtin: Annotated[str | None, Form()] = None,
        t: Annotated[str | None, Form(description="0..1, default 0")] = None,
        strength: Annotated[str | None, Form(description="0..1, default 1")] = None,
        format: Annotated[str | None, Form(description="glb (default) or png")] = None,
    ) -> Response:
        job = service.job(job_id)
        files = service.files(job.id)
        if job.state != "done" or not files.has_colornet():
            raise UploadError(
                f"job {job_id} has no colour net ({job.state}); apply-style needs a finished "
                'job created with options {"colornet": true}',
                409,
            )
        limits = service.config.limits
        name, image, text = _first_style(style, builtin_style, prompt, limits)
        mixed = None
        if mix is not None or mix_builtin is not None:
            mixed = _style_input(mix, mix_builtin, "mix", "mix_builtin", limits)[1]
        output = format or "glb"
        if output not in FORMATS:
            raise UploadError(f"format must be glb or png, got {output[:40]!r}")
        request = ApplyRequest(
            name, image, mixed, _unit("t", t, 0.0), _unit("strength", strength, 1.0), output, text
        )
        applied = service.applier.apply(job.id, files.out, request)
        disposition = f'attachment; filename="{applied.filename}"'
        return Response(
            applied.content,
            media_type=applied.media_type,
            headers={"Content-Disposition": disposition},
        )


def _style_input(
    upload: UploadFile | None, builtin: str | None, field: str, builtin_field: str, limits: Limits
) -> tuple[str, np.ndarray]:
    """(name, image) from exactly one of an uploaded image and a built-in style name."""
    if (upload is None) == (builtin is None):
        raise UploadError(f"send exactly one of '{field}' (an image file) and '{builtin_field}'")
    if builtin is not None:
        if builtin not in BUILTIN_STYLES:
            raise UploadError(
                f"{builtin_field}: unknown style {builtin[:40]!r} "
                f"(choose from {', '.join(BUILTIN_STYLES)})"
            )
        return builtin, BUILTIN_STYLES[builtin]()
    name = style_name(upload.filename, field)
    return name, load_style_upload(upload.file, repr(upload.filename or field), limits)


def _first_style(
    upload: UploadFile | None, builtin: str | None, prompt: str | None, limits: Limits
) -> tuple[str, np.ndarray | None, str | None]:
    """(name, image, prompt) from exactly one of a style image, a built-in style and a
    prompt (checked as the pipeline checks it)."""
    if prompt is None and (upload is None) == (builtin is None):
        raise UploadError(
            "send exactly one of 'style' (an image file), 'builtin_style' and 'prompt'"
        )
    if prompt is None:
        return (*_style_input(upload, builtin, "style", "builtin_style", limits), None)
    if upload is not None or builtin is not None:
        raise UploadError("send a 'prompt' or a style ('style', 'builtin_style'), not both")
    try:
        text = check_prompt(prompt)
    except BackendError as exc:
        raise UploadError(f"prompt: {exc}") from exc
    return edit_name(text, None), None, text


def _unit(field: str, text: str | None, default: float) -> float:
    """A number in 0..1 from a form field."""
    if text is None or not text.strip():
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:
        raise UploadError(f"{field} must be a number from 0 to 1, got {text[:40]!r}")
    return value


def _is_loopback(request: Request) -> bool:
    if request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BackendError)
    async def backend_error(_: Request, exc: BackendError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=getattr(exc, "status", 422))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = f"{message}: {request.method} {request.url.path[:200]}"
        return JSONResponse({"error": message}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'request'}: "
            f"{e.get('msg', 'invalid')}"
            for e in exc.errors()[:3]
        ]
        return JSONResponse({"error": "; ".join(problems) or "invalid request"}, 422)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
        message = f"internal error ({type(exc).__name__}); see the server log"
        return JSONResponse({"error": message}, 500)
