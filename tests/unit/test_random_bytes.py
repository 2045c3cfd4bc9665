"""The nonces AES-GCM seals with (and task ids' random bits): never repeated, not even across a fork."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable

from django_taskflow import models, random_bytes
from django_taskflow.encoding import encryption
from django_taskflow.encoding.keys import EncryptionKey

KEY = EncryptionKey(id="k1", secret=b"k" * 32)


def nonce_of(sealed: bytes) -> bytes:
    return sealed[: encryption.NONCE_BYTES]


def test_each_sealed_value_gets_a_nonce_of_its_own_across_many_refills() -> None:
    count = random_bytes.POOL_BYTES // encryption.NONCE_BYTES * 3 + 7  # several draws from the OS
    nonces = {nonce_of(encryption.seal(KEY, b"same text", b"aad")) for _ in range(count)}

    assert len(nonces) == count
    assert all(len(nonce) == encryption.NONCE_BYTES for nonce in nonces)


def from_a_forked_child(produce: Callable[[], bytes]) -> bytes:
    """What ``produce()`` returns in a child forked from this process now."""
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Other tests may have left threads; the child only produces and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, produce())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        produced = pipe.read()
    os.waitpid(pid, 0)
    return produced


def five_nonces() -> bytes:
    return b"".join(nonce_of(encryption.seal(KEY, b"x", b"aad")) for _ in range(5))


def random_bits_of_five_task_ids() -> bytes:
    return b"".join((models.new_task_id().int & ((1 << 62) - 1)).to_bytes(8) for _ in range(5))


def chunks(data: bytes, size: int) -> set[bytes]:
    return {data[i : i + size] for i in range(0, len(data), size)}


def test_a_forked_child_never_uses_the_nonces_its_parent_drew() -> None:
    encryption.seal(KEY, b"x", b"aad")  # the parent's pool holds unused bytes now
    child = from_a_forked_child(five_nonces)
    parent = five_nonces()

    assert len(child) == 5 * encryption.NONCE_BYTES
    assert not chunks(child, encryption.NONCE_BYTES) & chunks(parent, encryption.NONCE_BYTES)


def test_task_ids_made_in_a_forked_child_have_random_bits_of_their_own() -> None:
    models.new_task_id()  # the parent's pool holds unused bytes now
    child = from_a_forked_child(random_bits_of_five_task_ids)
    parent = random_bits_of_five_task_ids()

    assert len(child) == 5 * 8
    assert not chunks(child, 8) & chunks(parent, 8)


def test_more_bytes_than_the_pool_holds_come_straight_from_the_os() -> None:
    taken = random_bytes.take(random_bytes.POOL_BYTES + 1)

    assert len(taken) == random_bytes.POOL_BYTES + 1
