"""The progress the commands draw: ``bar``, the one-line text progress bar (``convert-imageset``,
``classify``), redrawn with ``\\r`` on a terminal."""
from __future__ import annotations

def bar(done: int, total: int, rate: float, skipped: int = 0, width: int = 30) -> str:
    """``\\r[#####.....] done/total  pct%  rate img/s`` (and ``skipped N`` when some were)."""
    filled = int(width * done / max(total, 1))
    return (f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {100 * done // max(total, 1):3d}% "
            f"{rate:6.0f} img/s" + (f"  skipped {skipped}" if skipped else ""))
