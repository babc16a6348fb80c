"""One customer against a fixed candidate universe, in numpy: the xDeepFM serving path.

``XDeepFMNet.pair_scores`` (torch, batches of users) is the reference used for training
and for scoring many users at once. A storefront request scores ONE customer against a
few hundred retrieved items of a catalog that changes rarely; there torch's per-operation
overhead and its large temporaries cost more than the arithmetic. This scorer computes
everything that depends only on the items once per catalog, re-lays the weights so each
per-customer step is one matmul, and answers a request with a few dozen numpy operations.

It is the same function as ``pair_scores`` (see ``tests/ml/models``): the CIN over the
concatenated [user fields; item fields] is expanded into user x user, user x item and
item x item blocks. With X^0 = [u; x], layer 1 is

    x1[d,c,h] = uu[d,h] + sum_j x[d,c,j] a[d,j,h] + t1[d,c,h]

(uu and a depend only on the user, t1 only on the item), and layer 2 splits the same way
into user-only matrices, item-only tensors (s2) and one user x item x item term that
contracts the item's field-pair products with a per-user weight. Later layers use the
general form.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..common.matrix import top_k_unordered
from ..data import UserContext
from ..search.mips import MipsIndex

if TYPE_CHECKING:
    from .xdeepfm_net import XDeepFMNet

# Item x item field products are kept for candidate universes up to this size (32 MB);
# larger catalogs compute them per request for the retrieved rows only.
XX_CACHE_MAX_FLOATS = 8_000_000
# From this many candidates the retrieval stage searches an inner-product index instead of
# scanning every row: at 100k items the scan read 6.4 MB per request (0.3 ms alone, more
# under load, where every worker streams its own copy through the shared cache), the index
# ~5,000 rows in 32 cells (recall@200 of the exact top 200: 0.89 with the former hand-written
# cells, docs/benchmarks.md; the faiss IVF that replaced them recalls more, ml/search/mips.py).
RETRIEVAL_INDEX_MIN_ITEMS = 20_000
# Rows the index scans per row it returns: more is closer to exact and slower.
RETRIEVAL_SCAN_FACTOR = 25


class FieldPairs:
    """The unordered item-field pairs (g <= j) that layer 2 of the CIN contracts over."""

    def __init__(self, m: int) -> None:
        self.i0, self.i1 = np.triu_indices(m)  # row-major: pairs (g, g..m-1) are one block per g
        self.flat = self.i0 * m + self.i1  # index into a flattened (m, m)
        self.diag_half = np.where(self.i0 == self.i1, 0.5, 1.0).astype(np.float32)[:, None]  # (P, 1)
        starts = np.concatenate([[0], np.cumsum(np.arange(m, 0, -1))])
        self.blocks = [(g, int(starts[g]), int(starts[g + 1])) for g in range(m)]

    def __len__(self) -> int:
        return len(self.i0)

    def products(self, x: np.ndarray) -> np.ndarray:
        """x (m, ...) -> (P, ...): x_g * x_j for every pair. The field axis comes first so
        each of the m multiplies runs over long contiguous rows (with the 11 fields last,
        numpy's short inner loops made this 10x slower)."""
        out = np.empty((len(self), *x.shape[1:]), np.float32)
        for g, start, stop in self.blocks:
            np.multiply(x[g], x[g:], out=out[start:stop])
        return out

    def products_last(self, x: np.ndarray) -> np.ndarray:
        """x (..., m) -> (..., P), for layouts with the fields last."""
        return np.ascontiguousarray(np.moveaxis(self.products(np.ascontiguousarray(np.moveaxis(x, -1, 0))), 0, -1))


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class SingleUserScorer:
    """Scores of one customer for any subset (positions) of ``items``; immutable once built.

    ``fingerprint`` is the net's at build time: the owner rebuilds when it changes (an
    optimizer step, new item features, a grown catalog)."""

    def __init__(self, net: XDeepFMNet, items: np.ndarray, *, max_history: int) -> None:
        self.fingerprint = net.fingerprint()
        self.items = np.array(items, np.int64)
        self.items.flags.writeable = False
        self.max_history = max_history
        self.pad = net.pad
        self.pos = np.full(net.n_items + 1, -1, np.int64)  # item index -> position in items
        self.pos[self.items] = np.arange(len(self.items))
        self.mu, self.mi = net.cin.mu, net.cin.mi
        with torch.inference_mode():
            self._user_side(net)
            self._weights(net)
            self._item_side(net)

    # ---- build -----------------------------------------------------------------------------

    def _user_side(self, net: XDeepFMNet) -> None:
        """Views of the tables the user fields read (no copies of the large ones)."""
        self.tier_emb, self.scen_emb = _np(net.tier_emb.weight), _np(net.scen_emb.weight)
        self.hist_id_emb = _np(net.hist_id_emb.weight)
        self.item_attr = _np(net.item_attr)
        # every attribute table stacked, so the history's attributes are one gather
        tables = [_np(e.weight) for e in net.attr_emb]
        self.attr_table = np.concatenate(tables) if tables else np.zeros((0, self.tier_emb.shape[1]), np.float32)
        self.attr_offsets = np.cumsum([0] + [len(t) for t in tables[:-1]]).astype(np.int64)
        self.use_item_vector = net.use_item_vector
        if self.use_item_vector:
            self.item_vec, self.item_vec_mask = _np(net.item_vec), _np(net.item_vec_mask)
            self.vec_proj_t = _np(net.vec_proj.weight).T.copy()  # (V, D)
            self.hvec_missing = _np(net.hvec_missing)
        self.user_id_buckets = net.user_id_buckets
        self.user_id_emb = _np(net.user_id_emb.weight) if net.user_id_emb is not None else None

    def _weights(self, net: XDeepFMNet) -> None:
        """CIN and DNN weights laid out so every per-user step is one matmul."""
        mu, mi = self.mu, self.mi
        ws = [_np(w) for w in net.cin.weights]
        self.cin_layers = len(ws)
        if ws:
            w0 = ws[0]  # (H1, m, m)
            h1 = w0.shape[0]
            self.w_uu = np.ascontiguousarray(w0[:, :mu, :mu]).reshape(h1 * mu, mu)
            # a[d, j, h] = sum_g u[g, d] (w0[h, g, mu + j] + w0[h, mu + j, g])
            self.w_a = np.ascontiguousarray((w0[:, :mu, mu:] + w0[:, mu:, :mu].transpose(0, 2, 1)).transpose(1, 2, 0)
                                            ).reshape(mu, mi * h1)
            self.cin_out_w = _np(net.cin_out.weight)[0]  # (sum H,)
            self.cin_out_b = float(_np(net.cin_out.bias)[0])
        # per later layer: b[d, g, h] = sum_j u[j, d] w[h, g, j] (user part of X^0)
        self.w_b = [np.ascontiguousarray(w[:, :, :mu].transpose(2, 1, 0)).reshape(mu, -1) for w in ws[1:]]
        self.layer_shapes = [w.shape[:2] for w in ws]  # (H, G)
        if len(ws) > 1:
            # layer 2's item part: m2 = uu @ w_m and q = a @ w_m, w_m[g, (j, h)] = w[h, g, mu + j]
            self.w_m = np.ascontiguousarray(ws[1][:, :, mu:].transpose(1, 2, 0)).reshape(ws[1].shape[1], -1)
            self.pairs = FieldPairs(mi)
        # general layers (3+): item_part = (x outer xi) @ w_r
        self.w_r = [np.ascontiguousarray(w[:, :, mu:].transpose(1, 2, 0)).reshape(-1, w.shape[0]) for w in ws[2:]]
        self.has_dnn = net.dnn_user is not None
        if self.has_dnn:
            self.dnn_user_w, self.dnn_user_b = _np(net.dnn_user.weight), _np(net.dnn_user.bias)
            self.dnn_rest: list[tuple[np.ndarray, np.ndarray] | None] = []  # None = ReLU
            for module in net.dnn_rest:
                if isinstance(module, torch.nn.Linear):
                    self.dnn_rest.append((_np(module.weight).T.copy(), _np(module.bias)))
                elif isinstance(module, torch.nn.ReLU):
                    self.dnn_rest.append(None)
                elif not isinstance(module, torch.nn.Dropout):  # dropout is the identity in eval
                    raise TypeError(f"unexpected DNN layer {module!r}")

    def _item_side(self, net: XDeepFMNet) -> None:
        """Everything that depends only on the items, item-major (a gather copies whole rows)."""
        xi, lin = net.item_fields(torch.from_numpy(self.items.copy()))  # (C, mi, D), (C,)
        c = xi.shape[0]
        self.lin = _np(lin + net.bias).astype(np.float32)
        lin_np = _np(lin)
        self.pop_order = np.argsort(-lin_np, kind="stable")  # highest prior / linear term first
        self.xi = np.ascontiguousarray(_np(xi).transpose(0, 2, 1))  # (C, D, mi)
        self.dnn_i = _np(net.dnn_item(xi.reshape(c, -1))).copy() if self.has_dnn else None
        mu = self.mu
        ws = list(net.cin.weights)
        self.t1 = self.t1_sum = self.s2 = self.s2_sum = self.xx = None
        if ws:
            w0 = ws[0][:, mu:, mu:]  # item x item block of layer 1
            self.t1 = _chunked(lambda s: torch.einsum("hgj,cgd,cjd->cdh", w0, xi[s], xi[s]), c)  # (C, D, H1)
            self.t1_sum = self.t1.sum(1)  # (C, H1)
            if len(ws) > 1:
                t1, xi_c, wi = torch.from_numpy(self.t1), torch.from_numpy(self.xi), ws[1][:, :, mu:]
                s2 = _chunked(lambda s: torch.einsum("hgj,cdg,cdj->cdh", wi, t1[s], xi_c[s]), c)  # (C, D, H2)
                # a last layer is only ever summed over d; a deeper net needs all of it
                self.s2_sum, self.s2 = (s2.sum(1), None) if len(ws) == 2 else (None, s2)
                if c * xi.shape[2] * len(self.pairs) <= XX_CACHE_MAX_FLOATS:
                    self.xx = self.pairs.products_last(self.xi)  # (C, D, P)
        # retrieval: the projected item vector alone (one GEMV), else the attribute fields
        a = net.n_attr
        if self.use_item_vector:
            self.retrieval_user_fields = [4 + a]
            item_fields = [a + (1 if net.use_item_id else 0)]
        else:
            self.retrieval_user_fields = list(range(4, 4 + a))
            item_fields = list(range(a))
        self.retrieval = np.ascontiguousarray(_np(xi[:, item_fields, :]).reshape(c, -1))  # (C, F*D)
        self.retrieval_index = MipsIndex.build(self.retrieval) if c >= RETRIEVAL_INDEX_MIN_ITEMS else None

    # ---- per request -----------------------------------------------------------------------

    def user_fields(self, user: UserContext) -> np.ndarray:
        """(mu, D): tier, scenario, cart, history id, history attributes, history vector, user id."""
        d = self.tier_emb.shape[1]
        hist, w = user.history[-self.max_history:], user.history_weight[-self.max_history:]
        ok = (hist >= 0) & (hist < self.pad)
        hist, w = hist[ok], w[ok]
        wn = w / max(float(w.sum()), 1e-6)
        cart = user.cart[(user.cart >= 0) & (user.cart < self.pad)]
        fields = [self.tier_emb[user.tier], self.scen_emb[user.scenario],
                  self.hist_id_emb[cart + 1].mean(0) if len(cart) else np.zeros(d, np.float32)]
        if len(hist):
            fields.append(wn @ self.hist_id_emb[hist + 1])
            attrs = self.attr_table[self.item_attr[hist] + self.attr_offsets]  # (L, A, D)
            fields.extend(np.tensordot(wn, attrs, axes=1))
        else:
            fields.extend(np.zeros((1 + len(self.attr_offsets), d), np.float32))
        if self.use_item_vector:
            vm = self.item_vec_mask[hist] * w
            vsum = float(vm.sum())
            fields.append((vm @ self.item_vec[hist]) / max(vsum, 1e-6) @ self.vec_proj_t if vsum > 0
                          else self.hvec_missing)
        if self.user_id_emb is not None:
            uid = -1 if user.user_idx is None else user.user_idx
            fields.append(self.user_id_emb[uid % self.user_id_buckets + 1 if uid >= 0 else 0])
        return np.stack(fields).astype(np.float32, copy=False)

    def retrieve(self, u: np.ndarray, n: int, n_popular: int) -> np.ndarray:
        """Cheap first stage for large catalogs: sorted unique positions of the top ``n -
        n_popular`` items by the dot product of the customer's pooled projected item vector
        with the items' (attribute embeddings when the model has no vectors), plus the
        ``n_popular`` items with the highest popularity prior / linear term. A large universe
        answers the dot-product part from its inner-product index (approximate)."""
        query = u[self.retrieval_user_fields].reshape(-1)
        n = min(n, len(self.items))
        n_pop = min(n_popular, n)
        if self.retrieval_index is not None:
            top = self.retrieval_index.search(query, n - n_pop, self.retrieval_probes(n - n_pop))
        else:
            top = top_k_unordered(self.retrieval @ query, n - n_pop)
        return np.union1d(top, self.pop_order[:n_pop])

    def retrieval_probes(self, k: int) -> int:
        """Cells the index probes for ``k`` nearest: enough for ~RETRIEVAL_SCAN_FACTOR rows each."""
        cells = self.retrieval_index.n_cells if self.retrieval_index is not None else 1
        return max(1, int(np.ceil(RETRIEVAL_SCAN_FACTOR * k * cells / len(self.items))))

    def score(self, u: np.ndarray, pos: np.ndarray | None = None) -> np.ndarray:
        """Scores of the user with fields ``u`` for positions ``pos`` of the universe (all when None)."""
        sel = slice(None) if pos is None else pos
        out = np.array(self.lin[sel], np.float32)
        if self.cin_layers:
            out += self._cin(u, sel) @ self.cin_out_w + self.cin_out_b
        if self.has_dnn:
            h = self.dnn_i[sel] + (self.dnn_user_w @ u.reshape(-1) + self.dnn_user_b)
            for layer in self.dnn_rest:
                if layer is None:
                    np.maximum(h, 0.0, out=h)
                else:
                    h = h @ layer[0] + layer[1]
            out += h[:, 0]
        return out

    def _cin(self, u: np.ndarray, sel) -> np.ndarray:
        """Pooled CIN features (n, sum H)."""
        return self._cin_shallow(u, sel) if self.cin_layers <= 2 else self._cin_deep(u, sel)

    def _layer1_user(self, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The user's part of layer 1: u transposed (D, mu), uu (D, H1) and a (D, mi, H1)."""
        mu, d = u.shape
        h1 = self.layer_shapes[0][0]
        u_t = np.ascontiguousarray(u.T)
        uu = np.einsum("hgd,gd->dh", (self.w_uu @ u).reshape(h1, mu, d), u)
        return u_t, uu, (u_t @ self.w_a).reshape(d, self.mi, h1)

    def _cin_shallow(self, u: np.ndarray, sel) -> np.ndarray:
        """One or two CIN layers (the usual configuration): only sums over d are pooled, so
        every item-side term is one matmul of the gathered item-major rows, flattened over
        (d, field), with a per-user matrix -- no d-major copies, no (D, n, H) temporaries."""
        mi = self.mi
        d = u.shape[1]
        xi = self.xi[sel]  # (n, D, mi)
        n = xi.shape[0]
        flat_xi = xi.reshape(n, d * mi)
        u_t, uu, a = self._layer1_user(u)
        h1 = a.shape[2]
        # layer 1: x1[d,c,h] = uu[d,h] + sum_j xi[d,c,j] a[d,j,h] + t1[d,c,h], summed over d
        pooled1 = flat_xi @ a.reshape(d * mi, h1) + self.t1_sum[sel] + uu.sum(0)
        if self.cin_layers == 1:
            return pooled1
        h2, g = self.layer_shapes[1]
        b = (u_t @ self.w_b[0]).reshape(d, g, h2)
        m2 = (uu @ self.w_m).reshape(d, mi, h2)
        q = (a.reshape(d * mi, g) @ self.w_m).reshape(d, mi, mi, h2)
        qp = (q + q.transpose(0, 2, 1, 3)).reshape(d, mi * mi, h2)[:, self.pairs.flat] * self.pairs.diag_half
        if self.xx is not None:  # (n, D, P) kept for a small universe
            pairs_term = self.xx[sel].reshape(n, -1) @ qp.reshape(-1, h2)
        else:  # fields first for the products: (P, D, n)
            xx = self.pairs.products(np.ascontiguousarray(xi.transpose(2, 1, 0)))
            pairs_term = xx.reshape(-1, n).T @ qp.transpose(1, 0, 2).reshape(-1, h2)
        # layer 2 summed over d: x1 @ b (its uu, xi.a and t1 parts) + xi.m2 + s2 + pairs.qp
        pooled2 = (flat_xi @ (np.matmul(a, b) + m2).reshape(d * mi, h2)
                   + self.t1[sel].reshape(n, d * g) @ b.reshape(d * g, h2)
                   + pairs_term + self.s2_sum[sel] + np.einsum("dg,dgh->h", uu, b))
        return np.concatenate([pooled1, pooled2], axis=1)

    def _cin_deep(self, u: np.ndarray, sel) -> np.ndarray:
        """Three or more layers: each layer's full (D, n, H) output feeds the next, d-major so
        every step is a batched matmul over d."""
        mi = self.mi
        d = u.shape[1]
        x_items = np.ascontiguousarray(self.xi[sel].transpose(1, 0, 2))  # (D, n, mi)
        n = x_items.shape[1]
        u_t, uu, a = self._layer1_user(u)
        x = np.matmul(x_items, a) + self.t1[sel].transpose(1, 0, 2) + uu[:, None, :]
        pooled = [x.sum(0)]
        for li, (h, g) in enumerate(self.layer_shapes[1:]):
            b = (u_t @ self.w_b[li]).reshape(d, g, h)
            if li == 0:
                m2 = (uu @ self.w_m).reshape(d, mi, h)
                q = (a.reshape(d * mi, g) @ self.w_m).reshape(d, mi, mi, h)
                qp = (q + q.transpose(0, 2, 1, 3)).reshape(d, mi * mi, h)[:, self.pairs.flat] * self.pairs.diag_half
                xx = self.xx[sel].transpose(1, 0, 2) if self.xx is not None else self.pairs.products_last(x_items)
                item_part = np.matmul(x_items, m2) + np.matmul(xx, qp) + self.s2[sel].transpose(1, 0, 2)
            else:
                z = (x[..., :, None] * x_items[..., None, :]).reshape(d * n, g * mi)
                item_part = (z @ self.w_r[li - 1]).reshape(d, n, h)
            x = np.matmul(x, b) + item_part
            pooled.append(x.sum(0))
        return np.concatenate(pooled, axis=1)


def _chunked(block, n: int, chunk: int = 4096) -> np.ndarray:
    """``block(slice)`` over item chunks, concatenated: einsum's intermediates for 100k items
    would take gigabytes at once."""
    return np.concatenate([_np(block(slice(i, i + chunk))) for i in range(0, n, chunk)]) if n else \
        _np(block(slice(0, 0)))
