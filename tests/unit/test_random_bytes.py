"""The nonces AES-GCM seals with (and task ids' random bits): never repeated, not even across a fork."""

from __future__ import annotations

import os
import warnings

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


def test_a_forked_child_never_uses_the_nonces_its_parent_drew() -> None:
    encryption.seal(KEY, b"x", b"aad")  # the parent's buffer holds unused nonces now
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        # Other tests may have left threads; the child only seals and exits.
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: seal a few values and report their nonces
        try:
            os.close(read_end)
            nonces = b"".join(nonce_of(encryption.seal(KEY, b"x", b"aad")) for _ in range(5))
            os.write(write_end, nonces)
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)
    parent = b"".join(nonce_of(encryption.seal(KEY, b"x", b"aad")) for _ in range(5))
    size = encryption.NONCE_BYTES

    assert len(child) == 5 * size
    child_nonces = {child[i : i + size] for i in range(0, len(child), size)}
    parent_nonces = {parent[i : i + size] for i in range(0, len(parent), size)}
    assert not child_nonces & parent_nonces


def test_task_ids_made_in_a_forked_child_differ_from_the_parents() -> None:
    models.new_task_id()  # the parent's pool holds unused bytes now
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            os.write(write_end, random_bytes.take(64))
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = pipe.read()
    os.waitpid(pid, 0)

    assert len(child) == 64
    assert child != random_bytes.take(64)


def test_more_bytes_than_the_pool_holds_come_straight_from_the_os() -> None:
    taken = random_bytes.take(random_bytes.POOL_BYTES + 1)

    assert len(taken) == random_bytes.POOL_BYTES + 1
