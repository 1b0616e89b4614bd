"""Hidden temporary names (``.NAME.tmp-PID-XXXXXXXX``): the names outputs are written under before they are
renamed into place, and the final name the user knows them by (:func:`shown_name`)."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

__all__ = ["TEMP_NAME", "hidden_name", "shown_name"]


TEMP_NAME = re.compile(r"\.(?P<name>.+)\.tmp-(?P<pid>[0-9]+)-[0-9a-f]{8}")


def hidden_name(name: str, kind: str) -> str:
    """``.NAME.KIND-PID-XXXXXXXX``: a hidden name in the same folder, tagged with this process's id."""
    return f".{name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}"


def shown_name(path: str | Path) -> Path:
    """``path`` as the user knows it: a temporary or staging name (``.NAME.tmp-PID-XXXXXXXX``) shown as NAME."""
    parts = [m["name"] if (m := TEMP_NAME.fullmatch(part)) else part for part in Path(path).parts]
    return Path(*parts) if parts else Path(path)

