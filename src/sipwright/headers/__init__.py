"""Header collection and typed header values (RFC 3261 §20)."""

from .address import Contact, NameAddr, parse_contact, parse_name_addr
from .auth import AuthHeader, parse_auth
from .container import HeaderField, Headers
from .cseq import CSeq, parse_cseq
from .misc import MediaType, ParamHeader, parse_media_type, parse_param_header
from .names import COMPACT_FORMS, LIST_HEADERS, SINGLETON_HEADERS, canonical_name, header_key
from .params import Params, parse_params, quote, split_commas, unquote
from .via import BRANCH_COOKIE, Via, parse_via

__all__ = [
    "BRANCH_COOKIE",
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "SINGLETON_HEADERS",
    "AuthHeader",
    "CSeq",
    "Contact",
    "HeaderField",
    "Headers",
    "MediaType",
    "NameAddr",
    "ParamHeader",
    "Params",
    "Via",
    "canonical_name",
    "header_key",
    "parse_auth",
    "parse_contact",
    "parse_cseq",
    "parse_media_type",
    "parse_name_addr",
    "parse_param_header",
    "parse_params",
    "parse_via",
    "quote",
    "split_commas",
    "unquote",
]
