"""server/memory.py: what an idle server gives back."""

from __future__ import annotations


def test_clear_caches_empties_lru_and_registered_tables() -> None:
    """The caches an idle server empties: lru caches and the registered tables."""
    from sipwright._netaddr import ip_of
    from sipwright.proxy.forward import _destinations, destination_of
    from sipwright.server.memory import clear_caches
    from sipwright.uri import parse_uri

    # From a clean state: an earlier test's idle server may have emptied the tables,
    # and destination_of answers a URI object it just saw without its table.
    clear_caches()
    ip_of("192.0.2.1")
    destination_of(parse_uri("sip:192.0.2.1:5070"))
    assert ip_of.cache_info().currsize > 0 and _destinations
    clear_caches()
    assert ip_of.cache_info().currsize == 0 and not _destinations
    assert destination_of(parse_uri("sip:192.0.2.1:5070")) is not None  # refills
