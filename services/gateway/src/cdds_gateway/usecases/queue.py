"""Where a waiting run stands (docs/pipeline.md, "Fair share"): a run beyond its
user's or tenant's limit stays ``queued`` with its place in the tenant's queue, shown in the run
view and History. One query per tenant on the page, and none when no run of it is queued."""

from __future__ import annotations

from collections.abc import Sequence

from cdds_gateway.deps import GatewayDeps
from cdds_shared.runs.model import Run

__all__ = ["queue_positions"]


async def queue_positions(deps: GatewayDeps, runs: Sequence[Run]) -> dict[str, int]:
    """Run id → place in its tenant's queue (1 = next to start) of the queued ``runs`` that
    wait for their turn; the exporter admits them oldest first as slots free."""
    tenants = sorted({r.tenant for r in runs if r.status == "queued"})
    positions: dict[str, int] = {}
    for tenant in tenants:
        positions |= await deps.dispatch.queue_positions(tenant)
    wanted = {r.id for r in runs}
    return {run_id: place for run_id, place in positions.items() if run_id in wanted}
