"""Where tags, branches and Call-IDs come from (RFC 3261 §19.3, §8.1.1.7, §8.1.1.4)."""

from __future__ import annotations

import multiprocessing
import string
import threading

from siplab.ids import BRANCH_MAGIC_COOKIE, IdSource


def test_unseeded_ids_have_their_lengths_and_hex_digits() -> None:
    ids = IdSource()
    assert len(ids.tag()) == 10  # 40 random bits, over the 32 of §19.3
    branch = ids.branch()
    assert branch.startswith(BRANCH_MAGIC_COOKIE)
    assert len(branch) == 7 + 16
    assert ids.call_id("example.com").endswith("@example.com")
    for token in (ids.tag(), ids.cnonce(), ids.token(13), branch[7:]):
        assert set(token) <= set(string.hexdigits.lower())
    assert len(ids.token(13)) == 13
    assert len(ids.nonce_bytes(16)) == 16


def test_unseeded_tags_do_not_repeat() -> None:
    ids = IdSource()
    tags = [ids.tag() for _ in range(20_000)]  # several refills of the byte pool
    assert len(set(tags)) == len(tags)


def test_unseeded_nonce_bytes_do_not_repeat_across_pool_refills() -> None:
    ids = IdSource()
    chunks = [ids.nonce_bytes(8) for _ in range(2_000)] + [ids.nonce_bytes(10_000)]
    assert len(set(chunks)) == len(chunks)
    assert len(chunks[-1]) == 10_000  # more than one pool's worth still comes whole


def test_seeded_sources_repeat_themselves() -> None:
    a, b = IdSource(7), IdSource(7)
    assert [a.tag(), a.branch(), a.call_id()] == [b.tag(), b.branch(), b.call_id()]
    assert IdSource(8).tag() != IdSource(7).tag()


def test_threads_sharing_a_source_never_get_the_same_tag() -> None:
    ids = IdSource()
    results: list[list[str]] = [[] for _ in range(4)]

    def draw(into: list[str]) -> None:
        into.extend(ids.tag() for _ in range(5_000))

    threads = [threading.Thread(target=draw, args=(r,)) for r in results]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    tags = [tag for r in results for tag in r]
    assert len(tags) == 20_000
    assert len(set(tags)) == 20_000


def _child_tags(ids: IdSource, queue: multiprocessing.Queue[list[str]]) -> None:
    queue.put([ids.tag() for _ in range(50)])


def test_a_forked_child_does_not_repeat_its_parents_tags() -> None:
    ids = IdSource()
    ids.tag()  # the pool is filled before the fork
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[list[str]] = context.Queue()
    child = context.Process(target=_child_tags, args=(ids, queue))
    child.start()
    theirs = queue.get(timeout=10)
    child.join(10)
    ours = [ids.tag() for _ in range(50)]
    assert not set(ours) & set(theirs)
