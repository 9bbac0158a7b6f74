"""RFC 3261 §25 grammar fragments shared by the message layer.

Each pattern sits under the ABNF rule it implements. They are regex *strings*
composed here and compiled by the modules that use them (the h11 ``_abnf``
idea), so the grammar stays readable in one place.
"""

from __future__ import annotations

import re

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
TOKEN_RE = re.compile(TOKEN)

# Method = INVITEm / ACKm / ... / extension-method ; extension-method = token
METHOD_RE = TOKEN_RE

# header-name = token  (RFC 3261 §7.3.1: HCOLON = *( SP / HTAB ) ":" SWS)
HEADER_NAME_RE = TOKEN_RE

# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT
SIP_VERSION_RE = re.compile(r"SIP/[0-9]+\.[0-9]+", re.IGNORECASE)

# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#        "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}" )
# callid = word [ "@" word ]
WORD = r"[A-Za-z0-9\-.!%*_+`'~()<>:\\\"/\[\]?{}]+"
CALLID_RE = re.compile(rf"{WORD}(?:@{WORD})?")

# rfc1123-date = wkday "," SP date1 SP time SP "GMT"   (RFC 3261 §20.17, §25.1)
RFC1123_DATE_RE = re.compile(
    r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
    r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
    r"[0-9]{2}:[0-9]{2}:[0-9]{2} GMT"
)

# LWS = [*WSP CRLF] 1*WSP ; after unfolding only SP / HTAB remain
WSP = " \t"

# The largest value a 32-bit unsigned field may carry (CSeq §8.1.1.5, delta-seconds).
UINT32_MAX = 2**32 - 1

#: What :func:`ascii_int` returns for a number too long to be meaningful.
TOO_LARGE = 10**20


def ascii_int(text: str) -> int | None:
    """``1*DIGIT`` as an int, or None if ``text`` is not ASCII digits.

    ``str.isdigit`` also accepts digits like "²" that ``int`` refuses, and
    ``int`` refuses strings of over 4300 digits; neither may escape as a
    ValueError from network input. Numbers of more than 20 significant
    digits come back as :data:`TOO_LARGE`, above every limit SIP uses.
    """
    if not text.isascii() or not text.isdigit():
        return None
    if len(text) > 20:
        text = text.lstrip("0")
        if len(text) > 20:
            return TOO_LARGE
    return int(text) if text else 0
