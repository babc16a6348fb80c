"""Candidate sources of the blend: small statistics of the training interactions, each of
which scores every target (jewelry) item for one shopper.

Everything is fitted once (``SignalTables.fit``) into plain arrays that serving loads as they
are: per-day, per-channel purchase counts; jewelry->jewelry and any-item->jewelry
co-occurrence neighbour lists with shrinkage; department->jewelry association; type and
colour codes; item vectors. A shopper is a :class:`~recommender.ml.data.UserContext`: history
(any category, oldest first, with event weights), cart, channel mix and moment.

Each source returns one column of a (n_targets, n_sources) feature matrix; ``evidence``
says which of the shopper's own items put a value there, so a reason can name it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from ..common.matrix import top_k_unordered
from ..data import CHANNEL_CODES, EVENT_TYPES, InteractionData, RecData, UserContext

SOURCES: tuple[str, ...] = (
    "channel_popularity",  # time-decayed purchases in the shopper's channel mix, around their day
    "trending",  # recent velocity: the last two days against the days before
    "co_jewelry",  # jewelry bought by the customers who bought the shopper's jewelry (item-kNN)
    "co_purchase",  # jewelry bought with the shopper's other items (garments, shoes...)
    "department_affinity",  # the jewelry types favoured by buyers of the shopper's departments
    "colour_match",  # the jewelry colours favoured by buyers of the shopper's garment colours
    "segment_affinity",  # the jewelry line (section) favoured by the shopper's index groups (ladies, men, divided...)
    "price_affinity",  # the jewelry price band favoured by shoppers of the shopper's price band
    "type_affinity",  # the product types of jewelry the shopper touched
    "colour_affinity",  # the colours of jewelry the shopper touched (gold, silver...)
    "content",  # nearest in the 512-d item space to jewelry the shopper touched: reaches new items
)
IX = {name: i for i, name in enumerate(SOURCES)}
DAY = 86_400
NEIGHBOURS = 50
# Each history item's weight falls by this factor per position back from the most recent:
# what the shopper did last says most about what they want now.
RECENCY_DECAY = 0.85
# Pseudo-customers added to both sides of a lift: a pair seen once or twice stays near 0
# (measured: 5 beat 1 and 20 on the sample's colour and department tables).
LIFT_PRIOR = 5.0
MAX_ANCHORS = 8  # jewelry history items the content source compares with: the latest say most
# Precomputed candidate lists, for catalogs too large to score whole per request.
POPULAR_PER_CHANNEL = 300
TOP_PER_CODE = 100


def _day(ts: np.ndarray | int) -> np.ndarray | int:
    return np.asarray(ts) // DAY if not isinstance(ts, (int, np.integer)) else int(ts) // DAY


def _top_k_rows(m: sparse.csr_matrix, k: int) -> sparse.csr_matrix:
    """Keep the ``k`` largest entries of each row (neighbour lists, precomputed once)."""
    m = m.tocsr()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        a, b = m.indptr[r], m.indptr[r + 1]
        if a == b:
            continue
        v, c = m.data[a:b], m.indices[a:b]
        if b - a > k:
            keep = top_k_unordered(v, k)
            v, c = v[keep], c[keep]
        rows.append(np.full(len(c), r)), cols.append(c), vals.append(v)
    if not rows:
        return sparse.csr_matrix(m.shape, dtype=np.float32)
    return sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                             shape=m.shape, dtype=np.float32)


def _shrunk_cosine(co: sparse.csr_matrix, n_row: np.ndarray, n_col: np.ndarray, shrink: float) -> sparse.csr_matrix:
    """co[i, j] / (sqrt(n_i n_j) + shrink): a pair seen by one customer counts for little."""
    co = co.tocoo()
    denom = np.sqrt(n_row[co.row] * n_col[co.col]) + shrink
    return sparse.csr_matrix((co.data / denom, (co.row, co.col)), shape=co.shape, dtype=np.float32)


@dataclass
class SignalTables:
    """The fitted statistics. Item positions are indices into ``targets`` (the jewelry)."""

    targets: np.ndarray  # (T,) item indices of the target domain
    n_items: int
    first_day: int  # unix day of counts[:, 0]
    counts: np.ndarray  # (3, D, T) float32: purchases per channel code (0 unknown, 1 store, 2 online), day
    online_share: float  # share of orders placed online, over all customers
    co_jewelry: sparse.csr_matrix  # (T, T) shrunk co-occurrence, top neighbours per row
    co_purchase: sparse.csr_matrix  # (n_items, T) any item -> jewelry, top neighbours per row
    dept_of: np.ndarray  # (n_items,) department code per item
    dept_lift: np.ndarray  # (n_departments, n_types) log lift of a jewelry type among a department's buyers
    shade_of: np.ndarray  # (n_items,) perceived colour (colour master) code per item
    colour_lift: np.ndarray  # (n_shades, n_colours) log lift of a jewelry colour among a shade's buyers
    group_of: np.ndarray  # (n_items,) index-group code per item
    section_of: np.ndarray  # (T,) section code per jewel
    segment_lift: np.ndarray  # (n_groups, n_sections) log lift of a jewelry section among a group's buyers
    price_of: np.ndarray  # (n_items,) price-band code per item (0 = unknown)
    price_lift: np.ndarray  # (n_bands, n_bands) log lift of a jewelry band among a band's buyers
    type_of: np.ndarray  # (T,) product type code
    colour_of: np.ndarray  # (T,) colour code
    vectors: np.ndarray  # (T, d) float32 unit rows (zeros where none)
    popular: np.ndarray  # (3, POPULAR_PER_CHANNEL) best-selling target positions per channel code (-1 pad)
    type_top: np.ndarray  # (n_types, TOP_PER_CODE) best sellers of each product type (-1 pad)
    colour_top: np.ndarray  # (n_colours, TOP_PER_CODE) best sellers of each colour (-1 pad)
    half_life_days: float = 1.0

    # ---- fitting -------------------------------------------------------------------------
    @classmethod
    def fit(cls, data: RecData, train: InteractionData, *, shrink: float = 5.0, half_life_days: float = 1.0) -> "SignalTables":
        items = data.items
        targets = items.target_items.astype(np.int64)
        n_items, n_t = len(items), len(targets)
        pos = np.full(n_items, -1, np.int64)
        pos[targets] = np.arange(n_t)

        is_t = items.is_target[train.item_idx]
        t_users, t_items = train.user_idx[is_t], pos[train.item_idx[is_t]]
        days = _day(train.timestamp)
        first_day = int(days.min()) if len(days) else 0
        n_days = int(days.max() - first_day + 1) if len(days) else 1
        counts = np.zeros((3, n_days, n_t), np.float32)
        # Purchases only: a view is not a sale, and popularity is what sells.
        buy = train.event_type[is_t] == EVENT_TYPES.index("purchase")
        np.add.at(counts, (train.channel[is_t][buy], days[is_t][buy] - first_day, t_items[buy]), 1.0)
        known = train.channel > 0
        online_share = float((train.channel[known] == CHANNEL_CODES["online"]).mean()) if known.any() else 0.5

        # customer x item incidence (binary), the basis of every co-occurrence table
        n_users = int(train.user_idx.max()) + 1 if len(train) else 0
        ui = sparse.csr_matrix((np.ones(len(train), np.float32), (train.user_idx, train.item_idx)),
                               shape=(n_users, n_items))
        ui.data[:] = 1.0
        ui_t = ui[:, targets].tocsc()
        n_item_buyers = np.asarray(ui.sum(axis=0)).ravel()
        n_t_buyers = n_item_buyers[targets]

        co_jj = (ui_t.T @ ui_t).tocsr()
        co_jj.setdiag(0.0)
        co_jj.eliminate_zeros()
        co_jewelry = _top_k_rows(_shrunk_cosine(co_jj, n_t_buyers, n_t_buyers, shrink), NEIGHBOURS)

        # jewelry->jewelry is co_jewelry's job: the other items' incidence alone
        non_t = sparse.csr_matrix((np.ones(int((~is_t).sum()), np.float32), (train.user_idx[~is_t], train.item_idx[~is_t])),
                                  shape=(n_users, n_items))
        non_t.data[:] = 1.0
        co_ij = (non_t.T.tocsr() @ ui_t).tocsr()
        co_purchase = _top_k_rows(_shrunk_cosine(co_ij, n_item_buyers, n_t_buyers, shrink), NEIGHBOURS)

        def codes(name: str) -> np.ndarray:
            return items.attributes.get(name, np.zeros(n_items, np.int64)).astype(np.int64)

        jewel_buyers = sparse.csr_matrix((np.ones(len(t_users), np.float32), (t_users, t_items)), shape=(n_users, n_t))
        dept_of, group_of, price_of = codes("department"), codes("index_group"), codes("price_bucket")
        section_of = codes("section")[targets]
        other_u, other_i = train.user_idx[~is_t], train.item_idx[~is_t]
        type_of, colour_of = codes("product_type")[targets], codes("colour")[targets]
        dept_lift = _lift(other_u, dept_of[other_i], _by_code(jewel_buyers, type_of), n_users)
        shade_of = codes("colour_master")
        colour_lift = _lift(other_u, shade_of[other_i], _by_code(jewel_buyers, colour_of), n_users)
        segment_lift = _lift(train.user_idx, group_of[train.item_idx],
                             _by_code(jewel_buyers, section_of), n_users)
        priced = price_of[other_i] > 0
        price_lift = _lift(other_u[priced], price_of[other_i][priced],
                           _by_code(jewel_buyers, price_of[targets]), n_users)

        vec = items.vectors if items.vectors is not None else np.zeros((n_items, 0), np.float32)
        if vec.shape[1]:
            norms = np.linalg.norm(vec, axis=1, keepdims=True)
            vec = np.where(norms > 0, vec / np.maximum(norms, 1e-12), 0.0).astype(np.float32)
        return cls(
            targets=targets, n_items=n_items, first_day=first_day, counts=counts, online_share=online_share,
            co_jewelry=co_jewelry, co_purchase=co_purchase, dept_of=dept_of, dept_lift=dept_lift,
            shade_of=shade_of, colour_lift=colour_lift,
            group_of=group_of, section_of=section_of, segment_lift=segment_lift, price_of=price_of, price_lift=price_lift,
            type_of=type_of, colour_of=colour_of,
            vectors=vec[targets].astype(np.float32), half_life_days=half_life_days,
            popular=np.stack([_top(counts[c].sum(axis=0), np.zeros(n_t, np.int64), 1, POPULAR_PER_CHANNEL)[0]
                              for c in range(3)]),
            type_top=_top(counts.sum(axis=(0, 1)), type_of, int(type_of.max(initial=0)) + 1, TOP_PER_CODE),
            colour_top=_top(counts.sum(axis=(0, 1)), colour_of, int(colour_of.max(initial=0)) + 1, TOP_PER_CODE),
        )

    # ---- scoring one shopper ---------------------------------------------------------------
    @property
    def last_day(self) -> int:
        return self.first_day + self.counts.shape[1] - 1

    def target_position(self) -> np.ndarray:
        pos = np.full(self.n_items, -1, np.int64)
        pos[self.targets] = np.arange(len(self.targets))
        return pos

    def features(self, user: UserContext, pos: np.ndarray | None = None,
                 cand: np.ndarray | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(len(cand), len(SOURCES)) raw source values for one shopper over the target positions
        ``cand`` (default: every target), and per source the history item behind each value
        (-1 where none: a popularity source has no one item)."""
        pos = self.target_position() if pos is None else pos
        n_t = len(self.targets)
        idx = np.arange(n_t) if cand is None else np.asarray(cand, np.int64)
        hist, w = self._history(user)
        feats = np.zeros((len(idx), len(SOURCES)), np.float32)
        evidence = [np.full(len(idx), -1, np.int64) for _ in SOURCES]

        day = self.last_day if user.at is None else int(np.clip(_day(user.at), self.first_day, self.last_day))
        share = self.online_share if user.online_share is None else float(user.online_share)
        counts = self.counts[:, :, idx]
        d = np.arange(self.counts.shape[1]) + self.first_day
        kernel = 0.5 ** (np.abs(d - day) / self.half_life_days)
        by_channel = np.tensordot(kernel, counts, axes=([0], [1]))  # (3, len(idx))
        mix = by_channel[0] + (1.0 - share) * by_channel[1] + share * by_channel[2]
        feats[:, IX["channel_popularity"]] = np.log1p(mix)
        recent = counts[:, max(0, day - self.first_day - 1): day - self.first_day + 1].sum(axis=(0, 1))
        before = counts[:, : max(0, day - self.first_day - 1)].sum(axis=(0, 1))
        n_before = max(day - self.first_day - 1, 1)
        feats[:, IX["trending"]] = np.log((recent + 1.0) / (2.0 * before / n_before + 1.0))

        type_of, colour_of = self.type_of[idx], self.colour_of[idx]
        t_pos = pos[hist]
        jewel = t_pos >= 0
        if jewel.any():
            c = IX["co_jewelry"]
            full, who = _weighted_neighbours(self.co_jewelry, t_pos[jewel], w[jewel], hist[jewel], n_t)
            feats[:, c], evidence[c] = full[idx], who[idx]
            wt = w[jewel] / w[jewel].sum()
            types = np.bincount(self.type_of[t_pos[jewel]], weights=wt, minlength=int(self.type_of.max()) + 1)
            colours = np.bincount(self.colour_of[t_pos[jewel]], weights=wt, minlength=int(self.colour_of.max()) + 1)
            c = IX["type_affinity"]
            feats[:, c], evidence[c] = types[type_of], _latest_with(type_of, self.type_of[t_pos[jewel]], hist[jewel])
            c = IX["colour_affinity"]
            feats[:, c], evidence[c] = colours[colour_of], _latest_with(colour_of, self.colour_of[t_pos[jewel]], hist[jewel])
            if self.vectors.shape[1]:
                anchors = self.vectors[t_pos[jewel]][-MAX_ANCHORS:]
                has = np.abs(anchors).sum(axis=1) > 0
                if has.any():
                    sims = anchors[has] @ self.vectors[idx].T  # (anchors, len(idx))
                    c = IX["content"]
                    feats[:, c] = sims.max(axis=0)
                    evidence[c] = hist[jewel][-MAX_ANCHORS:][has][sims.argmax(axis=0)]
        other = ~jewel
        if other.any():
            c = IX["co_purchase"]
            full, who = _weighted_neighbours(self.co_purchase, hist[other], w[other], hist[other], n_t)
            feats[:, c], evidence[c] = full[idx], who[idx]
            wd = w[other] / w[other].sum()
            dept = wd @ self.dept_lift[_known(self.dept_of[hist[other]], len(self.dept_lift))]
            feats[:, IX["department_affinity"]] = dept[_known(type_of, self.dept_lift.shape[1])]
            shade = wd @ self.colour_lift[_known(self.shade_of[hist[other]], len(self.colour_lift))]
            feats[:, IX["colour_match"]] = shade[_known(colour_of, self.colour_lift.shape[1])]
            bands = self.price_of[hist[other]]
            if (bands > 0).any():
                wb = wd[bands > 0] / wd[bands > 0].sum()
                band = wb @ self.price_lift[_known(bands[bands > 0], len(self.price_lift))]
                feats[:, IX["price_affinity"]] = band[_known(self.price_of[self.targets[idx]], self.price_lift.shape[1])]
        if len(hist):
            groups = _known(self.group_of[hist], len(self.segment_lift))
            segment = (w / w.sum()) @ self.segment_lift[groups]
            feats[:, IX["segment_affinity"]] = segment[_known(self.section_of[idx], self.segment_lift.shape[1])]
        return feats, evidence

    def _history(self, user: UserContext) -> tuple[np.ndarray, np.ndarray]:
        """The shopper's items (history, then the basket) and their weights, most recent last."""
        hist = np.concatenate([user.history, user.cart]).astype(np.int64)
        w = np.concatenate([user.history_weight, np.ones(len(user.cart), np.float32)]).astype(np.float32)
        valid = (hist >= 0) & (hist < self.n_items)
        hist, w = hist[valid], w[valid]
        # what the shopper did last says most (the cart is the freshest of all)
        return hist, w * RECENCY_DECAY ** np.arange(len(hist) - 1, -1, -1, dtype=np.float32)

    def candidates(self, user: UserContext, pos: np.ndarray | None = None) -> np.ndarray:
        """The target positions worth scoring for this shopper in a large catalog, read from
        precomputed lists: the best sellers of each channel, the neighbours of their items,
        and the best sellers of the jewelry types and colours they touched."""
        pos = self.target_position() if pos is None else pos
        hist, _ = self._history(user)
        t_pos = pos[hist]
        parts = [self.popular.ravel()]
        for table, rows in ((self.co_jewelry, t_pos[t_pos >= 0]), (self.co_purchase, hist[t_pos < 0])):
            for r in rows.tolist():
                parts.append(table.indices[table.indptr[r]:table.indptr[r + 1]])
        touched = t_pos[t_pos >= 0]
        if len(touched):
            parts.append(self.type_top[_known(self.type_of[touched], len(self.type_top))].ravel())
            parts.append(self.colour_top[_known(self.colour_of[touched], len(self.colour_top))].ravel())
            parts.append(touched)
        out = np.unique(np.concatenate(parts))
        return out[out >= 0]


def _weighted_neighbours(table: sparse.csr_matrix, rows: np.ndarray, weights: np.ndarray, items: np.ndarray,
                         n_t: int) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the rows' neighbour lists, weighted; and which row contributed most to each target."""
    out = np.zeros(n_t, np.float32)
    best = np.zeros(n_t, np.float32)
    who = np.full(n_t, -1, np.int64)
    for r, wt, item in zip(rows.tolist(), weights.tolist(), items.tolist()):
        a, b = table.indptr[r], table.indptr[r + 1]
        if a == b:
            continue
        cols, vals = table.indices[a:b], table.data[a:b] * wt
        out[cols] += vals
        better = vals > best[cols]
        best[cols[better]] = vals[better]
        who[cols[better]] = item
    return out, who


def _top(sales: np.ndarray, codes: np.ndarray, n_codes: int, k: int) -> np.ndarray:
    """(n_codes, k) the best-selling target positions of each code, best first (-1 pad)."""
    out = np.full((n_codes, k), -1, np.int64)
    order = np.lexsort((np.arange(len(sales)), -sales))
    for code in range(n_codes):
        mine = order[codes[order] == code][:k]
        out[code, : len(mine)] = mine
    return out


def _known(codes: np.ndarray, n: int) -> np.ndarray:
    """Codes a table has a row for; a code it never saw reads row 0 ("unknown")."""
    return np.where(codes < n, codes, 0)


def _by_code(jewel_buyers: sparse.csr_matrix, code_of_target: np.ndarray) -> sparse.csr_matrix:
    """Customer x jewel incidence folded to customer x code of the jewel (binary)."""
    n_codes = int(code_of_target.max()) + 1 if len(code_of_target) else 1
    fold = sparse.csr_matrix((np.ones(len(code_of_target), np.float32), (np.arange(len(code_of_target)), code_of_target)),
                             shape=(len(code_of_target), n_codes))
    out = (jewel_buyers @ fold).tocsr()
    out.data[:] = 1.0
    return out


def _lift(users: np.ndarray, user_codes: np.ndarray, target_buyers: sparse.csr_matrix, n_users: int) -> np.ndarray:
    """(n_user_codes, n_targets) log((observed + prior) / (expected + prior)) of customers who have a
    code among their items and bought a target: 0 where the code says nothing."""
    n_codes = int(user_codes.max()) + 1 if len(user_codes) else 1
    has = sparse.csr_matrix((np.ones(len(users), np.float32), (users, user_codes)), shape=(n_users, n_codes))
    has.data[:] = 1.0
    observed = np.asarray((has.T @ target_buyers).todense(), np.float32)
    n_code = np.asarray(has.sum(axis=0)).ravel()[:, None]
    p_target = (np.asarray(target_buyers.sum(axis=0)).ravel() + 1.0) / (n_users + target_buyers.shape[1])
    return np.log((observed + LIFT_PRIOR) / (n_code * p_target[None, :] + LIFT_PRIOR)).astype(np.float32)


def _latest_with(codes: np.ndarray, history_codes: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Per target (its ``codes``), the most recent history item with the same code (-1 if none)."""
    latest = dict(zip(history_codes.tolist(), items.tolist()))  # oldest first: the last write wins
    return np.array([latest.get(int(c), -1) for c in codes.tolist()], np.int64)
