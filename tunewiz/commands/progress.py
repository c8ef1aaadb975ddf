"""The progress the commands draw: ``bar``, the one-line text progress bar (``convert-imageset``,
``classify``), and ``byte_bar``, the same bar counting bytes (``download-model``); redrawn with ``\\r``
on a terminal."""
from __future__ import annotations

_UNITS = ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "B"))


def _fill(done: int, total: int, width: int) -> str:
    filled = min(width, int(width * done / max(total, 1)))
    return f"[{'#' * filled}{'.' * (width - filled)}]"


def bar(done: int, total: int, rate: float, skipped: int = 0, width: int = 30) -> str:
    """``\\r[#####.....] done/total  pct%  rate img/s`` (and ``skipped N`` when some were)."""
    return (f"\r{_fill(done, total, width)} {done}/{total} {100 * done // max(total, 1):3d}% "
            f"{rate:6.0f} img/s" + (f"  skipped {skipped}" if skipped else ""))


def byte_bar(done: int, total: int | None, rate: float, width: int = 30) -> str:
    """``\\r[#####.....] 12.3/53.5 MiB  23%   4.1 MiB/s`` (without a total, as the server sent no length:
    ``\\r12.3 MiB   4.1 MiB/s``)."""
    speed = f"{_amount(rate)}/s"
    if not total:
        return f"\r{_amount(done)} {speed:>12}"
    scale, unit = _unit(total)
    digits = 0 if scale == 1 else 1
    return (f"\r{_fill(done, total, width)} {done / scale:.{digits}f}/{total / scale:.{digits}f} {unit} "
            f"{100 * done // total:3d}% {speed:>12}")


def _unit(size: float) -> tuple[int, str]:
    return next((scale, unit) for scale, unit in _UNITS if size >= scale or scale == 1)


def _amount(size: float) -> str:
    scale, unit = _unit(size)
    return f"{size / scale:.{0 if scale == 1 else 1}f} {unit}"
