"""The server layer behind ``sipwright serve``: location store, registrar and proxy I/O.

Like ``aio/``, this package is part of the I/O shell: it may use asyncio, sockets and
sqlite3. The rules it applies (registrar §10.3, proxy §16) live in the sans-I/O core.
"""
