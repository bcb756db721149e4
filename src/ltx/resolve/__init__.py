"""Resolution: restore plans (pure), page maps, the page cache and the page reader."""

from ltx.resolve.cache import PageCache
from ltx.resolve.index import PageLocation, PageMap, build_page_map, check_header
from ltx.resolve.plan import Plan, RestorePoint, plan_restore, restorable_points
from ltx.resolve.reader import PageReader
from ltx.resolve.targets import Targets

__all__ = [
    "PageCache",
    "PageLocation",
    "PageMap",
    "PageReader",
    "Plan",
    "RestorePoint",
    "Targets",
    "build_page_map",
    "check_header",
    "plan_restore",
    "restorable_points",
]
