"""The xDeepFM network (linear + CIN + DNN) and its factorised CIN; the recommender that
trains, scores and saves it lives in ``xdeepfm.py``.
xDeepFM ranker (linear + CIN + DNN) over user-side and item-side fields.

Fields (each an ``embed_dim`` vector):

* user side: membership tier, scenario, cart (pooled), history pooled over ANY
  category -- the projected item vectors, the item-attribute embeddings (one field per
  attribute) and a history item-id embedding -- and optionally a hashed user id. No
  user id is needed: a new customer with a few events is scored from the history.
* item side: item id (dropped out in training and mapped to "unknown" for items never
  seen in training, so new items work), the item vector projected to ``embed_dim``,
  and one field per item attribute.

Scoring is factorised: every CIN layer and the first DNN layer are split into a part
that depends only on the user and a part that depends only on the item, so a
customer's fields are computed once and broadcast over all candidates, and the work per
(user, item) pair is a few small batched matmuls. This is the same function as the
textbook CIN on the concatenated fields (the tests in ``tests/ml/models`` hold that
definition and check both of ``FactorizedCIN``'s layouts against it), just cheaper.
``xdeepfm_scorer`` compiles the same algebra to numpy for one shopper at a time (serving);
it reads this module's weights and is tested equal to ``pair_scores``.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..data import UserContext


class UserBatch:
    """Padded tensors for a batch of users (history/cart padded with ``pad_item``)."""

    def __init__(self, hist: torch.Tensor, hist_w: torch.Tensor, tier: torch.Tensor, scenario: torch.Tensor,
                 cart: torch.Tensor, user_id: torch.Tensor):
        self.hist, self.hist_w, self.tier, self.scenario, self.cart, self.user_id = hist, hist_w, tier, scenario, cart, user_id

    def to(self, device: torch.device) -> "UserBatch":
        return UserBatch(*(t.to(device) for t in (self.hist, self.hist_w, self.tier, self.scenario, self.cart, self.user_id)))

    @staticmethod
    def from_contexts(users: Sequence[UserContext], pad_item: int, max_len: int = 50) -> "UserBatch":
        b = len(users)
        lh = max(1, min(max_len, max((len(u.history) for u in users), default=1)))
        lc = max(1, max((len(u.cart) for u in users), default=1))
        hist = np.full((b, lh), pad_item, np.int64)
        hw = np.zeros((b, lh), np.float32)
        cart = np.full((b, lc), pad_item, np.int64)
        for i, u in enumerate(users):
            h, w = u.history[-lh:], u.history_weight[-lh:]
            ok = (h >= 0) & (h < pad_item)
            h, w = h[ok], w[ok]
            hist[i, : len(h)] = h
            hw[i, : len(h)] = w
            c = u.cart[(u.cart >= 0) & (u.cart < pad_item)][:lc]
            cart[i, : len(c)] = c
        tier = np.array([u.tier for u in users], np.int64)
        scen = np.array([u.scenario for u in users], np.int64)
        uid = np.array([-1 if u.user_idx is None else u.user_idx for u in users], np.int64)
        return UserBatch(*(torch.from_numpy(a) for a in (hist, hw, tier, scen, cart, uid)))


class FactorizedCIN(nn.Module):
    """Compressed Interaction Network computed for all (user, item) pairs.

    Layer k: X^k_h = Σ_{g,j} W^k_{h,g,j} X^{k-1}_g ∘ X^0_j, with X^0 = [user fields; item fields].
    Because X^0_j is either a user field or an item field, Σ_j W_{h,g,j} X^0_j splits into a
    per-user and a per-item tensor; only the final Hadamard-sum runs per pair.
    """

    def __init__(self, n_user_fields: int, n_item_fields: int, layers: Sequence[int]):
        super().__init__()
        self.mu, self.mi = n_user_fields, n_item_fields
        m = n_user_fields + n_item_fields
        self.weights = nn.ParameterList()
        prev = m
        for h in layers:
            w = nn.Parameter(torch.empty(h, prev, m))
            nn.init.normal_(w, std=(1.0 / (prev * m)) ** 0.5)
            self.weights.append(w)
            prev = h
        self.out_dim = int(sum(layers))

    def forward(self, xu: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        """xu (B, mu, D), xi (C, mi, D) -> pooled features (B, C, sum(layers))."""
        mu = self.mu
        pooled = []
        # layer 1, previous = X^0 itself
        w = self.weights[0]  # (H, m, m)
        vu = torch.einsum("hgj,bjd->bhgd", w[:, :, :mu], xu)  # (B, H, m, D)
        vi = torch.einsum("hgj,cjd->chgd", w[:, :, mu:], xi)  # (C, H, m, D)
        # Σ_g X0_g ∘ (vu + vi)_g with X0_g = xu (g < mu) or xi (g >= mu)
        x = (
            torch.einsum("bgd,bhgd->bhd", xu, vu[:, :, :mu]).unsqueeze(1)
            + torch.einsum("bgd,chgd->bchd", xu, vi[:, :, :mu])
            + torch.einsum("cgd,bhgd->bchd", xi, vu[:, :, mu:])
            + torch.einsum("cgd,chgd->chd", xi, vi[:, :, mu:]).unsqueeze(0)
        )  # (B, C, H, D)
        pooled.append(x.sum(-1))
        for w in list(self.weights)[1:]:
            vu = torch.einsum("hgj,bjd->bhgd", w[:, :, :mu], xu)  # (B, H, G, D)
            vi = torch.einsum("hgj,cjd->chgd", w[:, :, mu:], xi)  # (C, H, G, D)
            x = torch.einsum("bcgd,bhgd->bchd", x, vu) + torch.einsum("bcgd,chgd->bchd", x, vi)
            pooled.append(x.sum(-1))
        return torch.cat(pooled, dim=-1)

    def aligned(self, xu: torch.Tensor, xi: torch.Tensor) -> torch.Tensor:
        """xu (N, mu, D), xi (N, mi, D) -> pooled features (N, sum(layers)) of the row-aligned
        pairs (user n, item n): training's positives, where each user meets one item and
        splitting user from item saves nothing. Same weights, same function as ``forward``."""
        x0 = torch.cat([xu, xi], dim=1)  # (N, m, D)
        pooled, x = [], x0
        for w in self.weights:
            v = torch.einsum("hgj,njd->nhgd", w, x0)  # Σ_j W_{h,g,j} X0_j
            x = torch.einsum("ngd,nhgd->nhd", x, v)  # Σ_g X_g ∘ (...)
            pooled.append(x.sum(-1))
        return torch.cat(pooled, dim=-1)


class XDeepFMNet(nn.Module):
    def __init__(
        self,
        *,
        n_items: int,
        attr_vocab_sizes: Sequence[int],
        vector_dim: int,
        n_tiers: int,
        n_scenarios: int,
        embed_dim: int,
        cin_layers: Sequence[int],
        dnn_layers: Sequence[int],
        dropout: float,
        use_item_vector: bool = True,
        use_item_id: bool = True,
        user_id_buckets: int = 0,
    ):
        super().__init__()
        self._epoch = 0  # counts tensor/module assignments and conversions (see fingerprint)
        d = embed_dim
        self.n_items = n_items
        self.pad = n_items  # padding row index in the item lookup buffers
        self.use_item_vector = use_item_vector and vector_dim > 0
        self.use_item_id = use_item_id
        self.user_id_buckets = user_id_buckets
        self.n_attr = len(attr_vocab_sizes)
        # item lookup buffers (+1 pad row); replaced wholesale by set_item_features
        self.register_buffer("item_attr", torch.zeros(n_items + 1, self.n_attr, dtype=torch.long))
        self.register_buffer("item_vec", torch.zeros(n_items + 1, max(vector_dim, 1)))
        self.register_buffer("item_vec_mask", torch.zeros(n_items + 1, dtype=torch.bool))
        self.register_buffer("item_id_known", torch.zeros(n_items + 1, dtype=torch.bool))
        # Popularity prior added to the logit: prior_beta * item_prior[item]; both stay 0 while
        # training and are set after fine-tuning (beta tuned on validation), so they live in the
        # state dict and serving scores exactly as evaluation did.
        self.register_buffer("item_prior", torch.zeros(n_items + 1))
        self.register_buffer("prior_beta", torch.zeros(()))
        self._tensors: tuple[torch.Tensor, ...] = ()
        self._tensors_epoch = -1

        self.attr_emb = nn.ModuleList(nn.Embedding(v, d) for v in attr_vocab_sizes)
        self.attr_lin = nn.ModuleList(nn.Embedding(v, 1) for v in attr_vocab_sizes)
        self.item_id_emb = nn.Embedding(n_items + 1, d)  # row 0 = unknown item, id k -> row k+1
        self.item_id_lin = nn.Embedding(n_items + 1, 1)
        self.hist_id_emb = nn.Embedding(n_items + 1, d)
        self.tier_emb = nn.Embedding(max(1, n_tiers), d)
        self.scen_emb = nn.Embedding(max(1, n_scenarios), d)
        self.user_id_emb = nn.Embedding(user_id_buckets + 1, d) if user_id_buckets else None
        if self.use_item_vector:
            self.vec_proj = nn.Linear(vector_dim, d, bias=False)
            self.vec_lin = nn.Linear(vector_dim, 1, bias=False)
            self.vec_missing = nn.Parameter(torch.zeros(d))
            self.hvec_missing = nn.Parameter(torch.zeros(d))
        for e in [*self.attr_emb, self.item_id_emb, self.hist_id_emb, self.tier_emb, self.scen_emb]:
            nn.init.normal_(e.weight, std=0.05)
        for e in [*self.attr_lin, self.item_id_lin]:
            nn.init.zeros_(e.weight)
        if self.user_id_emb is not None:
            nn.init.normal_(self.user_id_emb.weight, std=0.05)

        self.n_user_fields = 4 + self.n_attr + (1 if self.use_item_vector else 0) + (1 if user_id_buckets else 0)
        self.n_item_fields = self.n_attr + (1 if use_item_id else 0) + (1 if self.use_item_vector else 0)
        self.cin = FactorizedCIN(self.n_user_fields, self.n_item_fields, cin_layers)
        self.cin_out = nn.Linear(self.cin.out_dim, 1)
        self.field_dropout = nn.Dropout(dropout)
        dnn = list(dnn_layers)
        self.dnn_user = nn.Linear(self.n_user_fields * d, dnn[0]) if dnn else None
        self.dnn_item = nn.Linear(self.n_item_fields * d, dnn[0], bias=False) if dnn else None
        rest: list[nn.Module] = []
        for a, b in zip(dnn[:-1], dnn[1:]):
            rest += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(a, b)]
        if dnn:
            rest += [nn.ReLU(), nn.Dropout(dropout), nn.Linear(dnn[-1], 1)]
        self.dnn_rest = nn.Sequential(*rest)
        self.bias = nn.Parameter(torch.zeros(1))

    # ---- item side -------------------------------------------------------------
    def set_item_features(self, attr: np.ndarray, vec: np.ndarray | None, vec_mask: np.ndarray | None,
                          id_known: np.ndarray) -> None:
        n = self.n_items
        a = torch.zeros(n + 1, self.n_attr, dtype=torch.long)
        a[:n] = torch.from_numpy(np.asarray(attr, np.int64))
        self.item_attr = a.to(self.bias.device)
        v = torch.zeros(n + 1, self.item_vec.shape[1])
        m = torch.zeros(n + 1, dtype=torch.bool)
        if vec is not None and self.use_item_vector:
            v[:n] = torch.from_numpy(np.asarray(vec, np.float32))
            m[:n] = torch.from_numpy(np.asarray(vec_mask, bool))
        self.item_vec, self.item_vec_mask = v.to(self.bias.device), m.to(self.bias.device)
        k = torch.zeros(n + 1, dtype=torch.bool)
        k[:n] = torch.from_numpy(np.asarray(id_known, bool))
        self.item_id_known = k.to(self.bias.device)
        self.invalidate_cache()

    def _proj_vec(self, items: torch.Tensor) -> torch.Tensor:
        return self.vec_proj(self.item_vec[items])

    def item_fields(self, items: torch.Tensor, id_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """items (C,) -> fields (C, mi, D), linear term (C,)."""
        attrs = self.item_attr[items]
        fields = [emb(attrs[:, k]) for k, emb in enumerate(self.attr_emb)]
        lin = sum(l(attrs[:, k]).squeeze(-1) for k, l in enumerate(self.attr_lin))
        if self.use_item_id:
            known = self.item_id_known[items]
            if self.training and id_dropout > 0:
                known = known & (torch.rand(known.shape, device=known.device) >= id_dropout)
            rows = torch.where(known, items + 1, torch.zeros_like(items))
            fields.append(self.item_id_emb(rows))
            lin = lin + self.item_id_lin(rows).squeeze(-1)
        if self.use_item_vector:
            has = self.item_vec_mask[items].unsqueeze(-1)
            fields.append(torch.where(has, self._proj_vec(items), self.vec_missing))
            lin = lin + torch.where(has.squeeze(-1), self.vec_lin(self.item_vec[items]).squeeze(-1), torch.zeros_like(lin))
        lin = lin + self.prior_beta * self.item_prior[items]
        return torch.stack(fields, dim=1), lin

    def set_item_prior(self, prior: np.ndarray, beta: float) -> None:
        """prior (n_items,) per-item log-popularity; beta its weight in the logit."""
        p = torch.zeros(self.n_items + 1)
        p[: self.n_items] = torch.from_numpy(np.asarray(prior, np.float32).reshape(self.n_items))
        self.item_prior = p.to(self.bias.device)
        self.prior_beta = torch.tensor(float(beta), device=self.bias.device)
        self.invalidate_cache()

    # ---- user side -------------------------------------------------------------
    def user_fields(self, ub: UserBatch, user_id_dropout: float = 0.0) -> torch.Tensor:
        """-> (B, mu, D)."""
        hist, w = ub.hist, ub.hist_w * (ub.hist != self.pad)
        denom = w.sum(1, keepdim=True).clamp_min(1e-6)
        wn = (w / denom).unsqueeze(-1)  # (B, L, 1)
        attrs = self.item_attr[hist]  # (B, L, A)
        fields = [self.tier_emb(ub.tier), self.scen_emb(ub.scenario)]
        cart_valid = (ub.cart != self.pad).float().unsqueeze(-1)
        cart_n = cart_valid.sum(1).clamp_min(1.0)
        fields.append((self.hist_id_emb(torch.where(ub.cart != self.pad, ub.cart + 1, 0)) * cart_valid).sum(1) / cart_n)
        fields.append((self.hist_id_emb(torch.where(hist != self.pad, hist + 1, 0)) * wn).sum(1))
        for k, emb in enumerate(self.attr_emb):
            fields.append((emb(attrs[:, :, k]) * wn).sum(1))
        if self.use_item_vector:
            vm = (self.item_vec_mask[hist].float() * w).unsqueeze(-1)
            vsum = vm.sum(1)
            pooled = (self.item_vec[hist] * vm).sum(1) / vsum.clamp_min(1e-6)
            fields.append(torch.where(vsum > 0, self.vec_proj(pooled), self.hvec_missing))
        if self.user_id_emb is not None:
            uid = ub.user_id
            keep = uid >= 0
            if self.training and user_id_dropout > 0:
                keep = keep & (torch.rand(uid.shape, device=uid.device) >= user_id_dropout)
            rows = torch.where(keep, uid % self.user_id_buckets + 1, torch.zeros_like(uid))
            fields.append(self.user_id_emb(rows))
        return torch.stack(fields, dim=1)

    # ---- scores ----------------------------------------------------------------
    def forward(self, ub: UserBatch, items: torch.Tensor, id_dropout: float = 0.0, user_id_dropout: float = 0.0) -> torch.Tensor:
        """Logits for every (user in batch, candidate item) pair: (B, C)."""
        xu = self.field_dropout(self.user_fields(ub, user_id_dropout))
        xi, lin_i = self.item_fields(items, id_dropout)
        xi = self.field_dropout(xi)
        return self.pair_scores(xu, xi, lin_i)

    def forward_train(self, ub: UserBatch, pos_items: torch.Tensor, neg_items: torch.Tensor, id_dropout: float = 0.0,
                      user_id_dropout: float = 0.0) -> torch.Tensor:
        """Logits (B, 1 + N): column 0 is row b's own positive, then N negatives shared by the batch.

        Only B * (1 + N) pairs are scored (not the full B x C cross), which is what keeps
        CPU training affordable.
        """
        xu = self.field_dropout(self.user_fields(ub, user_id_dropout))
        xp, lin_p = self.item_fields(pos_items, id_dropout)
        xp = self.field_dropout(xp)
        pos = self.aligned_scores(xu, xp, lin_p).unsqueeze(1)
        if neg_items.numel() == 0:
            return pos
        xn, lin_n = self.item_fields(neg_items, id_dropout)
        return torch.cat([pos, self.pair_scores(xu, self.field_dropout(xn), lin_n)], dim=1)

    def aligned_scores(self, xu: torch.Tensor, xi: torch.Tensor, lin_i: torch.Tensor) -> torch.Tensor:
        """Scores of row-aligned pairs (user b, item b): (B,)."""
        out = self.bias + lin_i
        if len(self.cin.weights):
            out = out + self.cin_out(self.cin.aligned(xu, xi)).squeeze(-1)
        if self.dnn_user is not None:
            b = xu.shape[0]
            h = self.dnn_user(xu.reshape(b, -1)) + self.dnn_item(xi.reshape(b, -1))
            out = out + self.dnn_rest(h).squeeze(-1)
        return out

    def pair_scores(self, xu: torch.Tensor, xi: torch.Tensor, lin_i: torch.Tensor) -> torch.Tensor:
        b, c = xu.shape[0], xi.shape[0]
        out = self.bias + lin_i.unsqueeze(0).expand(b, c)
        if len(self.cin.weights):
            out = out + self.cin_out(self.cin(xu, xi)).squeeze(-1)
        if self.dnn_user is not None:
            h = self.dnn_user(xu.reshape(b, -1)).unsqueeze(1) + self.dnn_item(xi.reshape(c, -1)).unsqueeze(0)
            out = out + self.dnn_rest(h).squeeze(-1)
        return out

    # ---- serving ----------------------------------------------------------------
    def fingerprint(self) -> tuple:
        """Changes with any weight or buffer: the single-user scorer (xdeepfm_scorer) is
        rebuilt when it does. ``_version`` changes on every in-place update (optimizer step,
        load_state_dict); the epoch when a tensor or module is assigned or converted.

        Serving checks this on every request, so the tensor list is kept per epoch: walking
        the module tree for it cost ~0.5 ms a call."""
        if self._tensors_epoch != self._epoch:
            self._tensors = (*self.parameters(), *self.buffers())
            self._tensors_epoch = self._epoch
        return (self.n_items, self._epoch, tuple((id(t), t._version) for t in self._tensors))

    def invalidate_cache(self) -> None:
        """Any scorer built from the current tables is stale (also called on every tensor or
        module assignment and conversion, see __setattr__ and _apply)."""
        self.__dict__["_epoch"] = self.__dict__.get("_epoch", 0) + 1

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, (torch.Tensor, nn.Module)):
            self.invalidate_cache()  # a replaced buffer, parameter or submodule (extend_catalog)
        super().__setattr__(name, value)

    def _apply(self, fn, recurse=True):  # .to(), .float(), .cuda(): tensors may be replaced
        self.invalidate_cache()
        return super()._apply(fn, recurse)

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters of the fields shared between domains plus the CIN: frozen first when fine-tuning."""
        params: list[nn.Parameter] = []
        for mod in [*self.attr_emb, self.hist_id_emb, self.tier_emb, self.scen_emb, self.cin]:
            params += list(mod.parameters())
        if self.use_item_vector:
            params += list(self.vec_proj.parameters())
        return params
