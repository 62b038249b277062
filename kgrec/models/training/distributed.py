"""torch.distributed helpers: one process per rank, gloo on CPU, NCCL on GPU.

Two ways in: ``spawn(nproc, fn, *args)`` starts ``nproc`` local processes (``kgctl train
--nproc N``); under ``torchrun`` (multi-node) the environment already names the rank and
``init_from_env()`` joins the group.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def default_backend() -> str:
    import torch

    return "nccl" if torch.cuda.is_available() else "gloo"


def init_from_env() -> bool:
    """Join the process group torchrun describes (RANK/WORLD_SIZE/MASTER_ADDR in the environment).
    Returns True when running distributed."""
    import torch.distributed as dist

    if dist.is_initialized():
        return True
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    dist.init_process_group(default_backend())
    _pin_device()
    return True


def _pin_device() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", rank())))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(local_rank: int, nproc: int, port: int, fn: Callable, args: tuple) -> None:
    import torch
    import torch.distributed as dist

    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(local_rank),
                       "LOCAL_RANK": str(local_rank), "WORLD_SIZE": str(nproc)})
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // nproc))
    dist.init_process_group(default_backend(), rank=local_rank, world_size=nproc)
    _pin_device()
    try:
        fn(*args)
        # every rank reaches this point before the group is torn down: a rank that leaves while a
        # peer still talks to it makes gloo abort the process (seen in CI)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def spawn(nproc: int, fn: Callable[..., Any], *args: Any) -> None:
    """Run ``fn(*args)`` in ``nproc`` fresh processes joined in one process group."""
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(nproc, _free_port(), fn, args), nprocs=nproc, join=True)


def device_for_rank():
    import torch

    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", rank())))
    return torch.device("cpu")
