"""The machinery shared by the four transaction state machines of RFC 3261 §17.

Theory of operation
-------------------
Each state machine is a *table*: ``TABLE[(state, input)] = (next_state,
actions)``. Everything that can happen to a transaction is an :class:`Input`:
a message from the network (a response class, a retransmitted request, an ACK),
a call from the Transaction User (a response class it sends), a timer firing, or
a transport error. :meth:`Transaction._fire` looks the pair up, moves to the next
state, then runs the named actions in order. The tables are literal
transcriptions of RFC 3261 Figures 5–8 as amended by RFC 6026 Figures 5 and 7, so
reviewing a machine means reading one dict against one figure (the h11 idea:
the state machine is data).

What is *not* in a table is decided by where the input came from:

* from the network, it is absorbed silently. This is the RFC's rule for stray
  retransmissions (a 1xx in Completed, an INVITE in Confirmed...), and it is
  what makes a duplicate harmless;
* from the TU, it is a programming error and raises
  :class:`TransactionStateError` (e.g. a provisional after a final response).

Timers are a small dict ``{timer input: absolute deadline}``; there is no clock.
``get_timer()`` is the earliest deadline, and ``handle_timer(now)`` fires every
timer due at ``now`` in deadline order (the aioquic contract). A timer of zero
seconds (Timers D, I, J, K over reliable transports) is armed like any other and
fired before the call that armed it returns, so the transaction is already
Terminated when e.g. ``receive()`` of a final response over TCP returns.

Outputs are queued and pulled: ``messages_to_send()`` drains :class:`Outgoing`
values and ``next_event()`` drains events for the TU.

Memory: a transaction outlives its last useful message by up to 64·T1 (Timers
D, I, J, K, L, M only absorb retransmissions), so a busy proxy holds tens of
thousands of finished transactions. Each machine's table runs ``_release`` on
entering a state that no longer needs the parsed request (or the last response):
what is left is the key, the state and the deadlines, a few hundred bytes,
instead of whole parsed messages that the garbage collector walks over and over.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import ClassVar

from ..errors import SipError
from ..headers.via import Via
from ..message import Request, Response, make_response
from ..server_transport import response_target
from .config import TimerConfig
from .events import (
    Destination,
    Outgoing,
    ResponseReceived,
    Terminated,
    TimedOut,
    TransactionEvent,
    TransportError,
)
from .key import ClientKey, LegacyServerKey, ServerKey, TransactionKey

__all__ = [
    "ClientTransaction",
    "Input",
    "ServerTransaction",
    "State",
    "Table",
    "Transaction",
    "TransactionStateError",
    "to_mermaid",
]


class TransactionStateError(SipError, RuntimeError):
    """The TU asked a transaction for something its state does not allow."""


class State(enum.Enum):
    """Transaction states of RFC 3261 §17 plus RFC 6026's Accepted."""

    # Enum's own __hash__ is a Python call (hash of the name); members are
    # singletons compared by identity, so the identity hash gives the same dict
    # semantics in C. The machine tables and timer dicts are keyed by these on
    # every message.
    __hash__ = object.__hash__

    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Input(enum.Enum):
    """Everything that can drive a transaction."""

    __hash__ = object.__hash__  # see State

    # From the network.
    PROVISIONAL = "1xx received"
    SUCCESS = "2xx received"
    FAILURE = "300-699 received"
    REQUEST = "request retransmission received"
    ACK = "ACK received"
    # From the TU.
    TU_PROVISIONAL = "1xx from TU"
    TU_SUCCESS = "2xx from TU"
    TU_FAILURE = "300-699 from TU"
    # Timers (RFC names) and the transport.
    TIMER_A = "A"
    TIMER_B = "B"
    TIMER_D = "D"
    TIMER_E = "E"
    TIMER_F = "F"
    TIMER_G = "G"
    TIMER_H = "H"
    TIMER_I = "I"
    TIMER_J = "J"
    TIMER_K = "K"
    TIMER_L = "L"
    TIMER_M = "M"
    TIMER_TRYING = "100 Trying (200 ms)"
    TRANSPORT_ERROR = "transport error"


_TU_INPUTS = frozenset({Input.TU_PROVISIONAL, Input.TU_SUCCESS, Input.TU_FAILURE})

#: ``(state, input) -> (next state, names of actions to run)``.
Table = Mapping[tuple[State, Input], tuple[State, tuple[str, ...]]]

Message = Request | Response


def response_input(status_code: int, *, from_tu: bool) -> Input:
    """Classify a response as the table inputs do (1xx, 2xx, 300-699)."""
    if status_code < 200:
        return Input.TU_PROVISIONAL if from_tu else Input.PROVISIONAL
    if status_code < 300:
        return Input.TU_SUCCESS if from_tu else Input.SUCCESS
    return Input.TU_FAILURE if from_tu else Input.FAILURE


class Transaction:
    """Base class: the table interpreter, timers and output queues."""

    TABLE: ClassVar[Table]
    #: Initial state, set by each machine.
    INITIAL: ClassVar[State]

    key: TransactionKey
    reliable: bool
    config: TimerConfig
    state: State
    #: How many retransmissions this transaction sent (requests, responses, ACKs).
    retransmissions: int

    def __init__(
        self, key: TransactionKey, request: Request, reliable: bool, config: TimerConfig
    ) -> None:
        self.key = key
        self._request: Request | None = request
        self.reliable = reliable
        self.config = config
        self.state = self.INITIAL
        self.retransmissions = 0
        self._timers: dict[Input, float] = {}
        self._outbox: list[Outgoing] = []
        self._events: list[TransactionEvent] = []
        #: The input being processed (actions read it, e.g. to name a timer).
        self._input = Input.REQUEST

    # -- pulled output -----------------------------------------------------------

    @property
    def request(self) -> Request:
        """The request this transaction was created for.

        Raises :class:`TransactionStateError` once the transaction has released it
        (a completed transaction that only absorbs retransmissions; see the module
        docstring).
        """
        request = self._request
        if request is None:
            raise TransactionStateError(
                f"{type(self).__name__} in state {self.state.value} no longer holds its request"
            )
        return request

    @property
    def released(self) -> bool:
        """Whether the transaction dropped its messages (it only absorbs now)."""
        return self._request is None

    def messages_to_send(self) -> list[Outgoing]:
        """Drain the messages queued for the transport."""
        out = self._outbox
        if not out:
            return []
        self._outbox = []
        return out

    def next_event(self) -> TransactionEvent | None:
        """Pop the next event for the TU, or None."""
        return self._events.pop(0) if self._events else None

    @property
    def terminated(self) -> bool:
        return self.state is State.TERMINATED

    # -- timers ---------------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The earliest armed deadline (absolute time), or None."""
        return min(self._timers.values()) if self._timers else None

    def timer_deadline(self, timer: Input) -> float | None:
        """The deadline of one named timer, if armed (for tests and traces)."""
        return self._timers.get(timer)

    def handle_timer(self, now: float) -> None:
        """Fire every timer due at ``now``, earliest first.

        :param now: The current time.
        """
        timers = self._timers
        while timers and self.state is not State.TERMINATED:
            # Called after every message; usually nothing is due, which one C-level
            # min() tells. The timer picked is the first armed one with the earliest
            # deadline, as min(items, key=deadline) would pick.
            deadline = min(timers.values())
            if deadline > now:
                break
            timer = next(t for t, d in timers.items() if d is deadline or d == deadline)
            del timers[timer]
            self._fire(timer, now, None)

    def _arm(self, timer: Input, now: float, delay: float) -> None:
        self._timers[timer] = now + delay

    def _disarm(self, *timers: Input) -> None:
        for timer in timers:
            self._timers.pop(timer, None)

    # -- transport ---------------------------------------------------------------

    def transport_error(self, now: float) -> None:
        """The transport could not send a message of this transaction (§17.1.1.2,
        §17.1.2.2, §17.2.4): the transaction terminates and the TU is told.

        :param now: The current time.
        """
        self._fire(Input.TRANSPORT_ERROR, now, None)
        self.handle_timer(now)

    # -- the interpreter -----------------------------------------------------------

    def _fire(self, inp: Input, now: float, message: Message | None) -> bool:
        """Run the table entry for ``(state, inp)``; False if the input was absorbed."""
        entry = self.TABLE.get((self.state, inp))
        if entry is None:
            if inp in _TU_INPUTS:
                raise TransactionStateError(
                    f"{type(self).__name__} cannot take '{inp.value}' in state {self.state.value}"
                )
            return False
        next_state, actions = entry
        self.state = next_state
        self._input = inp
        for action in actions:
            getattr(self, action)(now, message)
        if next_state is State.TERMINATED:
            self._timers.clear()
            self._events.append(Terminated(self.key))
        return True

    # -- actions shared by several machines --------------------------------------

    def _destination_for(self, message: Message) -> Destination:
        raise NotImplementedError

    def _send(self, message: Message, *, retransmission: bool = False) -> None:
        if retransmission:
            self.retransmissions += 1
        self._outbox.append(
            Outgoing(message, self._destination_for(message), self.key, retransmission)
        )

    def _release(self, now: float, message: Message | None) -> None:
        """Drop the request: the state entered only absorbs retransmissions."""
        self._request = None

    def _local_response(self, status_code: int) -> Response:
        # §8.1.3.1: a timeout or transport failure is treated by the client TU as
        # if a 408 or 503 had been received; building it here keeps every TU from
        # re-implementing the mapping.
        return make_response(self.request, status_code)


class ClientTransaction(Transaction):
    """Common part of the two client machines (§17.1): one fixed destination.

    Every message of a client transaction — the request, its retransmissions and
    the ACK for a non-2xx response — goes to the address chosen for the request
    (§17.1.1.3: "the ACK MUST be sent to the same address, port, and transport").
    """

    key: ClientKey
    destination: Destination

    def __init__(
        self,
        key: ClientKey,
        request: Request,
        destination: Destination,
        reliable: bool,
        config: TimerConfig,
    ) -> None:
        super().__init__(key, request, reliable, config)
        self.destination = destination
        #: The final response passed to the TU, once one was.
        self.final_response: Response | None = None

    def _destination_for(self, message: Message) -> Destination:
        return self.destination

    def receive(self, response: Response, now: float) -> None:
        """Feed a response that matched this transaction (§17.1.3).

        :param now: The current time.
        """
        self._fire(response_input(response.status_code, from_tu=False), now, response)
        self.handle_timer(now)

    # -- actions ------------------------------------------------------------------

    def _to_tu(self, now: float, message: Message | None) -> None:
        assert isinstance(message, Response)
        if message.status_code >= 200 and self.final_response is None and not self.released:
            self.final_response = message
        self._events.append(ResponseReceived(self.key, message))

    def _release(self, now: float, message: Message | None) -> None:
        """Completed or Accepted: only response retransmissions are left to absorb
        (or, for a 2xx in Accepted, to pass up); neither needs the request."""
        self._request = None
        self.final_response = None

    def _retransmit_request(self, now: float, message: Message | None) -> None:
        self._send(self.request, retransmission=True)

    def _report_timeout(self, now: float, message: Message | None) -> None:
        self._events.append(TimedOut(self.key, self._input.value, self._local_response(408)))

    def _report_transport_error(self, now: float, message: Message | None) -> None:
        pending = self.final_response is None and not self.released
        response = self._local_response(503) if pending else None
        self._events.append(TransportError(self.key, response))


class ServerTransaction(Transaction):
    """Common part of the two server machines (§17.2).

    Responses go where §18.2.2 says: back over the connection the request came on
    for a reliable transport (``source``), otherwise to the top Via's
    ``received``/``rport``/sent-by (:func:`sipwright.response_target`). The I/O
    shell is expected to have stamped ``received``/``rport`` on the request
    (:func:`sipwright.stamp_received`, §18.2.1) before handing it to the layer.
    """

    key: ServerKey | LegacyServerKey
    source: Destination

    def __init__(
        self,
        key: ServerKey | LegacyServerKey,
        request: Request,
        source: Destination,
        reliable: bool,
        config: TimerConfig,
    ) -> None:
        super().__init__(key, request, reliable, config)
        self.source = source
        #: The most recent response sent (what a retransmitted request gets again).
        self.last_response: Response | None = None
        # The top Via the last destination was computed from, and that destination.
        self._dest_via: Via | None = None
        self._dest: Destination | None = None

    def _destination_for(self, message: Message) -> Destination:
        if self.reliable:
            return self.source
        assert isinstance(message, Response)
        # §18.2.2 reads only the top Via, and a Via is immutable: the responses of
        # one transaction (100, 180, 200...) share that (memoised) object, so the
        # destination is computed once per transaction, not once per response.
        vias = message.via
        if vias and vias[0] is self._dest_via and self._dest is not None:
            return self._dest
        target = response_target(message)
        dest = self._dest = Destination(target.host, target.port, target.transport)
        self._dest_via = vias[0]
        return dest

    def receive(self, request: Request, now: float) -> None:
        """Feed a request that matched this transaction: a retransmission or an ACK.

        :param now: The current time.
        """
        inp = Input.ACK if request.method == "ACK" else Input.REQUEST
        self._fire(inp, now, request)
        self.handle_timer(now)

    def send_response(self, response: Response, now: float) -> None:
        """The TU sends a response through this transaction.

        Raises :class:`TransactionStateError` when the state forbids it (for example
        a provisional response after a final one).

        :param now: The current time.
        """
        self._fire(response_input(response.status_code, from_tu=True), now, response)
        self.handle_timer(now)

    # -- actions ------------------------------------------------------------------

    def _send_response(self, now: float, message: Message | None) -> None:
        assert isinstance(message, Response)
        self.last_response = message
        self._send(message)

    def _resend_last_response(self, now: float, message: Message | None) -> None:
        if self.last_response is not None:
            self._send(self.last_response, retransmission=True)

    def _release_all(self, now: float, message: Message | None) -> None:
        """Confirmed or Accepted: nothing is resent any more (an INVITE server
        transaction's 2xx retransmissions come from the TU, RFC 6026 §7.1)."""
        self._request = None
        self.last_response = None

    def _report_transport_error(self, now: float, message: Message | None) -> None:
        self._events.append(TransportError(self.key, None))

    def _report_timeout(self, now: float, message: Message | None) -> None:
        self._events.append(TimedOut(self.key, self._input.value, None))


def to_mermaid(machine: type[Transaction]) -> str:
    """Render a machine's table as a Mermaid state diagram, to compare with the RFC figure.

    The tables are the single source of truth (h11's rule); documentation draws from
    them rather than repeating them.
    """
    lines = ["stateDiagram-v2", f"    [*] --> {machine.INITIAL.value}"]
    for (state, inp), (next_state, actions) in machine.TABLE.items():
        label = (
            inp.value if inp.value.endswith(("received", "TU", "error")) else f"Timer {inp.value}"
        )
        if inp is Input.TIMER_TRYING:
            label = inp.value
        doing = ", ".join(a.lstrip("_").replace("_", " ") for a in actions)
        lines.append(f"    {state.value} --> {next_state.value}: {label} / {doing or '-'}")
    lines.append(f"    {State.TERMINATED.value} --> [*]")
    return "\n".join(lines)
