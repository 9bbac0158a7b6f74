"""The dialog layer of RFC 3261 §12–§15, sans-I/O.

Re-exports only. :class:`Dialog` (``dialog``) holds one dialog's state and builds its
requests; :class:`DialogLayer` (``layer``) matches messages to dialogs and turns
transaction events into :class:`DialogEvent` values; ``helpers`` has the CANCEL
builder (§9.1), the glare and Retry-After waits (§14) and the UAS 2xx retransmitter
(§13.3.1.4); ``reliable`` the RSeq/RAck rules of reliable provisionals (RFC 3262).
"""

from .dialog import (
    DEFAULT_SENT_BY,
    TARGET_REFRESH_METHODS,
    Dialog,
    DialogError,
    DialogId,
    DialogState,
)
from .helpers import TwoXxRetransmitter, build_cancel, glare_retry_delay, retry_after
from .layer import (
    DIALOG_CREATING_METHODS,
    DialogAck,
    DialogConfirmed,
    DialogCreated,
    DialogEvent,
    DialogLayer,
    DialogRequest,
    DialogResponse,
    DialogTerminated,
    OutOfDialogRequest,
    RejectRequest,
    Retransmitted2xx,
)
from .reliable import (
    RAck,
    ReliableProvisionals,
    RSeqTracker,
    build_prack,
    is_reliable,
    parse_rack,
    parse_rseq,
    requires_100rel,
    wants_100rel,
)

__all__ = [
    "DEFAULT_SENT_BY",
    "DIALOG_CREATING_METHODS",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogAck",
    "DialogConfirmed",
    "DialogCreated",
    "DialogError",
    "DialogEvent",
    "DialogId",
    "DialogLayer",
    "DialogRequest",
    "DialogResponse",
    "DialogState",
    "DialogTerminated",
    "OutOfDialogRequest",
    "RAck",
    "RSeqTracker",
    "RejectRequest",
    "ReliableProvisionals",
    "Retransmitted2xx",
    "TwoXxRetransmitter",
    "build_cancel",
    "build_prack",
    "glare_retry_delay",
    "is_reliable",
    "parse_rack",
    "parse_rseq",
    "requires_100rel",
    "retry_after",
    "wants_100rel",
]
