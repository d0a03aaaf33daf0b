"""What the wire models share: the rule for ids and filter values a client may send."""

from __future__ import annotations

import re

# Printable text without control characters: ids and filter values end up in visibility queries.
SAFE_VALUE = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
