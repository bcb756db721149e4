"""Resolution: restore plans (pure), the page-resolution index and the page cache."""

from ltx.resolve.cache import PageCache
from ltx.resolve.index import PageLocation, PageMap, build_page_map
from ltx.resolve.plan import Plan, RestorePoint, plan_restore, restorable_points

__all__ = [
    "PageCache",
    "PageLocation",
    "PageMap",
    "Plan",
    "RestorePoint",
    "build_page_map",
    "plan_restore",
    "restorable_points",
]
