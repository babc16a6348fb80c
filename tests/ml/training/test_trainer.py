import math

import pytest
import torch

from recommender.ml.data import DatasetTooSmall
from recommender.ml.models.xdeepfm import XDeepFMRecommender
from recommender.ml.config import ConfigError, TrainConfig
from recommender.ml.training.trainer import TrainingDiverged, training_device
from recommender.ml.training.transfer import fit_transfer, source_examples, target_examples
from tests.ml.models.toydata import toy_data

SMALL = dict(embed_dim=8, cin_layers=[8], dnn_layers=[16], batch_size=16, negatives=4, epochs_pretrain=1,
             epochs_finetune=2, max_pretrain_examples=200, min_finetune_examples=5, seed=0)


@pytest.mark.parametrize("field,value,message", [
    ("lr", 5, "lr must be in (0, 1], got 5"),
    ("lr", 0, "lr must be in (0, 1], got 0"),
    ("finetune_lr", -1e-3, "finetune_lr must be in (0, 1]"),
    ("dropout", 0.95, "dropout must be in [0, 0.9], got 0.95"),
    ("batch_size", 1, "batch_size must be in [2, 65536], got 1"),
    ("epochs_pretrain", -1, "epochs_pretrain must be in [0, 1000]"),
    ("embed_dim", 2.5, "embed_dim must be an integer"),
    ("cin_layers", [64, 0], "cin_layers must be a list of layer sizes"),
    ("freeze_on_finetune", "yes", "freeze_on_finetune must be true or false"),
    ("lr", float("nan"), "lr must be a number"),
    ("k", 0, "k must be in [1, 1000], got 0"),
])
def test_config_range_errors(field, value, message):
    with pytest.raises(ConfigError) as e:
        TrainConfig.from_dict({field: value})
    assert message in str(e.value)


def test_config_from_dict_rejects_unknown_keys_and_round_trips():
    with pytest.raises(ConfigError, match="unknown hyperparameter.*learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    cfg = TrainConfig.from_dict({"lr": 0.01, "cin_layers": [64, 64]})
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="cannot both be 0"):
        TrainConfig(epochs_pretrain=0, epochs_finetune=0)


def test_device_is_cpu_without_cuda():
    if not torch.cuda.is_available():
        assert training_device("auto").type == "cpu"
        with pytest.raises(ConfigError, match="CUDA is not available"):
            training_device("cuda")


def test_examples_have_the_cross_sell_shape():
    data = toy_data(n_users=10)
    ex = target_examples(data, data.interactions, max_history=50)
    pad = len(data.items)
    for h, t in zip(ex.hist, ex.target):
        h = h[h != pad]
        assert data.items.is_target[t] and not data.items.is_target[h].any()
    src = source_examples(data, data.interactions, targets_per_user=2, max_history=50, max_examples=100, seed=0)
    assert not data.items.is_target[src.target].any()
    for h, t in zip(src.hist, src.target):
        assert t not in h  # leave-one-out: the target is not in its own history


def test_loss_decreases_and_callback_sees_every_epoch():
    torch.set_num_threads(1)
    data = toy_data(n_users=40)
    seen = []
    model = XDeepFMRecommender(TrainConfig(**{**SMALL, "epochs_pretrain": 0, "epochs_finetune": 6}))
    fit_transfer(model, data, on_epoch=lambda phase, epoch, loss, metrics: seen.append((phase, epoch, loss)))
    assert [s[:2] for s in seen] == [("finetune", e) for e in range(1, 7)]
    assert seen[-1][2] < seen[0][2]
    assert all(math.isfinite(s[2]) for s in seen)


def test_pretrain_then_finetune_records_both_phases():
    data = toy_data(n_users=40)
    model = XDeepFMRecommender(TrainConfig(**SMALL))
    records = fit_transfer(model, data)
    assert [r["phase"] for r in records] == ["pretrain", "finetune", "finetune", "prior"]
    assert all(r["examples_per_s"] > 0 for r in records if r["phase"] != "prior")


def test_nan_loss_raises_training_diverged():
    data = toy_data(n_users=40)
    model = XDeepFMRecommender(TrainConfig(**{**SMALL, "epochs_pretrain": 0}))
    model.build(data)
    with torch.no_grad():
        model.net.bias.fill_(float("nan"))
    from recommender.ml.training.transfer import finetune

    with pytest.raises(TrainingDiverged, match="finetune loss became nan at epoch 1"):
        finetune(model, data, data.interactions, lr=1e-3, freeze=False)


def test_callback_exception_cancels_training():
    class Cancelled(Exception):
        pass

    def cancel(phase, epoch, loss, metrics):
        raise Cancelled()

    model = XDeepFMRecommender(TrainConfig(**SMALL))
    with pytest.raises(Cancelled):
        fit_transfer(model, toy_data(n_users=40), on_epoch=cancel)


def test_too_small_dataset():
    data = toy_data(n_users=4)
    model = XDeepFMRecommender(TrainConfig(**{**SMALL, "epochs_pretrain": 0, "min_finetune_examples": 20}))
    with pytest.raises(DatasetTooSmall, match="fine-tuning needs at least 20 target-domain interactions, got 6"):
        fit_transfer(model, data)


def test_frozen_shared_fields_do_not_move_in_the_first_epoch():
    data = toy_data(n_users=40)
    model = XDeepFMRecommender(TrainConfig(**{**SMALL, "epochs_finetune": 1, "freeze_epochs": 1}))
    model.build(data)
    from recommender.ml.training.transfer import finetune

    before = model.net.attr_emb[0].weight.detach().clone()
    finetune(model, data, data.interactions)
    torch.testing.assert_close(model.net.attr_emb[0].weight, before)


def test_batch_callback_reports_every_batch_of_every_epoch_in_order():
    from recommender.ml.training.trainer import TrainProgress
    from recommender.ml.training.transfer import target_examples as _targets

    torch.set_num_threads(1)
    data = toy_data(n_users=40)
    cfg = TrainConfig(**{**SMALL, "epochs_pretrain": 0, "epochs_finetune": 3})
    seen: list[TrainProgress] = []
    model = XDeepFMRecommender(cfg)
    fit_transfer(model, data, on_batch=seen.append)
    n_examples = len(_targets(data, data.interactions, max_history=cfg.max_history))
    batch_size = min(cfg.finetune_batch_size, n_examples)
    batches = math.ceil(n_examples / batch_size)
    # A final batch of one example is skipped by the trainer (it cannot rank); none here.
    assert n_examples % batch_size != 1
    assert [(p.phase, p.epoch, p.batch) for p in seen] == [
        ("finetune", e, b) for e in range(1, 4) for b in range(1, batches + 1)
    ]
    assert {(p.epochs, p.batches) for p in seen} == {(3, batches)}
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[0].fraction == pytest.approx(1 / (3 * batches))


def test_train_progress_fraction():
    from recommender.ml.training.trainer import TrainProgress

    assert TrainProgress("pretrain", 1, 4, 5, 10).fraction == 0.125
    assert TrainProgress("pretrain", 4, 4, 10, 10).fraction == 1.0
