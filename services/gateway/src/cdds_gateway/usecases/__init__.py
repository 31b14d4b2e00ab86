"""The gateway's use cases: plain async functions taking ``GatewayDeps`` and the caller
(``Principal``), called by the REST routes and the web pages alike. They know nothing of HTTP:
they raise the domain errors of ``cdds_shared.errors`` (``NotFoundError`` for whatever is unknown
*or* out of the caller's scope, see ``scope``), which the edge maps to statuses
(``cdds_gateway/errors.py``)."""

from cdds_gateway.usecases.artifacts import (
    Download,
    delete_artifact,
    delete_artifacts,
    get_artifact,
    list_artifacts,
    open_download,
    open_zip,
)
from cdds_gateway.usecases.audit import query_audit
from cdds_gateway.usecases.clones import RunClone, clone_run
from cdds_gateway.usecases.jobs import (
    JobCreate,
    JobPatch,
    clone_job,
    create_job,
    delete_job,
    get_job,
    list_jobs,
    run_job,
    set_enabled,
    start_run,
    update_job,
)
from cdds_gateway.usecases.runs import delete_run, get_run, list_runs, run_manifest
from cdds_gateway.usecases.views import (
    ArtifactView,
    AuditView,
    CloneResult,
    JobView,
    Page,
    ProgressView,
    RunView,
)

__all__ = [
    "ArtifactView",
    "AuditView",
    "CloneResult",
    "Download",
    "JobCreate",
    "JobPatch",
    "JobView",
    "Page",
    "ProgressView",
    "RunClone",
    "RunView",
    "clone_job",
    "clone_run",
    "create_job",
    "delete_artifact",
    "delete_artifacts",
    "delete_job",
    "delete_run",
    "get_artifact",
    "get_job",
    "get_run",
    "list_artifacts",
    "list_jobs",
    "list_runs",
    "open_download",
    "open_zip",
    "query_audit",
    "run_job",
    "run_manifest",
    "set_enabled",
    "start_run",
    "update_job",
]
