"""Status codes and their reason phrases (RFC 3261 §21 and later RFCs).

The first digit says what kind of answer it is:

* 1xx provisional: the request is being worked on (100 Trying, 180 Ringing);
* 2xx success; 3xx redirection (try another URI, given in Contact);
* 4xx the request was wrong for this server (404 Not Found, 486 Busy Here);
* 5xx the server failed; 6xx global failure (603 Decline: nowhere else will do).

The reason phrase is only for people: a user agent acts on the number alone.
"""

from __future__ import annotations

__all__ = ["REASON_PHRASES", "reason_phrase", "status_class"]

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    """The RFC's reason phrase for ``status``, or a generic one for its class."""
    phrase = REASON_PHRASES.get(status)
    if phrase is not None:
        return phrase
    return {
        1: "Provisional",
        2: "Success",
        3: "Redirection",
        4: "Client Error",
        5: "Server Error",
        6: "Global Failure",
    }.get(status // 100, "Unknown")


def status_class(status: int) -> int:
    """1 for 1xx, 2 for 2xx, and so on."""
    return status // 100
