"""Guardrails as pure functions: personal data and secrets, injected instructions, a content
policy. Pure so that activities (scanning what they fetch), the workflow (scanning the goal and
the answer, deterministically) and the API (refusing a goal at the door) share one rule book.

Each finding names the rule that fired; the workflow records every decision as a `guardrail`
event.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel

FindingKind = Literal["pii", "secret", "injection", "policy"]
EXCERPT_CHARS = 80


class Finding(BaseModel):
    rule: str
    kind: FindingKind
    excerpt: str = ""  # what matched, shortened (personal data and secrets are masked)
    # What was done: `flagged` (recorded; untrusted content also needs approval before it can
    # lead to a side effect), `redacted` (replaced in the text), `refused` (the request stops).
    decision: Literal["flagged", "redacted", "refused"] = "flagged"
    source: str = ""  # where it was found (a step, a tool, the goal)


@dataclass
class Taint:
    """Untrusted content behind a value: the steps (or tools) it came from, and findings. The
    agent-run workflow keeps one per step; a side effect whose inputs are tainted needs a
    person's approval."""

    sources: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def tainted(self) -> bool:
        return bool(self.sources)

    def add(self, other: Taint) -> None:
        self.sources += [s for s in other.sources if s not in self.sources]
        self.findings += [f for f in other.findings if f not in self.findings]


@dataclass(frozen=True)
class _Rule:
    name: str
    kind: FindingKind
    pattern: re.Pattern[str]
    check: str | None = None  # an extra validation: "luhn", "iban"


# --- personal data and secrets ------------------------------------------------------------------

_PII_RULES = [
    # Cards and IBANs first: their digits would otherwise read as phone numbers.
    _Rule("payment_card", "pii", re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), check="luhn"),
    _Rule(
        "iban",
        "pii",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b"),
        check="iban",
    ),
    _Rule("email_address", "pii", re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")),
    _Rule(
        "phone_number",
        "pii",
        re.compile(r"(?<![\w+])\+?\d{1,3}?[ .-]?\(?\d{2,4}\)?(?:[ .-]?\d{2,4}){2,4}(?!\w)"),
    ),
]
_SECRET_RULES = [
    _Rule("openai_key", "secret", re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}")),
    _Rule("anthropic_key", "secret", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    _Rule("aws_access_key", "secret", re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")),
    _Rule("github_token", "secret", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b")),
    _Rule("slack_token", "secret", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    _Rule("aios_key", "secret", re.compile(r"\baios_(?:dev|live)_[A-Za-z0-9_-]{16,}")),
    _Rule("bearer_token", "secret", re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{20,}")),
    _Rule(
        "private_key",
        "secret",
        re.compile(r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----[\s\S]+?-----END"),
    ),
]


def _luhn(digits: str) -> bool:
    numbers = [int(d) for d in digits if d.isdigit()]
    if not 13 <= len(numbers) <= 19:
        return False
    total = 0
    for i, n in enumerate(reversed(numbers)):
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _iban(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(c, 36)) for c in rearranged)
    return int(number) % 97 == 1


def _valid(rule: _Rule, text: str) -> bool:
    if rule.check == "luhn":
        return _luhn(text)
    if rule.check == "iban":
        return _iban(text)
    if rule.name == "phone_number":  # E.164: at most 15 digits; fewer than 9 is a number
        return 9 <= sum(c.isdigit() for c in text) <= 15
    return True


def _mask(text: str) -> str:
    return text[:2] + "…" + text[-2:] if len(text) > 6 else "…"


def _matches(rules: Iterable[_Rule], text: str) -> list[tuple[_Rule, re.Match[str]]]:
    found: list[tuple[_Rule, re.Match[str]]] = []
    taken: list[tuple[int, int]] = []
    for rule in rules:
        for match in rule.pattern.finditer(text):
            span = match.span()
            if any(a < span[1] and span[0] < b for a, b in taken) or not _valid(
                rule, match.group(0)
            ):
                continue
            taken.append(span)
            found.append((rule, match))
    return found


def find_sensitive(text: str, *, pii: bool = True, secrets: bool = True) -> list[Finding]:
    rules = [*(_SECRET_RULES if secrets else []), *(_PII_RULES if pii else [])]
    return [
        Finding(rule=rule.name, kind=rule.kind, excerpt=_mask(match.group(0)))
        for rule, match in _matches(rules, text)
    ]


def redact(text: str, *, pii: bool = True, secrets: bool = True) -> tuple[str, list[Finding]]:
    """`text` with personal data and secrets replaced by `[REDACTED:<rule>]`, and what was."""
    rules = [*(_SECRET_RULES if secrets else []), *(_PII_RULES if pii else [])]
    found = sorted(_matches(rules, text), key=lambda pair: pair[1].start())
    out: list[str] = []
    last = 0
    for rule, match in found:
        out += [text[last : match.start()], f"[REDACTED:{rule.name}]"]
        last = match.end()
    out.append(text[last:])
    findings = [Finding(rule=r.name, kind=r.kind, excerpt=_mask(m.group(0))) for r, m in found]
    return "".join(out), findings


class PiiRedactor:
    """The memory layer's redaction seam (`aios.redaction.Redactor`), filled by these rules."""

    def redact(self, text: str) -> str:
        return redact(text)[0]


# --- injected instructions ----------------------------------------------------------------------

_I = re.IGNORECASE | re.DOTALL
_INJECTION_RULES = [
    _Rule(
        "override_instructions",
        "injection",
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|skip)\b.{0,40}\b(?:previous|prior|above|earlier"
            r"|all|any|your|the|system|original)\b.{0,30}\b(?:instructions?|prompts?|rules|directions|safety"
            r"|guidelines|context|messages?|polic(?:y|ies))",
            _I,
        ),
    ),
    _Rule(
        "new_instructions",
        "injection",
        re.compile(
            r"\b(?:new|updated|real|actual|revised|secret|hidden)\s+(?:system\s+)?(?:instructions?|orders"
            r"|directives?|task)\s*(?::|are|is|follow)",
            _I,
        ),
    ),
    _Rule(
        "role_hijack",
        "injection",
        re.compile(
            r"\b(?:you\s+are\s+now|from\s+now\s+on,?\s+you|act\s+as\s+(?:an?\s+)?(?:unrestricted|"
            r"jailbroken|evil|developer|admin|root)|enter\s+(?:developer|god|dan|admin)\s+mode|\bDAN\b"
            r"|pretend\s+(?:to\s+be|you\s+are))",
            _I,
        ),
    ),
    _Rule(
        "fake_system_message",
        "injection",
        re.compile(
            r"(?:^|\n)\s*(?:#+\s*)?(?:system|assistant|developer)\s*(?:message|prompt)?\s*:"
            r"|<\s*/?\s*(?:system|im_start|im_end|instructions?)\s*>|<\|im_(?:start|end)\|>|\[/?(?:system|INST)\]"
            r"|BEGIN\s+(?:SYSTEM|NEW)\s+(?:PROMPT|INSTRUCTIONS)|END\s+DOCUMENT",
            _I,
        ),
    ),
    _Rule(
        "tool_directive",
        "injection",
        re.compile(
            r"\b(?:call|invoke|use|run|execute|trigger)\s+(?:the\s+)?[`'\"]?[a-z_][a-z0-9_.]*[`'\"]?\s+"
            r"(?:tool|function|api|command|endpoint)\b|\b(?:send|forward|email|post|upload|transfer|wire)"
            r"\b.{0,60}\b(?:to|at)\b.{0,40}(?:@|https?://|\baccount\b)",
            _I,
        ),
    ),
    _Rule(
        "exfiltration",
        "injection",
        re.compile(
            r"\b(?:reveal|print|repeat|output|show|leak|dump|send|share|disclose)\b.{0,40}\b(?:system\s+"
            r"prompt|instructions|api[\s_-]?keys?|passwords?|secrets?|credentials|tokens?|env(?:ironment)?"
            r"\s+variables)",
            _I,
        ),
    ),
    _Rule(
        "urgent_compliance",
        "injection",
        re.compile(
            r"\b(?:you\s+must|immediately|mandatory|required\s+to|do\s+not\s+tell|without\s+(?:telling|"
            r"asking|approval|confirmation)|silently|don'?t\s+(?:mention|tell|ask))\b.{0,60}\b(?:"
            r"send|delete|transfer|execute|call|run|email|publish|pay|grant|approve|write)",
            _I,
        ),
    ),
    _Rule(
        "hidden_markup",
        "injection",
        re.compile(
            r"<!--.{0,500}?(?:instruction|ignore|assistant|ai|model|system).{0,500}?-->"
            r"|display\s*:\s*none|font-size\s*:\s*0|color\s*:\s*(?:white|#fff\b)",
            _I,
        ),
    ),
    _Rule(
        "encoded_payload",
        "injection",
        re.compile(
            r"\b(?:decode|base64|rot13|hex)\b.{0,30}\b(?:and|then)\b.{0,20}\b(?:follow|execute|run|obey)",
            _I,
        ),
    ),
]


def scan_injection(text: str) -> list[Finding]:
    """Instructions aimed at a model, found in text that should only be data."""
    findings = []
    for rule in _INJECTION_RULES:
        match = rule.pattern.search(text)
        if match:
            excerpt = " ".join(match.group(0).split())
            findings.append(
                Finding(rule=rule.name, kind="injection", excerpt=excerpt[:EXCERPT_CHARS])
            )
    return findings


# --- content policy ------------------------------------------------------------------------------


def check_policy(text: str, rules: dict[str, str]) -> list[Finding]:
    """The operator's content policy: named regular expressions that a goal, a chat message or
    an answer may not match."""
    findings = []
    for name, pattern in rules.items():
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            findings.append(
                Finding(rule=name, kind="policy", excerpt=match.group(0)[:EXCERPT_CHARS])
            )
    return findings


def describe(findings: Iterable[Finding]) -> str:
    return "; ".join(
        f"{f.kind} rule {f.rule!r}" + (f" ({f.excerpt!r})" if f.excerpt else "") for f in findings
    )


def strings_in(value: object) -> list[str]:
    """The text inside a JSON-like value (scanning its JSON form would glue escaped newlines to
    words: `\\nIgnore`)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for key, v in value.items() for s in [str(key), *strings_in(v)]]
    if isinstance(value, list | tuple):
        return [s for v in value for s in strings_in(v)]
    return []


def scan_untrusted(pieces: Iterable[tuple[str, str]]) -> list[Finding]:
    """Injected instructions in content from outside, once per rule and source."""
    seen: set[tuple[str, str]] = set()
    findings = []
    for source, text in pieces:
        for finding in scan_injection(text):
            if (finding.rule, source) not in seen:
                seen.add((finding.rule, source))
                findings.append(finding.model_copy(update={"source": source}))
    return findings


# What an answer that breaks the content policy becomes (the rules it broke are named after it).
WITHHELD = "[The answer was withheld: it breaks the content policy"


def guard_answer(
    text: str, *, redact_pii: bool, policy: dict[str, str] | None = None
) -> tuple[str, list[Finding]]:
    """An answer before it is returned or stored: secrets are always redacted; personal data is
    redacted when the deployment says so (`AIOS_GUARDRAILS_PII=redact`), flagged otherwise. An
    answer that matches the content policy (`policy`, AIOS_CONTENT_POLICY) is withheld whole:
    what is returned names the rules, and the findings say `refused`."""
    if policy:
        broken = check_policy(text, policy)
        if broken:
            rules = ", ".join(sorted({f.rule for f in broken}))
            return f"{WITHHELD} ({rules}).]", [
                f.model_copy(update={"decision": "refused", "source": "the answer"}) for f in broken
            ]
    cleaned, secrets = redact(text, pii=False, secrets=True)
    findings = [f.model_copy(update={"decision": "redacted"}) for f in secrets]
    if redact_pii:
        cleaned, pii = redact(cleaned, pii=True, secrets=False)
        findings += [f.model_copy(update={"decision": "redacted"}) for f in pii]
    else:
        findings += find_sensitive(cleaned, pii=True, secrets=False)
    return cleaned, findings


# Streamed text is held back this many characters from its end: anything sensitive still
# arriving (the longest rule above, a spaced IBAN, needs fewer) is never sent out in halves.
STREAM_HOLD_BACK_CHARS = 64
_OPENS_A_BLOCK = "-----BEGIN"  # a private key's armour: its whole block is one finding
_CLOSES_A_BLOCK = "-----END"


def releasable(text: str, *, redact_pii: bool) -> tuple[str, str]:
    """Streamed answer text split in two: what may go out now, cleaned as `guard_answer` cleans
    an answer, and the rest, held until more text comes (when the stream ends, the rest goes
    through `guard_answer`). The cut falls on whitespace at least STREAM_HOLD_BACK_CHARS before
    the end, never inside anything the rules match in the whole text, and never after an
    unclosed private-key block."""
    cut = len(text) - STREAM_HOLD_BACK_CHARS
    while cut > 0 and not text[cut - 1].isspace():
        cut -= 1
    if cut <= 0:
        return "", text
    for _rule, match in _matches([*_SECRET_RULES, *_PII_RULES], text):
        if match.start() < cut < match.end():
            cut = match.start()
    opened = text.rfind(_OPENS_A_BLOCK, 0, cut)
    if opened != -1 and _CLOSES_A_BLOCK not in text[opened:]:
        cut = opened
    return guard_answer(text[:cut], redact_pii=redact_pii)[0], text[cut:]


def guard_goal(goal: str, *, policy: dict[str, str], redact_pii: bool) -> tuple[str, list[Finding]]:
    """Input guardrails on what a user asks: the content policy (`refused` findings: the caller
    must not start the run), injected instructions (flagged), personal data (flagged or
    redacted)."""
    refused = [f.model_copy(update={"decision": "refused"}) for f in check_policy(goal, policy)]
    findings = [*refused, *scan_injection(goal)]
    if redact_pii:
        goal, pii = redact(goal, pii=True, secrets=True)
        findings += [f.model_copy(update={"decision": "redacted"}) for f in pii]
    else:
        findings += find_sensitive(goal)
    return goal, [f.model_copy(update={"source": "the goal"}) for f in findings]


# --- data leaving by the back door ---------------------------------------------------------------

# A fact's value with fewer letters and digits than this is too common to be the user's own
# ("yes", "en"): it is not looked for in what goes out.
PRIVATE_MIN_CHARS = 4
# Words in a row that a query or URL shares with a document (or a long fact) to count as built
# from it: fewer would match common phrases ("the price of the").
SHARED_RUN_WORDS = 5
_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.casefold())


def _runs(words: list[str], n: int = SHARED_RUN_WORDS) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def outgoing_text(strings: Iterable[str]) -> str:
    """What a call that reaches outside would send, as text: its argument strings with URL
    escapes undone (twice: `%2520`), so `?d=ada%20salary` reads as the words it carries."""
    return "\n".join(unquote_plus(unquote_plus(s)) for s in strings)


def private_data_in(
    outgoing: str, *, facts: dict[str, str], documents: Iterable[tuple[str, str]]
) -> list[str]:
    """What of the user's private data `outgoing` (a URL, a search query, an MCP call's
    arguments, as `outgoing_text` reads them) carries, each named for a person to judge:
    secrets and personal data (emails, payment cards, IBANs; not phone numbers, which a URL's
    long ids would look like), a value of the user's facts (`facts`: key -> value; as whole
    words, or SHARED_RUN_WORDS of a longer one in a row), and text of a document (`documents`:
    title, text; SHARED_RUN_WORDS words in a row). Empty: nothing private was found."""
    found = [
        f"{'a secret' if f.kind == 'secret' else 'personal data'} ({f.rule}: {f.excerpt})"
        for f in find_sensitive(outgoing)
        if f.rule != "phone_number"
    ]
    words = _words(outgoing)
    spaced = f" {' '.join(words)} "
    sent_runs = _runs(words)
    for key, value in facts.items():
        value_words = _words(value)
        if len("".join(value_words)) < PRIVATE_MIN_CHARS:
            continue
        if len(value_words) <= SHARED_RUN_WORDS:
            carried = f" {' '.join(value_words)} " in spaced
        else:
            carried = bool(sent_runs & _runs(value_words))
        if carried:
            found.append(f"the user's fact {key!r}")
    for title, text in documents:
        if sent_runs & _runs(_words(text)):
            label = f"text of the document {title!r}" if title else "text of a document"
            if label not in found:
                found.append(label)
    return found
