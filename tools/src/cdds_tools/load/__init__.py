"""``make load``: a bounded HTTP load on the gateway's listings.

docs/operations.md § Lists and make load: the figures and how to read them.

- ``seed``: a dedicated tenant and exporter with runs and their files to list, written through
  the stores as a fixture would (no real export);
- ``drive``: concurrent clients looping over list runs, list artifacts and get run until a
  deadline;
- ``report``: status counts and p50/p99 per route, requests/s;
- ``run``: the command (``python -m cdds_tools.load.run``).
"""

from cdds_tools.load.drive import ROUTES, drive
from cdds_tools.load.report import Report, RouteStats
from cdds_tools.load.seed import LoadAccount, seed_account

__all__ = ["ROUTES", "LoadAccount", "Report", "RouteStats", "drive", "seed_account"]
