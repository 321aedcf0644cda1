"""The embedded store's settings (Qdrant Edge), one object handed to the store:

    Gallery("~/gallery", settings=EdgeSettings(search_ef=1024))
    open_store(folder, settings=EdgeSettings(segment_points=100_000))

The defaults are the settings measured at 10k-1M points (reports/gallery_scale.json,
`make gallery-bench`). The index settings (hnsw_m, hnsw_ef_construct, full_scan_kb,
segment_points' segment size, memory) are written into each collection when it is created; a
collection keeps those it was created with. The search settings (search_ef, oversampling,
points_per_person) and when new points are indexed (segment_points) apply to the open store.
No Qdrant library is imported here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import GalleryError

Placement = Literal["pinned", "cached", "cold"]


@dataclass(frozen=True)
class EdgeSettings:
    """
    hnsw_m: links per point of each segment's HNSW graph.
    hnsw_ef_construct: candidates per insertion while building a graph.
    search_ef: candidates explored per search in each segment (recall@1 and p95 per ef:
        reports/gallery_scale.json, `ef_sweep`).
    oversampling: points taken from the int8 index per point returned, then ranked again with
        the float vectors, so scores are exact.
    points_per_person: points asked per person wanted. A second search costs a whole one (more
        with its filter), a longer first answer little (the candidates explored stay
        search_ef): with 120, a search for someone with up to a few hundred photos (LFW's most
        photographed person has 530) runs once.
    full_scan_kb: segments below this many KB of vectors are searched exactly (brute force).
    segment_points: new points are indexed as a segment of their own once this many wait;
        segments of that size are not merged again (at 1M points, two graphs of 500k searched
        in parallel find more true nearest points than one of 1M in the same time).
    memory: where the graph, the int8 vectors and the payloads are kept: "pinned" (in RAM,
        kept there when the kernel reclaims the page cache), "cached" (the page cache),
        "cold" (read from disk). The float vectors stay on disk.
    """

    hnsw_m: int = 24
    hnsw_ef_construct: int = 128
    search_ef: int = 1536
    oversampling: float = 2.0
    points_per_person: int = 120
    full_scan_kb: int = 10_000
    segment_points: int = 500_000
    memory: Placement = "pinned"

    def __post_init__(self) -> None:
        counts = {"hnsw_m": self.hnsw_m, "hnsw_ef_construct": self.hnsw_ef_construct, "search_ef": self.search_ef,
                  "points_per_person": self.points_per_person, "full_scan_kb": self.full_scan_kb,
                  "segment_points": self.segment_points}
        low = [name for name, value in counts.items() if value < 1]
        if low:
            raise GalleryError(f"{', '.join(low)} must be >= 1", code="bad_setting")
        if self.oversampling < 1.0:
            raise GalleryError("oversampling must be >= 1", code="bad_setting")
        if self.memory not in ("pinned", "cached", "cold"):
            raise GalleryError(f"memory is pinned, cached or cold, not {self.memory!r}", code="bad_setting")
