"""Evaluation protocols as data splits.

A :class:`ProtocolSplit` says exactly which interactions a model may fit on
(``train``), what each test customer's input is (``test_histories``), what must be
predicted (``test_relevant``) and the candidate set (always the FULL target catalog,
never sampled negatives). Validation for tuning and early stopping is carved by
applying the same protocol again to ``train`` (see :func:`validation_split`), so test
customers are never looked at before the final evaluation.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..data import CHANNEL_CODES, DatasetTooSmall, InteractionData, RecData, user_histories

__all__ = ["DatasetTooSmall", "ProtocolSplit", "cross_sell_split", "intent_split", "temporal_split",
           "validation_split"]

DAY = 86400


@dataclass
class ProtocolSplit:
    name: str
    train: InteractionData
    test_users: np.ndarray  # int64 user indices
    test_histories: list[np.ndarray]  # model input per test user: item indices of any category
    test_relevant: list[np.ndarray]  # hidden target-domain items per test user
    candidates: np.ndarray  # the full target catalog
    notes: str
    # Per test customer, what the storefront would know with the input: the share of the
    # input's orders placed online (NaN = unknown) and its latest moment (unix seconds).
    test_online_share: np.ndarray | None = None
    test_at: np.ndarray | None = None
    # Rank without the input's own items (serving never recommends what was just bought).
    exclude_history: bool = False

    @property
    def n_test(self) -> int:
        return len(self.test_users)

    def cold_items(self, data: RecData) -> np.ndarray:
        """Target items with no interaction in ``train``."""
        seen = np.zeros(len(data.items), dtype=bool)
        seen[self.train.item_idx] = True
        return np.flatnonzero(data.items.is_target & ~seen)


def _user_item_sets(inter: InteractionData, mask: np.ndarray, n_users: int) -> list[np.ndarray]:
    return user_histories(inter.subset(mask), n_users)


def _choose_test_users(eligible: np.ndarray, fraction: float, seed: int, fold: tuple[int, int] | None) -> np.ndarray:
    """A seeded random share of the eligible customers, or with ``fold=(i, k)`` the i-th of k
    disjoint parts of a seeded permutation (k-fold cross-validation)."""
    rng = np.random.default_rng(seed)
    if fold is None:
        return np.sort(rng.choice(eligible, size=int(round(len(eligible) * fraction)), replace=False))
    i, k = fold
    if not 0 <= i < k:
        raise ValueError(f"fold must be (i, k) with 0 <= i < k, got {fold}")
    return np.sort(np.array_split(rng.permutation(eligible), k)[i])


def _hold_out(inter: InteractionData, eligible: np.ndarray, fraction: float, seed: int,
              fold: tuple[int, int] | None, min_test_users: int, protocol: str,
              who: str) -> tuple[np.ndarray, np.ndarray, InteractionData]:
    """Test customers, the mask of their rows, and the interactions left to train on (test
    customers are removed from training entirely)."""
    test_users = _choose_test_users(eligible, fraction, seed, fold)
    if len(test_users) < min_test_users or len(eligible) - len(test_users) < min_test_users:
        raise DatasetTooSmall(f"{protocol} protocol needs at least {min_test_users} test and train customers "
                              f"{who}; found {len(eligible)} such customers")
    row_test = np.isin(inter.user_idx, test_users)
    return test_users, row_test, inter.subset(~row_test)


def _input_context(inter: InteractionData, rows: np.ndarray, users: np.ndarray, n_users: int) -> tuple[np.ndarray, np.ndarray]:
    """Online share and latest timestamp of each user's input rows (``rows`` is a row mask)."""
    u, ch, ts = inter.user_idx[rows], inter.channel[rows], inter.timestamp[rows]
    known = ch > 0
    n_known = np.bincount(u[known], minlength=n_users).astype(np.float64)
    n_online = np.bincount(u[known & (ch == CHANNEL_CODES["online"])], minlength=n_users).astype(np.float64)
    share = np.where(n_known > 0, n_online / np.maximum(n_known, 1), np.nan)
    latest = np.zeros(n_users, np.int64)
    np.maximum.at(latest, u, ts)
    return share[users], latest[users]


def cross_sell_split(
    data: RecData,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_history: int = 50,
    min_test_users: int = 5,
    name: str = "cross_sell",
    fold: tuple[int, int] | None = None,
) -> ProtocolSplit:
    """Customers who bought target items AND other things; split by customer.

    Test customers are removed from ``train`` entirely (unseen). Their input is their
    non-target history; their target-domain interactions are hidden and are the
    relevant set. Everyone else's interactions (both domains) are trainable.
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    inter = data.interactions
    is_tgt = data.items.is_target[inter.item_idx]
    n_users = len(data.users)
    has_tgt = np.zeros(n_users, bool)
    has_tgt[inter.user_idx[is_tgt]] = True
    has_src = np.zeros(n_users, bool)
    has_src[inter.user_idx[~is_tgt]] = True
    eligible = np.flatnonzero(has_tgt & has_src)
    test_users, row_test, train = _hold_out(inter, eligible, test_fraction, seed, fold, min_test_users,
                                            "cross-sell", "who bought both target and other items")
    n_test = len(test_users)
    src_hist = _user_item_sets(inter, row_test & ~is_tgt, n_users)
    tgt_sets = _user_item_sets(inter, row_test & is_tgt, n_users)
    histories = [src_hist[u][-max_history:] for u in test_users]
    relevant = [np.unique(tgt_sets[u]) for u in test_users]
    share, at = _input_context(inter, row_test & ~is_tgt, test_users, n_users)
    notes = (
        f"{name}: {n_test} test customers ({test_fraction:.0%} of {len(eligible)} who bought target and other items, "
        f"seed {seed}) are unseen in training; input = their non-target history (last {max_history} distinct items); "
        f"relevant = their hidden target items; candidates = full target catalog ({int(data.items.is_target.sum())} items)."
    )
    return ProtocolSplit(name, train, test_users, histories, relevant, data.items.target_items, notes, share, at)


def intent_split(
    data: RecData,
    test_fraction: float = 0.2,
    seed: int = 0,
    max_history: int = 50,
    min_test_users: int = 5,
    name: str = "intent",
    fold: tuple[int, int] | None = None,
) -> ProtocolSplit:
    """Jewelry intent: one jewel left out, everything else the customer bought as input.

    Customers with at least one target item and at least one other item (of any category);
    split by customer, test customers unseen in training. One of each test customer's
    distinct target items (chosen with ``seed``) is hidden; the input is all their other
    items, other jewelry included, which are not ranked (``exclude_history``).
    """
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    inter = data.interactions
    is_tgt = data.items.is_target[inter.item_idx]
    n_users = len(data.users)
    n_distinct = np.bincount(inter.user_idx, minlength=n_users)  # rows, a bound on distinct items
    has_tgt = np.zeros(n_users, bool)
    has_tgt[inter.user_idx[is_tgt]] = True
    eligible = np.flatnonzero(has_tgt & (n_distinct >= 2))
    all_sets = _user_item_sets(inter, np.ones(len(inter), bool), n_users)
    eligible = np.array([u for u in eligible if len(all_sets[u]) >= 2], np.int64)
    test_users, row_test, train = _hold_out(inter, eligible, test_fraction, seed, fold, min_test_users,
                                            "intent", "with a target item and another item")
    n_test = len(test_users)
    tgt_sets = _user_item_sets(inter, row_test & is_tgt, n_users)
    rng = np.random.default_rng(seed + 7919)
    held = {int(u): int(rng.choice(np.unique(tgt_sets[u]))) for u in test_users}
    is_held = np.array([held.get(int(u), -1) == int(i) for u, i in zip(inter.user_idx, inter.item_idx)])
    hist = _user_item_sets(inter, row_test & ~is_held, n_users)
    histories = [hist[u][-max_history:] for u in test_users]
    relevant = [np.array([held[int(u)]], np.int64) for u in test_users]
    share, at = _input_context(inter, row_test & ~is_held, test_users, n_users)
    notes = (
        f"{name}: {n_test} test customers ({test_fraction:.0%} of {len(eligible)} with a target item and another item, "
        f"seed {seed}) are unseen in training; one of their target items is hidden; input = everything else they "
        f"bought (last {max_history} distinct items, other jewelry included and not ranked); candidates = full target "
        f"catalog ({int(data.items.is_target.sum())} items)."
    )
    return ProtocolSplit(name, train, test_users, histories, relevant, data.items.target_items, notes, share, at,
                         exclude_history=True)


def temporal_split(
    data: RecData,
    test_days: int = 1,
    max_history: int = 50,
    min_test_users: int = 5,
    name: str = "temporal",
) -> ProtocolSplit:
    """Train on earlier days, test on target purchases of the last ``test_days`` days.

    Test customers must have history before the cut; their input is all their events
    before the cut (any category), relevant = target items they interacted with after it.
    """
    inter = data.interactions
    if len(inter) == 0:
        raise DatasetTooSmall("temporal protocol needs interactions")
    last_day = int(inter.timestamp.max()) // DAY
    cut = (last_day - test_days + 1) * DAY
    before = inter.timestamp < cut
    is_tgt = data.items.is_target[inter.item_idx]
    n_users = len(data.users)
    train = inter.subset(before)
    hist = _user_item_sets(inter, before, n_users)
    after_tgt = _user_item_sets(inter, ~before & is_tgt, n_users)
    test_users = np.array([u for u in range(n_users) if len(after_tgt[u]) and len(hist[u])], dtype=np.int64)
    if len(test_users) < min_test_users:
        raise DatasetTooSmall(
            f"temporal protocol needs at least {min_test_users} customers with history who bought target items "
            f"in the last {test_days} day(s); found {len(test_users)}"
        )
    histories = [hist[u][-max_history:] for u in test_users]
    relevant = [np.unique(after_tgt[u]) for u in test_users]
    share, at = _input_context(inter, before, test_users, n_users)
    notes = (
        f"{name}: train on events before the last {test_days} day(s); test = {len(test_users)} customers with earlier "
        f"history who bought target items in the last {test_days} day(s); input = all their earlier events "
        f"(any category, last {max_history} distinct items); candidates = full target catalog "
        f"({int(data.items.is_target.sum())} items); already-bought items are not excluded."
    )
    return ProtocolSplit(name, train, test_users, histories, relevant, data.items.target_items, notes, share, at)


def validation_split(data: RecData, split: ProtocolSplit, seed: int = 1, fraction: float = 0.15) -> ProtocolSplit:
    """The same protocol applied to ``split.train``: for tuning and early stopping, never touching test."""
    inner = data.with_interactions(split.train)
    if split.name.startswith("temporal"):
        return temporal_split(inner, test_days=1, name=f"{split.name}/validation")
    if split.name.startswith("intent"):
        return intent_split(inner, test_fraction=fraction, seed=seed, name=f"{split.name}/validation")
    return cross_sell_split(inner, test_fraction=fraction, seed=seed, name=f"{split.name}/validation")
