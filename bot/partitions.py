"""Which partition a buyer's pushes belong to: every push of one (platform, shop, buyer) goes to
the same partition, so the one process that holds a partition's lease sees all of them, in order.

The hash is CRC-32, not Python's `hash()`, which differs between processes.

>>> partition_of("wangwang", "demo-tb", "tb_buyer1", partitions=64)
61
>>> partition_of("wangwang", "demo-tb", "tb_buyer1", partitions=64) == partition_of(
...     "wangwang", "demo-tb", "tb_buyer1", partitions=64)
True
>>> partition_of("wangwang", "demo-tb", "tb_buyer1", partitions=1)
0
"""

from __future__ import annotations

import zlib


def partition_of(platform: str, shop: str, buyer: str, *, partitions: int) -> int:
    return zlib.crc32(f"{platform}\x1f{shop}\x1f{buyer}".encode()) % partitions
