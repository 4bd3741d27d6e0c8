"""libfabric `fi_info` (e.g. `fi_info -p efa -t FI_EP_RDM`), also via mpirun.

    provider: efa
        fabric: efa
        domain: rdmap197s0-rdm
        version: 116.10
        type: FI_EP_RDM
        protocol: FI_PROTO_EFA

One entry per `provider:` line, in order; several ranks under mpirun give several
entries (nothing is de-duplicated). `fi_info -l` (`efa:` / `    version: 120.10`) is
read too, with fabric, domain and type None. An output that is only libfabric's error
(`fi_getinfo: -61 (No data available)`: no matching provider) gives no providers and that
line as `error`, not a parse error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from preflight.parsers.common import JsonRecord, ParseError, first_line, require_text

ENTRY_FIELD = re.compile(r"^\s+(?P<key>fabric|domain|version|type)\s*:\s*(?P<value>\S.*?)\s*$")
PROVIDER = re.compile(r"^provider\s*:\s*(?P<name>\S+)\s*$")
LIST_PROVIDER = re.compile(r"^(?P<name>[\w;.-]+):\s*$")
LIST_VERSION = re.compile(r"^\s+version\s*:\s*(?P<value>\S+)\s*$")
FAILURE = re.compile(r"\bfi_getinfo: -\d+\b.*|.*\bNo data available\b.*")


@dataclass(frozen=True)
class FiProvider(JsonRecord):
    provider: str
    fabric: str | None = None
    domain: str | None = None
    version: str | None = None
    type: str | None = None


@dataclass(frozen=True)
class FiInfoRecord(JsonRecord):
    providers: tuple[FiProvider, ...]
    error: str | None = None


def parse(text: str) -> FiInfoRecord:
    lines = require_text(text, "fi_info").splitlines()
    providers = _read_entries(lines) or _read_list(lines)
    failures = [m.group(0).strip() for line in lines if (m := FAILURE.search(line))]
    if not providers and not failures:
        raise ParseError(f"not fi_info output (first line: {first_line(text)!r})")
    return FiInfoRecord(providers=tuple(providers),
                        error=None if providers else failures[0])


def _read_entries(lines: list[str]) -> list[FiProvider]:
    providers: list[FiProvider] = []
    for line in lines:
        start = PROVIDER.match(line)
        if start:
            providers.append(FiProvider(provider=start.group("name")))
            continue
        field = ENTRY_FIELD.match(line)
        if field and providers:
            providers[-1] = replace(providers[-1], **{field.group("key"): field.group("value")})
    return providers


def _read_list(lines: list[str]) -> list[FiProvider]:
    """`fi_info -l`: a provider name line ending in ':' followed by its version."""
    providers: list[FiProvider] = []
    pending: str | None = None
    for line in lines:
        name = LIST_PROVIDER.match(line)
        version = LIST_VERSION.match(line)
        if name:
            pending = name.group("name")
        elif version and pending is not None:
            providers.append(FiProvider(provider=pending, version=version.group("value")))
            pending = None
        else:
            pending = None
    return providers
