"""What the command tests check the same way: the bytes of a folder's files, and one error line."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_sums(folder: Path) -> dict[str, str]:
    """{name: sha256} of the files in ``folder``: equal before and after means nothing was touched."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def one_line(capsys) -> str:
    """stderr, checked to be exactly one ``tunewiz: error: ...`` line and no traceback."""
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("tunewiz: error: ") and "Traceback" not in err, err
    return err
