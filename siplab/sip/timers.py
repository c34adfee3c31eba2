"""The SIP transaction timers, Timer A to Timer M (RFC 3261 §17, Table 4; RFC 6026).

SIP can run over UDP, which loses datagrams. Instead of relying on the
transport, every transaction keeps a few timers: some *retransmit* a message
until an answer comes, some give up (*time out*), and some keep a finished
transaction alive for a while so that late copies of old messages are
*absorbed* instead of looking like new requests.

Three constants set every timer's value:

* **T1** = 500 ms, an estimate of the round-trip time;
* **T2** = 4 s, the longest interval between two retransmissions;
* **T4** = 5 s, how long a message can stay in the network.

The timers, who runs them and what they do ("reliable" means TCP, TLS, WS)::

    timer  transaction      unreliable (UDP)         reliable  what it does
    -----  ---------------  -----------------------  --------  ---------------------------------
    A      INVITE client    T1, doubling             not used  retransmit the INVITE
    B      INVITE client    64*T1                    64*T1     give up waiting for a response
    D      INVITE client    32 s                     0         absorb retransmitted 300-699
    M      INVITE client    64*T1                    64*T1     accept 2xx from every fork (6026)
    E      non-INVITE cl.   T1, doubling up to T2    not used  retransmit the request
    F      non-INVITE cl.   64*T1                    64*T1     give up waiting for a final response
    K      non-INVITE cl.   T4                       0         absorb retransmitted responses
    G      INVITE server    T1, doubling up to T2    not used  retransmit the 300-699 response
    H      INVITE server    64*T1                    64*T1     give up waiting for the ACK
    I      INVITE server    T4                       0         absorb retransmitted ACKs
    L      INVITE server    64*T1                    64*T1     absorb INVITE copies after 2xx (6026)
    J      non-INVITE srv.  64*T1                    0         absorb retransmitted requests

With the default T1 an INVITE sent over UDP to a silent peer goes out at
0, 0.5, 1.5, 3.5, 7.5, 15.5 and 31.5 s, and Timer B ends the wait at 32 s.

:class:`TimerConfig` holds T1, T2 and T4 and answers "how long is Timer X?"; a
lab can shrink T1 to watch the same dance happen ten times faster.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerConfig", "TIMER_NAMES", "RETRANSMISSION_TIMERS"]

#: Every timer of RFC 3261 and RFC 6026, by letter. (There is no Timer C here:
#: it belongs to proxies, §16.6 step 11.)
TIMER_NAMES = ("A", "B", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M")

_LETTERS = frozenset(TIMER_NAMES)

#: Timers that retransmit; they run only over unreliable transports (§17.1.1.2).
RETRANSMISSION_TIMERS = frozenset({"A", "E", "G"})


def _letter(timer: str) -> str:
    """``"Timer A"`` or ``"A"`` -> ``"A"``."""
    if timer in _LETTERS:  # what the transactions pass, thousands of times a second
        return timer
    letter = timer.removeprefix("Timer ").strip().upper()
    if letter not in TIMER_NAMES:
        raise ValueError(f"unknown SIP timer {timer!r}; expected one of {', '.join(TIMER_NAMES)}")
    return letter


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """T1, T2 and T4 (RFC 3261 §17.1.1.1), and the timer values derived from them.

    ``timer_d`` is Timer D over UDP: the RFC asks for "at least 32 seconds"
    whatever T1 is, because it must outlast the *server's* retransmissions.
    """

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0

    def __post_init__(self) -> None:
        if not (0 < self.t1 <= self.t2):
            raise ValueError("timers need 0 < T1 <= T2")
        if self.t4 < 0 or self.timer_d < 0:
            raise ValueError("T4 and Timer D cannot be negative")

    def duration(self, timer: str, reliable: bool) -> float:
        """The value of ``timer`` (``"A"`` or ``"Timer A"``) when first started.

        For the retransmission timers A, E and G this is the *initial*
        interval (T1); they are not used at all over reliable transports (see
        :meth:`is_used`). The absorbing timers D, I, J and K are 0 over
        reliable transports: nothing is retransmitted there, so there is
        nothing to absorb.
        """
        t1 = self.t1
        match _letter(timer):
            case "A" | "E" | "G":
                return t1
            case "B" | "F" | "H" | "L" | "M":
                return 64 * t1
            case "D":
                return 0.0 if reliable else self.timer_d
            case "J":
                return 0.0 if reliable else 64 * t1
            case _:  # "I" and "K"
                return 0.0 if reliable else self.t4

    def is_used(self, timer: str, reliable: bool) -> bool:
        """False for the retransmission timers (A, E, G) over a reliable transport."""
        return not (reliable and _letter(timer) in RETRANSMISSION_TIMERS)

    def next_interval(self, timer: str, interval: float) -> float:
        """The retransmission interval after ``interval`` has elapsed.

        Timer A simply doubles (§17.1.1.2); Timers E and G double but never
        exceed T2 (§17.1.2.2, §17.2.1).
        """
        letter = _letter(timer)
        if letter == "A":
            return 2 * interval
        if letter in ("E", "G"):
            return min(2 * interval, self.t2)
        raise ValueError(f"Timer {letter} does not retransmit")
