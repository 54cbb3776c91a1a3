"""Crystal-graph featurizer and CGCNN-style network, on rock salt and olivine LiFePO4."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pymatgen.core import Lattice, Structure

from discovery.crystal import (
    LOG_VAR_RANGE,
    CrystalBatch,
    CrystalGraphFeaturizer,
    CrystalGraphNet,
    CrystalGraphs,
    gaussian_basis,
)
from discovery.elements import table_version

# tiny models: on a busy machine, intra-op threads only wait on each other
pytestmark = pytest.mark.usefixtures("single_torch_thread")

NACL_A = 5.64  # angstrom


def rock_salt(cation: str, anion: str, a: float) -> Structure:
    """Conventional (8-atom) rock-salt cell with lattice constant ``a`` (angstrom)."""
    return Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(a), [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]]
    )


def primitive_rock_salt(cation: str, anion: str, a: float) -> Structure:
    """Primitive (2-atom) rock-salt cell with conventional lattice constant ``a`` (angstrom)."""
    half = a / 2
    lattice = Lattice([[0, half, half], [half, 0, half], [half, half, 0]])
    return Structure(lattice, [cation, anion], [[0, 0, 0], [0.5, 0.5, 0.5]])


@pytest.fixture
def nacl_structure() -> Structure:
    return rock_salt("Na", "Cl", NACL_A)


@pytest.fixture
def lifepo4_structure() -> Structure:
    """Olivine LiFePO4 (Pnma), built from its lattice and Wyckoff positions."""
    return Structure.from_spacegroup(
        "Pnma",
        Lattice.orthorhombic(10.33, 6.01, 4.69),
        ["Li", "Fe", "P", "O", "O", "O"],
        [
            [0.0, 0.0, 0.0],
            [0.282, 0.25, 0.975],
            [0.095, 0.25, 0.418],
            [0.097, 0.25, 0.743],
            [0.457, 0.25, 0.206],
            [0.165, 0.046, 0.285],
        ],
    )


@pytest.fixture
def isolated_atom_structure() -> Structure:
    """One Fe atom in a 30 angstrom box: no neighbour within the default 8 angstrom cutoff."""
    return Structure(Lattice.cubic(30.0), ["Fe"], [[0.0, 0.0, 0.0]])


def neighbours_of(graphs: CrystalGraphs, crystal: int, atom: int) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour indices and distances of one atom, in stored order."""
    edges = graphs.edge_index[crystal]
    mask = edges[0] == atom
    return edges[1, mask], graphs.distances[crystal][mask]


# -- featurizer -------------------------------------------------------------------------------
def test_nacl_conventional_cell_has_six_unlike_neighbours(nacl_structure: Structure) -> None:
    graphs = CrystalGraphFeaturizer(cutoff=3.0, max_neighbors=12).featurize([nacl_structure])
    numbers = graphs.atomic_numbers[0]
    assert len(graphs) == 1
    assert graphs.n_atoms.tolist() == [8]
    assert sorted(numbers.tolist()) == [11] * 4 + [17] * 4
    edges, distances = graphs.edge_index[0], graphs.distances[0]
    assert edges.dtype == np.int64 and distances.dtype == np.float32
    assert np.bincount(edges[0], minlength=8).tolist() == [6] * 8
    np.testing.assert_allclose(distances, NACL_A / 2, atol=1e-4)
    assert np.all(numbers[edges[0]] != numbers[edges[1]])


def test_nacl_primitive_cell(nacl_structure: Structure) -> None:
    primitive = nacl_structure.get_primitive_structure()
    graphs = CrystalGraphFeaturizer(cutoff=3.0, max_neighbors=12).featurize([primitive])
    numbers, edges = graphs.atomic_numbers[0], graphs.edge_index[0]
    assert graphs.n_atoms.tolist() == [2]
    assert np.bincount(edges[0], minlength=2).tolist() == [6, 6]
    np.testing.assert_allclose(graphs.distances[0], NACL_A / 2, atol=1e-4)
    assert np.all(numbers[edges[0]] != numbers[edges[1]])


def test_max_neighbors_keeps_the_nearest_in_order(nacl_structure: Structure) -> None:
    # Within 4.5 angstrom: 6 Cl at a/2 = 2.82, then 12 Na at a/sqrt(2) = 3.99.
    full = CrystalGraphFeaturizer(cutoff=4.5, max_neighbors=100).featurize([nacl_structure])
    capped = CrystalGraphFeaturizer(cutoff=4.5, max_neighbors=10).featurize([nacl_structure])
    assert np.bincount(full.edge_index[0][0]).tolist() == [18] * 8
    assert np.bincount(capped.edge_index[0][0]).tolist() == [10] * 8
    for atom in range(8):
        _, near = neighbours_of(capped, 0, atom)
        assert np.all(np.diff(near) >= 0)
        np.testing.assert_allclose(near[:6], NACL_A / 2, atol=1e-4)
        np.testing.assert_allclose(near[6:], NACL_A / np.sqrt(2), atol=1e-4)


def test_lifepo4_phosphate_tetrahedra(lifepo4_structure: Structure) -> None:
    assert len(lifepo4_structure) == 28
    assert lifepo4_structure.composition.reduced_formula == "LiFePO4"
    assert lifepo4_structure.composition.get_el_amt_dict() == {
        "Li": 4,
        "Fe": 4,
        "P": 4,
        "O": 16,
    }
    featurizer = CrystalGraphFeaturizer(cutoff=8.0, max_neighbors=12)
    graphs = featurizer.featurize([lifepo4_structure])
    numbers = graphs.atomic_numbers[0]
    assert np.bincount(graphs.edge_index[0][0], minlength=28).max() <= 12
    assert np.bincount(graphs.edge_index[0][0], minlength=28).tolist() == [12] * 28
    phosphorus = np.flatnonzero(numbers == 15)
    assert phosphorus.size == 4
    for p in phosphorus:
        neighbours, distances = neighbours_of(graphs, 0, p)
        assert np.all(np.diff(distances) >= 0)
        assert numbers[neighbours[:4]].tolist() == [8, 8, 8, 8]
        assert np.all((distances[:4] >= 1.45) & (distances[:4] <= 1.65))
        assert distances[4] > 1.65


def test_isolated_atom_has_no_edges(isolated_atom_structure: Structure) -> None:
    graphs = CrystalGraphFeaturizer().featurize([isolated_atom_structure])
    assert graphs.n_atoms.tolist() == [1]
    assert graphs.edge_index[0].shape == (2, 0)
    assert graphs.distances[0].shape == (0,)


def test_version_names_settings_and_element_table() -> None:
    assert CrystalGraphFeaturizer().version == f"crystal-graph:8.0:12:40:{table_version()}"
    assert CrystalGraphFeaturizer(width=0.5).version != CrystalGraphFeaturizer().version
    graphs = CrystalGraphFeaturizer(cutoff=3.0).featurize([])
    assert len(graphs) == 0 and graphs.version.startswith("crystal-graph:3.0:")


def test_featurizer_rejects_bad_settings_and_disorder(nacl_structure: Structure) -> None:
    with pytest.raises(ValueError):
        CrystalGraphFeaturizer(max_neighbors=0)
    with pytest.raises(ValueError):
        CrystalGraphFeaturizer(n_gaussians=1)
    disordered = nacl_structure.copy()
    disordered.replace_species({"Na": {"Na": 0.5, "K": 0.5}})
    with pytest.raises(ValueError, match="disordered"):
        CrystalGraphFeaturizer().featurize([disordered])


def test_gaussian_basis_spacing() -> None:
    centres, width = gaussian_basis(8.0, 41)
    assert centres.shape == (41,) and centres[0] == 0.0 and centres[-1] == pytest.approx(8.0)
    assert width == pytest.approx(0.2)
    assert gaussian_basis(8.0, 41, width=0.5)[1] == 0.5


# -- batching -----------------------------------------------------------------------------------
def test_batch_offsets_edges_within_each_crystal(
    nacl_structure: Structure, lifepo4_structure: Structure
) -> None:
    graphs = CrystalGraphFeaturizer(cutoff=5.0).featurize([nacl_structure, lifepo4_structure])
    batch = graphs.batch(np.array([1, 0]))
    assert isinstance(batch, CrystalBatch)
    assert batch.n_graphs == 2
    assert batch.atomic_numbers.shape == (36,) and batch.atomic_numbers.dtype == torch.long
    assert batch.graph_index.tolist() == [0] * 28 + [1] * 8
    assert batch.edge_index.dtype == torch.long and batch.distances.dtype == torch.float32
    n_edges = graphs.edge_index[1].shape[1] + graphs.edge_index[0].shape[1]
    assert batch.edge_index.shape == (2, n_edges) and batch.distances.shape == (n_edges,)
    graph_of = batch.graph_index[batch.edge_index]
    assert torch.equal(graph_of[0], graph_of[1])  # no edge crosses crystals
    lifepo4_edges = graphs.edge_index[1].shape[1]
    assert torch.equal(batch.edge_index[:, :lifepo4_edges], torch.from_numpy(graphs.edge_index[1]))
    assert torch.equal(
        batch.edge_index[:, lifepo4_edges:], torch.from_numpy(graphs.edge_index[0]) + 28
    )
    assert torch.equal(batch.atomic_numbers[28:], torch.from_numpy(graphs.atomic_numbers[0]))
    moved = batch.to(torch.device("cpu"))
    assert moved.n_graphs == 2 and torch.equal(moved.edge_index, batch.edge_index)
    with pytest.raises(IndexError):
        graphs.batch(np.array([2]))


# -- network ------------------------------------------------------------------------------------
def small_net(seed: int = 0, dropout: float = 0.0) -> CrystalGraphNet:
    torch.manual_seed(seed)
    return CrystalGraphNet(hidden=32, n_conv=2, n_gaussians=40, cutoff=8.0, dropout=dropout)


def test_forward_backward_shapes_and_gradients(
    nacl_structure: Structure, lifepo4_structure: Structure
) -> None:
    batch = CrystalGraphFeaturizer().featurize([nacl_structure, lifepo4_structure]).batch([0, 1])
    net = small_net()
    mean, log_var = net(batch)
    assert mean.shape == (2,) and log_var.shape == (2,)
    assert torch.isfinite(mean).all() and torch.isfinite(log_var).all()
    assert (log_var >= LOG_VAR_RANGE[0]).all() and (log_var <= LOG_VAR_RANGE[1]).all()
    target = torch.tensor([0.5, -1.0])
    loss = (0.5 * (log_var + (target - mean) ** 2 / log_var.exp())).mean()
    loss.backward()
    for name, parameter in net.named_parameters():
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
    # Only the rows of the elements present receive embedding gradients.
    used = parameter_rows_with_gradient(net.embedding.weight.grad)
    assert used == sorted({3, 8, 11, 15, 17, 26})
    assert not any(name == "element_table" for name, _ in net.named_parameters())


def parameter_rows_with_gradient(grad: torch.Tensor | None) -> list[int]:
    assert grad is not None
    return torch.nonzero(grad.abs().sum(dim=1)).flatten().tolist()


def test_prediction_is_invariant_to_site_order(lifepo4_structure: Structure) -> None:
    permutation = np.random.default_rng(0).permutation(len(lifepo4_structure))
    shuffled = Structure.from_sites([lifepo4_structure[i] for i in permutation])
    graphs = CrystalGraphFeaturizer().featurize([lifepo4_structure, shuffled])
    net = small_net().eval()
    with torch.no_grad():
        mean, log_var = net(graphs.batch([0, 1]))
        single_mean, _ = net(graphs.batch([1]))
    assert mean[0].item() == pytest.approx(mean[1].item(), abs=1e-5)
    assert log_var[0].item() == pytest.approx(log_var[1].item(), abs=1e-5)
    assert single_mean[0].item() == pytest.approx(mean[1].item(), abs=1e-5)


def test_conventional_and_primitive_cells_predict_alike(nacl_structure: Structure) -> None:
    primitive = nacl_structure.get_primitive_structure()
    graphs = CrystalGraphFeaturizer().featurize([nacl_structure, primitive])
    with torch.no_grad():
        mean, _ = small_net().eval()(graphs.batch([0, 1]))
    assert mean[0].item() == pytest.approx(mean[1].item(), abs=1e-5)


def test_deterministic_under_manual_seed(nacl_structure: Structure) -> None:
    batch = CrystalGraphFeaturizer().featurize([nacl_structure]).batch([0])
    first, second = small_net(seed=3, dropout=0.2), small_net(seed=3, dropout=0.2)
    torch.manual_seed(7)
    out_first = first(batch)
    torch.manual_seed(7)
    out_second = second(batch)
    assert torch.equal(out_first[0], out_second[0]) and torch.equal(out_first[1], out_second[1])
    assert not torch.equal(small_net(seed=4).eval()(batch)[0], first.eval()(batch)[0])


def test_isolated_atom_forwards(isolated_atom_structure: Structure) -> None:
    batch = CrystalGraphFeaturizer().featurize([isolated_atom_structure]).batch([0])
    mean, log_var = small_net()(batch)
    assert mean.shape == (1,) and torch.isfinite(mean).all() and torch.isfinite(log_var).all()
    (mean.sum() + log_var.sum()).backward()


def test_network_expansion_matches_featurizer() -> None:
    featurizer = CrystalGraphFeaturizer(cutoff=6.0, n_gaussians=25, width=0.4)
    net = CrystalGraphNet(hidden=8, n_conv=1, n_gaussians=25, cutoff=6.0, width=0.4)
    centres, width = gaussian_basis(featurizer.cutoff, featurizer.n_gaussians, featurizer.width)
    np.testing.assert_allclose(net.expansion.centres.numpy(), centres)
    assert net.expansion.width == width == featurizer.gaussian_width


def test_tiny_overfit() -> None:
    salts = [
        ("Li", "F", 4.03),
        ("Na", "Cl", 5.64),
        ("K", "Cl", 6.29),
        ("Mg", "O", 4.21),
        ("Ca", "O", 4.81),
        ("K", "Br", 6.60),
    ]
    structures = [primitive_rock_salt(c, a, x) for c, a, x in salts]
    graphs = CrystalGraphFeaturizer(cutoff=5.0, n_gaussians=20).featurize(structures)
    batch = graphs.batch(np.arange(len(structures)))
    target = torch.tensor([-1.5, -0.4, 0.3, 1.2, 0.8, -0.6])
    torch.manual_seed(0)
    net = CrystalGraphNet(hidden=32, n_conv=2, n_gaussians=20, cutoff=5.0)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    with torch.no_grad():
        initial = torch.mean((net(batch)[0] - target) ** 2).item()
    for _ in range(150):
        optimizer.zero_grad()
        mean, _ = net(batch)
        loss = torch.mean((mean - target) ** 2)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        final = torch.mean((net(batch)[0] - target) ** 2).item()
    assert final < initial / 10
