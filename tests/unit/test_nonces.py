"""The nonces AES-GCM seals with: random, never repeated, not even across a fork."""

from __future__ import annotations

import os
import warnings

from django_taskflow.encoding import encryption
from django_taskflow.encoding.keys import EncryptionKey

KEY = EncryptionKey(id="k1", secret=b"k" * 32)


def nonce_of(sealed: bytes) -> bytes:
    return sealed[: encryption.NONCE_BYTES]


def test_each_sealed_value_gets_a_nonce_of_its_own_across_many_refills() -> None:
    count = encryption._Nonces.BATCH * 3 + 7  # past several draws from the OS
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
