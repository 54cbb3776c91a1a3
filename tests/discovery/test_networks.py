"""Ensemble member networks: shapes, gradients, set invariances and the log-variance clamp."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from discovery.featurizers import CompositionBatch, Compositions
from discovery.networks import (
    LOG_VAR_RANGE,
    ElementTransformerNet,
    MLPNet,
    RoostNet,
    fraction_encoding,
)

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")


def tiny_set_net(kind: str, dropout: float = 0.0) -> torch.nn.Module:
    """A small network over element sets: ``roost`` or ``transformer``."""
    if kind == "roost":
        return RoostNet(hidden=16, n_layers=2, n_heads=2, dropout=dropout)
    return ElementTransformerNet(
        width=16, n_layers=2, n_heads=2, feedforward=32, dropout=dropout, head=(16, 8)
    )


@pytest.fixture
def roost_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return tiny_set_net("roost").eval()


@pytest.fixture(params=["roost", "transformer"])
def set_net(request: pytest.FixtureRequest) -> torch.nn.Module:
    """Each network over element sets, small, in eval mode."""
    torch.manual_seed(0)
    return tiny_set_net(request.param).eval()


@pytest.fixture
def mlp_net() -> MLPNet:
    torch.manual_seed(0)
    return MLPNet(n_features=7, hidden=16, depth=2, dropout=0.0).eval()


@pytest.fixture
def composition_batch() -> CompositionBatch:
    compositions = Compositions.from_formulas(["NaCl", "Fe2O3", "LiFePO4", "Fe"])
    return compositions.batch(np.arange(len(compositions)))


def assert_finite_grads(net: torch.nn.Module) -> None:
    grads = [p.grad for p in net.parameters() if p.requires_grad]
    assert any(g is not None for g in grads)
    for grad in grads:
        if grad is not None:
            assert torch.isfinite(grad).all()


def test_mlp_forward_backward() -> None:
    torch.manual_seed(0)
    net = MLPNet(n_features=7, hidden=16, depth=2, dropout=0.1)
    features = torch.randn(5, 7)
    net.fit_input_scaling(features)
    mean, log_var = net(features)
    assert mean.shape == (5,)
    assert log_var.shape == (5,)
    (mean.sum() + log_var.sum()).backward()
    assert_finite_grads(net)


def test_mlp_input_scaling_buffers(mlp_net: MLPNet) -> None:
    features = torch.tensor([[1.0] * 7, [3.0] * 7])
    mlp_net.fit_input_scaling(features)
    torch.testing.assert_close(mlp_net.shift, torch.full((7,), 2.0))
    assert torch.all(mlp_net.scale > 0)
    assert set(mlp_net.state_dict()) >= {"shift", "scale"}


@pytest.mark.parametrize("kind", ["roost", "transformer"])
def test_set_net_forward_backward(kind: str, composition_batch: CompositionBatch) -> None:
    torch.manual_seed(0)
    net = tiny_set_net(kind, dropout=0.1)
    mean, log_var = net(composition_batch)
    assert mean.shape == (4,)
    assert log_var.shape == (4,)
    assert torch.isfinite(mean).all()
    assert torch.isfinite(log_var).all()
    (mean.sum() + log_var.sum()).backward()
    assert_finite_grads(net)


def test_set_net_permutation_invariance(set_net: torch.nn.Module) -> None:
    # LiFePO4: Li, O, P, Fe with fractions 1/7, 4/7, 1/7, 1/7
    elements = torch.tensor([[3, 8, 15, 26]])
    fractions = torch.tensor([[1.0, 4.0, 1.0, 1.0]]) / 7.0
    order = torch.tensor([2, 0, 3, 1])
    with torch.no_grad():
        mean, log_var = set_net(CompositionBatch(elements, fractions))
        mean_p, log_var_p = set_net(CompositionBatch(elements[:, order], fractions[:, order]))
    torch.testing.assert_close(mean_p, mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(log_var_p, log_var, atol=1e-5, rtol=0)


def test_set_net_padding_invariance(
    set_net: torch.nn.Module, composition_batch: CompositionBatch
) -> None:
    padded = CompositionBatch(
        torch.nn.functional.pad(composition_batch.elements, (0, 1)),
        torch.nn.functional.pad(composition_batch.fractions, (0, 1)),
    )
    assert padded.elements.shape[1] == composition_batch.elements.shape[1] + 1
    with torch.no_grad():
        mean, log_var = set_net(composition_batch)
        mean_p, log_var_p = set_net(padded)
    torch.testing.assert_close(mean_p, mean, atol=1e-5, rtol=0)
    torch.testing.assert_close(log_var_p, log_var, atol=1e-5, rtol=0)


def test_set_net_prediction_independent_of_batch_mates(
    set_net: torch.nn.Module, composition_batch: CompositionBatch
) -> None:
    with torch.no_grad():
        together, _ = set_net(composition_batch)
        alone, _ = set_net(CompositionBatch(torch.tensor([[11, 17]]), torch.tensor([[0.5, 0.5]])))
    torch.testing.assert_close(together[:1], alone, atol=1e-5, rtol=0)


def test_set_net_unary_composition(set_net: torch.nn.Module) -> None:
    batch = Compositions.from_formulas(["Fe", "Cu"]).batch(np.arange(2))
    assert batch.elements.shape == (2, 1)
    with torch.no_grad():
        mean, log_var = set_net(batch)
    assert mean.shape == (2,)
    assert torch.isfinite(mean).all()
    assert torch.isfinite(log_var).all()


def test_log_var_is_clamped(
    mlp_net: MLPNet, roost_net: torch.nn.Module, composition_batch: CompositionBatch
) -> None:
    low, high = LOG_VAR_RANGE
    for net in (mlp_net, roost_net):
        last = net.head[-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor([0.0, 1e3]))
        mean, log_var = net(torch.randn(3, 7) if net is mlp_net else composition_batch)
        assert torch.all(log_var == high)
        with torch.no_grad():
            last.bias.copy_(torch.tensor([0.0, -1e3]))
        mean, log_var = net(torch.randn(3, 7) if net is mlp_net else composition_batch)
        assert torch.all(log_var == low)
        assert torch.all(mean == 0)


def test_transformer_rejects_widths_it_cannot_split() -> None:
    # 10 is even and divisible by 2 heads, but its halves (5) cannot hold sin/cos pairs
    for width, n_heads in ((15, 3), (10, 2), (12, 8)):
        with pytest.raises(ValueError, match="width must be a multiple of 4 and of n_heads"):
            ElementTransformerNet(width=width, n_heads=n_heads)
    with pytest.raises(ValueError, match="width must be even"):
        fraction_encoding(torch.full((1, 2), 0.5), 5)


def test_fraction_encoding() -> None:
    fractions = torch.tensor([[0.5, 0.5, 0.0], [0.01, 0.02, 0.97]])
    for log in (False, True):
        codes = fraction_encoding(fractions, 8, log=log)
        assert codes.shape == (2, 3, 8)
        assert torch.all(codes.abs() <= 1.0)
        torch.testing.assert_close(codes[0, 0], codes[0, 1])  # equal fractions, equal codes
    # sin/cos pairs: the first pair is the position itself, sin^2 + cos^2 = 1
    codes = fraction_encoding(fractions, 8)
    torch.testing.assert_close(codes[..., 0] ** 2 + codes[..., 1] ** 2, torch.ones(2, 3))
    # fraction 0.5 sits at step 2499 of 5,000: sin(2499) in the first channel
    assert codes[0, 0, 0].item() == pytest.approx(np.sin(2499.0), abs=1e-4)
    # the log scale separates 1% from 2% more than the linear one does
    linear, log = fraction_encoding(fractions, 64), fraction_encoding(fractions, 64, log=True)
    linear_gap = (linear[1, 0] - linear[1, 1]).norm()
    log_gap = (log[1, 0] - log[1, 1]).norm()
    assert log_gap > linear_gap
