"""One-line rules: which cause a log line shows, with its peers and a short detail.

Rules are tried in order and the first match wins, so the specific ones (an IB completion
error, a refused connection) come before the generic ones ('Call to X failed').
Multi-line reports (the desync report) and per-rank facts (network, versions) are
handled elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

# libibverbs enum ibv_wc_status, for the 'with error N' of NET/IB completion errors.
IB_WC_STATUS = {
    1: "IBV_WC_LOC_LEN_ERR", 2: "IBV_WC_LOC_QP_OP_ERR", 3: "IBV_WC_LOC_EEC_OP_ERR",
    4: "IBV_WC_LOC_PROT_ERR", 5: "IBV_WC_WR_FLUSH_ERR", 6: "IBV_WC_MW_BIND_ERR",
    7: "IBV_WC_BAD_RESP_ERR", 8: "IBV_WC_LOC_ACCESS_ERR", 9: "IBV_WC_REM_INV_REQ_ERR",
    10: "IBV_WC_REM_ACCESS_ERR", 11: "IBV_WC_REM_OP_ERR", 12: "IBV_WC_RETRY_EXC_ERR",
    13: "IBV_WC_RNR_RETRY_EXC_ERR", 14: "IBV_WC_LOC_RDD_VIOL_ERR",
    15: "IBV_WC_REM_INV_RD_REQ_ERR", 16: "IBV_WC_REM_ABORT_ERR", 17: "IBV_WC_INV_EECN_ERR",
    18: "IBV_WC_INV_EEC_STATE_ERR", 19: "IBV_WC_FATAL_ERR", 20: "IBV_WC_RESP_TIMEOUT_ERR",
    21: "IBV_WC_GENERAL_ERR",
}  # fmt: skip

_PEER_NCCL = re.compile(r"(?P<addr>[\w.:%\-]+)<(?P<port>\d+)>")
_PEER_BRACKETED = re.compile(r"(?<!addr=)(?<!bind to )\[(?P<addr>[\w.:%\-]+)\]:(?P<port>\d+)\b")
_PEER_TUPLE = re.compile(r"\((?P<addr>[\w.:%\-]+), (?P<port>\d+)\)")
_PEER_RANK = re.compile(r"(?:crash on rank |ncclUniqueId from \[)(\d+)")
# Lines that only repeat an error reported elsewhere: NCCL's return-code wrappers, the
# proxy's 'Failed to execute operation', flushed work requests after a QP broke.
_WRAPPER = re.compile(
    r"unhandled (?:system|cuda) error|ncclSystemError|ncclUnhandledCudaError|ncclRemoteError"
    r"|remote process exited|Failed to execute operation|Test CUDA failure"
    r"|Error encountered progressing operation|Proxy Call to rank"
    r"|with (?:error |status=)5\b"
)
# A log line that shows some failure, for logs no rule explains.
_ERROR_LINE = re.compile(
    r"\bWARN\b|Traceback \(most recent call last\)|Segmentation fault|core dumped"
    r"|\b[A-Z]\w*(?:Error|Exception)\b|\b(?:Error|ERROR)\b(?!s|\s*:\s*\d+\s*$)|ChildFailedError"
    r"|(?:srun|slurmstepd): error:"
    r"|non-zero (?:exit|status)|exit(?:ed with)? (?:code|status)\s*:?\s*[1-9]"
    r"|exitcode\s*:\s*-?[1-9]"
)
_REASON = re.compile(r"failed\s*:\s*(?P<reason>[^,]+?)\s*$")


@dataclass(frozen=True)
class LineMatch:
    cause: str
    detail: str
    peers: tuple[str, ...] = ()
    key: str | None = None  # lines with the same cause and key are one finding
    wrapper: bool = False  # the line only repeats an error reported elsewhere
    peer_ranks: tuple[int, ...] = ()  # ranks the line blames by number


@dataclass(frozen=True)
class Rule:
    cause: str
    needles: tuple[str, ...]  # cheap substring test before the regex
    pattern: re.Pattern[str]
    detail: Callable[[re.Match[str], str], str]
    key: Callable[[re.Match[str]], str | None] = lambda match: None

    def apply(self, body: str) -> LineMatch | None:
        if not any(needle in body for needle in self.needles):
            return None
        match = self.pattern.search(body)
        if match is None:
            return None
        wrapper = _WRAPPER.search(match.group(0)) is not None
        blamed = tuple(int(rank) for rank in _PEER_RANK.findall(body))
        detail = self.detail(match, body)
        return LineMatch(self.cause, detail, peers(body), self.key(match), wrapper, blamed)


def peers(body: str) -> tuple[str, ...]:
    """Remote endpoints named on a line, as 'address:port'."""
    found: list[str] = []
    for pattern in (_PEER_NCCL, _PEER_BRACKETED, _PEER_TUPLE):
        for match in pattern.finditer(body):
            addr = match["addr"]
            endpoint = f"[{addr}]:{match['port']}" if ":" in addr else f"{addr}:{match['port']}"
            if endpoint not in found:
                found.append(endpoint)
    return tuple(found)


def match_line(body: str) -> LineMatch | None:
    if not _ANY_NEEDLE.search(body):  # most lines: one scan instead of one per rule
        return None
    for rule in RULES:
        if (found := rule.apply(body)) is not None:
            return found
    return None


def looks_like_error(body: str) -> bool:
    """Whether a line no rule explains still shows a failure (an exception, a WARN, a crash)."""
    return _ERROR_LINE.search(body) is not None


def _watchdog_detail(match: re.Match[str], body: str) -> str:
    if match["op"] is None:
        return ""  # 'detected by watchdog at work: N' adds evidence, not detail
    seq = f" (SeqNum {match['seq']})" if match["seq"] else ""
    detail = f"{match['op']}{seq}, timeout {match['timeout']} ms"
    return detail + (f", ran {match['ran']} ms" if match["ran"] else "")


def _watchdog_key(match: re.Match[str]) -> str:
    seq = match["seq"] or match["work"]
    return f"collective SeqNum {seq}" if seq else f"collective {match['op']}"


def _completion_detail(match: re.Match[str], body: str) -> str:
    code = int(match["status"])
    name = IB_WC_STATUS.get(code, "unknown status")
    vendor = re.search(r"vendor[ _]err[ =](\d+)", body)
    direction = re.search(r"\((Send|Recv)\)", body)
    detail = f"IB completion error {code} ({name})"
    detail += f", vendor err {vendor.group(1)}" if vendor else ""
    detail += f" on {direction.group(1)}" if direction else ""
    hca = re.search(r"\bhca (\w+)", body)
    return detail + (f", HCA {hca.group(1)}" if hca else "")


def _verbs_detail(match: re.Match[str], body: str) -> str:
    detail = f"{match['call']} failed"
    why = re.search(r"failed with (?:error )?(?:\d+ )?(?P<why>[A-Za-z][^,]*)", body)
    detail += f": {why['why'].strip()}" if why else ""
    states = re.search(r"curr state (\w+), next state (\w+)", body)
    return detail + (f" ({states[1]} to {states[2]})" if states else "")


def _store_detail(match: re.Match[str], body: str) -> str:
    for needle, what in _STORE_DETAILS:
        if needle in body:
            return f"c10d store: {what}"
    return f"c10d store: {match.group(0)}"


_STORE_DETAILS = (
    ("waiting for clients", "timed out waiting for the other ranks to join"),
    ("timed out", "connect to the store timed out"),
    ("Timeout", "timed out"),
    ("wait timeout", "timed out waiting for a key"),
    ("reset by peer", "connection reset by peer"),
    ("Broken pipe", "connection broken (Broken pipe)"),
    ("got 0 bytes", "connection closed by the store"),
    ("failed to listen", "the store could not listen (port in use or address not local)"),
    ("errno:", "connect failed"),
)


def _mismatch_detail(match: re.Match[str], body: str) -> str:
    if sizes := re.search(r"local size (\d+),? remote(?: size)? (\d+)", body):
        return f"collective mismatch: {sizes[1]} bytes here, {sizes[2]} from the peer"
    if sizes := re.search(r"receiving (\d+) bytes instead of (\d+)", body):
        return f"collective mismatch: {sizes[2]} bytes here, {sizes[1]} from the peer"
    return "collective mismatch: message truncated"


def _crash_detail(matched: str) -> str:
    if "oom" in matched.lower() or "Out of memory" in matched:
        return "process crash: killed by the kernel's OOM killer"
    if "9" in matched and "SIG" not in matched:
        return "process crash: killed (SIGKILL, often the OOM killer)"
    if "BUS" in matched or "Bus" in matched or matched.endswith("7"):
        return "process crash: bus error (SIGBUS)"
    return "process crash: segmentation fault (SIGSEGV)"


def _reason(prefix: str) -> Callable[[re.Match[str], str], str]:
    def detail(match: re.Match[str], body: str) -> str:
        reason = _REASON.search(body)
        return f"{prefix}: {reason['reason']}" if reason else f"{prefix}: {match.group(0)}"

    return detail


def _fixed(text: str) -> Callable[[re.Match[str], str], str]:
    return lambda match, body: text


def _matched(prefix: str) -> Callable[[re.Match[str], str], str]:
    return lambda match, body: f"{prefix}: {match.group(0)}"


RULES: tuple[Rule, ...] = (
    Rule(
        "watchdog-timeout",
        ("operation timeout", "detected by watchdog", "Timeout at NCCL work"),
        re.compile(
            r"WorkNCCL\((?:SeqNum=(?P<seq>\d+), )?OpType=(?P<op>\w+)"
            r".*?Timeout\(ms\)=(?P<timeout>\d+)\)"
            r"(?: ran for (?P<ran>\d+) milliseconds)?"
            r"|(?:detected by watchdog at work|Timeout at NCCL work): (?P<work>\d+)"
        ),
        _watchdog_detail,
        _watchdog_key,
    ),
    Rule(
        "ib-completion-error",
        ("Got completion from peer",),
        re.compile(
            r"Got completion from peer \S+ with (?:error |status=)(?:[^()]{0,60}\()?(?P<status>\d+)"
        ),
        _completion_detail,
    ),
    Rule(
        "ib-completion-error",
        ("Got async event",),
        re.compile(r"NET/IB ?: Got async event ?: ?(?P<event>.+)$"),
        lambda match, body: f"IB async event: {match['event'].strip()}",
    ),
    Rule(
        "collective-mismatch",
        ("truncated", "mismatch"),
        re.compile(
            r"[Mm]essage truncated|collective mismatch|mismatch in collective"
            r"|[Cc]ollective[- ]mismatch"
        ),
        _mismatch_detail,
        lambda match: "mismatch",
    ),
    Rule(
        "ib-resource-error",
        ("ibv_",),
        re.compile(r"(?:Call to )?(?P<call>ibv_\w+)(?: \w+)? failed"),
        _verbs_detail,
        lambda match: match["call"],
    ),
    Rule(
        "ofi-error",
        ("OFI", "libfabric", "fi_"),
        re.compile(
            r"NET/OFI.*\b(?:error|failed|failure|unable|couldn't|abort)"
            r"|libfabric:.*\b(?:error|failed)|\bfi_\w+ (?:call )?failed|OFI NCCL failure",
            re.IGNORECASE,
        ),
        lambda match, body: "libfabric/OFI error",
    ),
    Rule(
        "connection-refused",
        ("refused",),
        re.compile(r"[Cc]onnection refused"),
        _fixed("connection refused"),
    ),
    Rule(
        "store-error",
        (
            "client socket",
            "server socket",
            "TCPStore",
            "SocketImpl",
            "DistStoreError",
            "DistNetworkError",
            "store->get",
            "Socket Timeout",
            "waiting for clients",
            "wait timeout",
            "got 0 bytes",
        ),
        re.compile(
            r"The client socket has (?:timed out after \S+ while trying to connect to"
            r"|failed to connect to)|The client socket cannot be initialized"
            r"|The server socket has failed to (?:listen|bind)|DistStoreError|DistNetworkError"
            r"|TCPStore\S*.*?(?:failed|[Tt]imed out|[Ee]rror|reset)"
            r"|(?:send|recv)\w* failed on SocketImpl|store->get\([^)]*\) got error"
            r"|Socket Timeout|[Tt]imed out after \d+ seconds waiting for clients"
            r"|wait timeout after \d+ ?ms|Failed to recv, got 0 bytes"
        ),
        _store_detail,
        lambda match: "store",
    ),
    Rule(
        "socket-setup",
        (
            "neither AF_INET",
            "interface found",
            "Call to bind",
            "socketListen",
            "Cannot assign requested address",
            "NCCL_SOCKET_FAMILY",
            "findInterface",
        ),
        re.compile(
            r"[Ss]ocketInit: connecting to address.*is neither AF_INET.*"
            r"|[Nn]o (?:usable |socket |listening )*interface found\S*(?: in the same subnet[^.]*)?"
            r"|Call to bind failed\s*:\s*[^,]+|socketListen\S* .*failed.*"
            r"|Cannot assign requested address|Invalid NCCL_SOCKET_FAMILY.*|findInterface.*failed"
        ),
        _matched("socket setup"),
    ),
    Rule(
        "connection-closed",
        (
            "closed by remote",
            "reset by peer",
            "Broken pipe",
            "remote process exited",
            "ncclRemoteError",
            "Socket recv failed",
            "Socket send failed",
        ),
        re.compile(
            r"Connection closed by remote peer|Connection reset by peer|Broken pipe"
            r"|remote process exited|ncclRemoteError|Socket (?:recv|send) failed"
        ),
        _matched("connection lost"),
    ),
    Rule(
        "connect-failed",
        ("onnect", "No route to host", "unreachable", "timed out"),
        re.compile(
            r"socketStartConnect|Connect to \S+ failed|No route to host|Network is unreachable"
            r"|connection abort|Connection timed out|connect\(\) timed out|socketFinalizeAccept"
            r"|Failed to execute operation Connect|Call to connect"
            r"|Error encountered progressing operation=Connect|Proxy Call to rank \d+ failed"
        ),
        _reason("connect failed"),
    ),
    Rule(
        "cuda-error",
        ("cuda error", "Cuda failure", "CUDA", "cudaError", "illegal memory access", "ECC", "Xid"),
        re.compile(
            r"unhandled cuda error|Cuda failure\s*'(?P<what>[^']*)'|CUDA error: [^.]+|cudaError\w+"
            r"|Test CUDA failure|ncclUnhandledCudaError|illegal memory access"
            r"|uncorrectable ECC error|NVRM: Xid \([^)]*\): \d+|CUDA out of memory"
        ),
        lambda match, body: f"CUDA error: {match['what'] or match.group(0)}",
    ),
    Rule(
        "system-error",
        (
            "system error",
            "ncclSystemError",
            "System call",
            "failed :",
            "No space left",
            "shared memory segment",
            "failed to extend",
        ),
        re.compile(
            r"unhandled system error|ncclSystemError|System call \([^)]*\) failed"
            r"|Call to \w+ failed\s*:.*|No space left on device"
            r"|[Ee]rror while creating shared memory segment \S+(?: \(size \d+\))?"
            r"|failed to extend \S+ to \d+ bytes"
        ),
        _matched("system error"),
    ),
    Rule(
        "process-crash",
        (
            "Segmentation fault",
            "SIGSEGV",
            "SIGBUS",
            "Bus error",
            "signal",
            "Killed process",
            "oom-kill",
            "oom_kill",
            "exitcode",
        ),
        re.compile(
            r"Segmentation fault|SIGSEGV|SIGBUS|Bus error|exited on signal (?:7|9|11)\b"
            r"|Out of memory: Killed process|oom[-_]kill\S*|exitcode\s*:\s*-(?:7|9|11)\b"
        ),
        lambda match, body: _crash_detail(match.group(0)),
    ),
    Rule(
        "watchdog-timeout",
        ("watchdog got stuck", "Heartbeat monitor timed out"),
        re.compile(r"watchdog got stuck for (?P<stuck>\d+) seconds|Heartbeat monitor timed out"),
        lambda match, body: f"watchdog stuck for {match['stuck']} s" if match["stuck"] else "",
        lambda match: "stuck",
    ),
    Rule(
        "watchdog-timeout",
        ("communicator was aborted",),
        re.compile(r"NCCL communicator was aborted on rank \d+"),
        _fixed("NCCL communicator aborted"),
        lambda match: "aborted",
    ),
)

_ANY_NEEDLE = re.compile("|".join(re.escape(needle) for rule in RULES for needle in rule.needles))
