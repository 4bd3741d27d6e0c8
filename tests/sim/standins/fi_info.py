"""fi_info [-p efa] [-t FI_EP_RDM|FI_EP_DGRAM]: one block per EFA device of the spec."""

from __future__ import annotations

import sys

from .common import Spec


def _option(argv: list[str], *flags: str) -> str | None:
    for i, arg in enumerate(argv):
        if arg in flags and i + 1 < len(argv):
            return argv[i + 1]
        for flag in flags:
            if flag.startswith("--") and arg.startswith(flag + "="):
                return arg.split("=", 1)[1]
    return None


def main(argv: list[str], spec: Spec) -> int:
    provider = _option(argv, "-p", "--provider")
    endpoint = _option(argv, "-t", "--ep_type") or "FI_EP_RDM"
    count = spec.get("efa_count", 0)
    if (provider not in (None, "efa")) or count == 0 or endpoint not in ("FI_EP_RDM",
                                                                          "FI_EP_DGRAM"):
        sys.stderr.write("fi_getinfo: -61 (No data available)\n")
        return 1
    suffix = "rdm" if endpoint == "FI_EP_RDM" else "dgrm"
    for device in range(count):
        sys.stdout.write(
            "provider: efa\n"
            "    fabric: efa\n"
            f"    domain: rdmap{79 + device}s0-{suffix}\n"
            "    version: 120.10\n"
            f"    type: {endpoint}\n"
            "    protocol: FI_PROTO_EFA\n"
        )
    return 0
