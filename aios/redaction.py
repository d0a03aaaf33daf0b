"""The redaction seam: every text AIOS stores in memory passes through a `Redactor` first.

The default keeps text as it is; the guardrails layer (PII protection) plugs its redactor in here,
so memory writes from runs, tools and the API are all covered by one switch.
"""

from __future__ import annotations

from typing import Protocol


class Redactor(Protocol):
    def redact(self, text: str) -> str: ...


class KeepAsIs:
    def redact(self, text: str) -> str:
        return text
