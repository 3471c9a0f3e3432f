"""Shared pytest fixtures.

Sections are clearly delimited: append new fixtures in their own section at the end of the file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hub_server import LocalHub, configure_hf_clients, reset_hf_client_state

# ======================================================================================================================
# Local Hugging Face Hub (tests/hub_server.py)
#
#   def test_push(local_hub: LocalHub) -> None:
#       HfApi().create_repo("test-user/my-model")          # goes to local_hub.url, authenticated with HF_TOKEN
#       ...
#       set_offline(monkeypatch, True)                      # simulate HF_HUB_OFFLINE=1 (`from tests.hub_server import
#                                                           # set_offline`), e.g. to test cache fallbacks
#
# `local_hub` starts a fresh server per test and points huggingface_hub / transformers / datasets at it, with a
# per-test cache under `tmp_path / "hf_home"` (`local_hub_home` fixture). Everything is undone after the test.
# ======================================================================================================================


@pytest.fixture
def local_hub_home(tmp_path: Path) -> Path:
    """The ``HF_HOME`` used while ``local_hub`` is active (hub cache in ``<it>/hub``, datasets in ``<it>/datasets``)."""
    return tmp_path / "hf_home"


@pytest.fixture
def local_hub(tmp_path: Path, local_hub_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalHub]:
    """A fresh Hub-compatible server, with the Hugging Face libraries pointed at it for the duration of the test.

    Sets ``HF_ENDPOINT=<hub.url>``, ``HF_TOKEN=<hub.token>``, ``HF_HUB_DISABLE_XET=1``, ``HF_HOME=<local_hub_home>``,
    ``HF_HUB_DISABLE_TELEMETRY=1``, ``HF_HUB_OFFLINE=0`` and patches the module-level constants of
    ``huggingface_hub``, ``transformers`` and ``datasets`` accordingly (see ``configure_hf_clients``).
    """
    hub = LocalHub(root=tmp_path / "local_hub_storage").start()
    try:
        configure_hf_clients(monkeypatch, endpoint=hub.url, token=hub.token, hf_home=local_hub_home)
        yield hub
    finally:
        reset_hf_client_state()  # close pooled connections to this server before it stops
        hub.stop()


# ======================================================================================================================
# End of the local Hub section. Other fixtures go below.
# ======================================================================================================================


# ======================================================================================================================
# One torch thread
#
#   pytestmark = pytest.mark.usefixtures("one_torch_thread")      # at the top of a test module
# ======================================================================================================================


@pytest.fixture
def one_thread_frozen_gc(one_torch_thread: None) -> Iterator[None]:
    """One torch thread (:func:`one_torch_thread`) and ``gc.freeze()``: freezing gc makes Trainer's gc cheap (the
    harness tests train many tiny runs)."""
    import gc

    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@pytest.fixture
def one_torch_thread() -> Iterator[None]:
    """Tiny models run fastest on one thread (and the machine is shared): ``torch.set_num_threads(1)`` for the test."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
