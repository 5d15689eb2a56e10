"""Why a peer refused a transfer; answered as {"ok": false, "error": ...} like the module's sender errors."""

from __future__ import annotations


class TransferRefused(Exception):
    """A transfer the bank rules refuse: same account, non-positive amount, missing account, no funds."""


def check_transfer_args(from_id: int, to_id: int, amount: int) -> None:
    if from_id == to_id:
        raise TransferRefused(f"cannot transfer from account {from_id} to itself")
    if amount <= 0:
        raise TransferRefused(f"amount must be positive, got {amount}")
