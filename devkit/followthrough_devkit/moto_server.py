"""moto's server for local runs, with table queries that read only the queried partition.

moto answers a ``Query`` on a table by sorting every item of the table and keeping
the queried partition's (``Table.all_items``). A soak's table holds hundreds of
thousands of items, so each collect spent seconds inside moto, and the run got
slower as the table grew. Here a ``Query`` without an index gives moto only the
partition it asked for; moto's own code still does everything else (key
conditions, filters, order, limits, pagination), so the answers are the same
(``tests/test_local_aws.py`` compares them with unpatched moto's).

Run as ``python -m followthrough_devkit.moto_server -H 127.0.0.1 -p <port>``
(``start_moto_process``); in-process moto is left as it is.
"""

from __future__ import annotations

import inspect
import sys
import threading
from typing import Any

from moto.dynamodb.models.table import Table

_moto_all_items = Table.all_items
_moto_query = Table.query
_QUERY_SIGNATURE = inspect.signature(_moto_query)
_asked = threading.local()  # the partition the current thread's query reads (moto serves requests in threads)


def _all_items(self: Table) -> Any:
    partition_key = getattr(_asked, "partition", None)
    if partition_key is None:
        return _moto_all_items(self)
    partition = self.items.get(partition_key)
    if partition is None:
        return []
    # unsorted: moto sorts the partition's items itself after picking them
    return list(partition.values()) if self.range_key_attr else [partition]


def _query(self: Table, *args: Any, **kwargs: Any) -> Any:
    bound = _QUERY_SIGNATURE.bind(self, *args, **kwargs)
    if bound.arguments.get("index_name") or bound.arguments.get("hash_key") is None:
        return _moto_query(self, *args, **kwargs)
    _asked.partition = bound.arguments["hash_key"]
    try:
        return _moto_query(self, *args, **kwargs)
    finally:
        _asked.partition = None


def install() -> None:
    """Patch moto's ``Table`` in this process."""
    Table.all_items = _all_items  # type: ignore[method-assign]
    Table.query = _query  # type: ignore[method-assign]


def main() -> None:
    from moto.server import main as moto_main

    install()
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
