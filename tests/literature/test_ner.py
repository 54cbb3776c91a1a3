from __future__ import annotations

import pytest
import torch

from literature.ner import (
    Tagger,
    TrainConfig,
    _merge,
    best_path,
    bio_tags,
    decode,
    entity_scores,
    token_tags,
    train_tagger,
)
from literature.text import AnnotatedText, Span

LABELS = ("material", "tcValue")
TEXT = "The Tc of MgB2 is 39K, and La2−xSrxCuO4 reaches 38 K."
GOLD = (Span(10, 14, "material"), Span(18, 21, "tcValue"), Span(27, 39, "material"),
        Span(48, 52, "tcValue"))  # fmt: skip


@pytest.fixture(scope="module")
def tagger() -> Tagger:
    return Tagger.from_encoder(LABELS, seed=0)


def test_gold_spans_survive_tagging_and_decoding(tagger: Tagger) -> None:
    assert [TEXT[s.start : s.end] for s in GOLD] == ["MgB2", "39K", "La2−xSrxCuO4", "38 K"]
    windows = tagger._windows([TEXT])
    offsets = windows["offset_mapping"][0]
    special = offsets[:, 0] == offsets[:, 1]
    ids = token_tags(offsets, special, GOLD, tagger.tags)
    assert (ids[special] == -100).all()
    ids[ids < 0] = 0
    spans = decode(TEXT, offsets, ids, tagger.tags)
    assert [(s.start, s.end, s.label) for s in spans] == [(s.start, s.end, s.label) for s in GOLD]
    assert all(s.confidence == 1.0 for s in spans)


def test_a_span_inside_a_word_keeps_its_boundaries(tagger: Tagger) -> None:
    text = "Tc=39K"  # "39K" is one word for the tokenizer's pre-splitter
    windows = tagger._windows([text])
    offsets = windows["offset_mapping"][0]
    special = offsets[:, 0] == offsets[:, 1]
    gold = [Span(3, 6, "tcValue")]
    ids = token_tags(offsets, special, gold, tagger.tags)
    ids[ids < 0] = 0
    assert [(s.start, s.end) for s in decode(text, offsets, ids, tagger.tags)] == [(3, 6)]


def test_decode_opens_a_span_on_a_stray_inside_tag_and_averages_confidence() -> None:
    tags = bio_tags(LABELS)
    assert tags == ("O", "B-material", "I-material", "B-tcValue", "I-tcValue")
    offsets = torch.tensor([[0, 0], [0, 2], [3, 5], [6, 8], [0, 0]])
    ids = torch.tensor([0, 4, 4, 1, 0])  # I-tcValue I-tcValue B-material
    probs = torch.tensor([1.0, 0.5, 0.7, 0.9, 1.0])
    spans = decode("ab cd ef", offsets, ids, tags, probs)
    assert [(s.start, s.end, s.label) for s in spans] == [(0, 5, "tcValue"), (6, 8, "material")]
    assert spans[0].confidence == pytest.approx(0.6)


def test_best_path_never_opens_a_span_with_an_inside_tag() -> None:
    tags = bio_tags(LABELS)  # O, B-material, I-material, B-tcValue, I-tcValue
    probabilities = torch.tensor(
        [
            [0.6, 0.1, 0.2, 0.05, 0.05],
            [0.1, 0.1, 0.5, 0.1, 0.2],  # argmax: I-material right after O
            [0.1, 0.1, 0.6, 0.1, 0.1],
            [0.1, 0.1, 0.1, 0.2, 0.5],  # argmax: I-tcValue right after I-material
        ]
    )
    assert probabilities.argmax(-1).tolist() == [0, 2, 2, 4]
    # O B-m I-m B-t scores .6*.1*.6*.2 = .0072, above O O O B-t at .6*.1*.1*.2 = .0012
    assert best_path(probabilities, tags).tolist() == [0, 1, 2, 3]
    assert best_path(torch.empty(0, len(tags)), tags).tolist() == []


def test_entity_scores_by_hand() -> None:
    gold = [[Span(0, 4, "material"), Span(10, 14, "tcValue")], [Span(0, 3, "material")]]
    predicted = [[Span(0, 4, "material"), Span(10, 13, "tcValue")], [Span(0, 3, "material"),
                 Span(5, 7, "material")]]  # fmt: skip
    scores = entity_scores(gold, predicted, LABELS)
    assert scores["material"].precision == pytest.approx(2 / 3)
    assert scores["material"].recall == pytest.approx(1.0)
    assert scores["material"].f1 == pytest.approx(0.8)
    assert scores["tcValue"].f1 == 0.0  # off by one character: strict match gives nothing
    assert scores["micro"].precision == pytest.approx(2 / 4)
    assert scores["micro"].recall == pytest.approx(2 / 3)


def test_long_texts_are_windowed_and_stitched(tagger: Tagger) -> None:
    small = Tagger(tagger.model, tagger.tokenizer, LABELS, max_length=32, stride=8)
    text = " ".join(f"Sample {i} of MgB2 superconducts at {i} K." for i in range(30))
    windows = small._windows([text])
    assert len(windows["input_ids"]) > 5
    logits = small._forward(windows, batch_size=4)
    offsets, probabilities = _merge(windows, logits, 0)
    # Every token of the text once, in order, whatever window it came from.
    whole = tagger.tokenizer(text, return_offsets_mapping=True)["offset_mapping"]
    assert offsets.tolist() == [list(o) for o in whole if o[0] != o[1]]
    assert probabilities.shape == (len(offsets), len(tagger.tags))
    assert torch.allclose(probabilities.sum(-1), torch.ones(len(offsets)))
    for span in small.predict([text])[0]:
        assert 0 <= span.start < span.end <= len(text)


def test_batches_trimmed_by_length_predict_as_texts_alone(tagger: Tagger) -> None:
    texts = ["Tc = 39 K.", TEXT * 3, "", "MgB2", TEXT]
    spans = tagger.predict(texts, batch_size=2, thresholds=False)
    alone = [tagger.predict([t], thresholds=False)[0] for t in texts]
    assert any(spans)  # the untrained head tags something: the comparison is not empty
    assert [[(s.start, s.end, s.label) for s in x] for x in spans] == [
        [(s.start, s.end, s.label) for s in x] for x in alone
    ]
    for x, y in zip(spans, alone, strict=True):
        assert [s.confidence for s in x] == pytest.approx([s.confidence for s in y], abs=1e-4)
    assert tagger.predict([]) == []


def test_bytes_round_trip_gives_identical_predictions(tagger: Tagger) -> None:
    texts = [TEXT, "No entity here at all.", ""]
    again = Tagger.from_bytes(tagger.to_bytes())
    assert again.labels == tagger.labels
    assert again.predict(texts) == tagger.predict(texts)
    logits = tagger.model(**tagger.tokenizer([TEXT], return_tensors="pt")).logits
    assert logits.shape == (1, len(tagger.tokenizer(TEXT)["input_ids"]), len(bio_tags(LABELS)))


def test_training_learns_a_tiny_corpus_and_is_seeded() -> None:
    # Ten sentences, each with one material and one value: a few steps must fit them.
    materials = [
        "MgB2",
        "NbSe2",
        "Nb3Sn",
        "FeSe",
        "LaFeAsO",
        "YBa2Cu3O7",
        "CeCoIn5",
        "Hg",
        "Pb",
        "Nb",
    ]
    blocks = []
    for i, name in enumerate(materials):
        text = f"The compound {name} becomes superconducting at {10 + i} K."
        start = text.index(name)
        value = text.index(f"{10 + i} K")
        blocks.append(AnnotatedText(f"doc{i}", text, (Span(start, start + len(name), "material"),
                      Span(value, value + len(f"{10 + i} K"), "tcValue"))))  # fmt: skip
    config = TrainConfig(epochs=12, batch_size=5, learning_rate=3e-4, patience=12, progress=False,
                         warmup_fraction=0.0)  # fmt: skip
    first, report = train_tagger(blocks, blocks, LABELS, config)
    second, _ = train_tagger(blocks, blocks, LABELS, config)
    assert report.best_f1 > 0.9, report.epochs
    assert first.predict([blocks[0].text]) == second.predict([blocks[0].text])


def test_thresholds_are_calibrated_per_type_on_held_out_blocks() -> None:
    from types import SimpleNamespace

    from literature.ner import calibrate_thresholds

    # Twelve gold materials; the tagger finds them at 0.95 plus twelve wrong ones at 0.6.
    blocks = [AnnotatedText(f"d{i}", "MgB2 and Nb at 39 K", (Span(0, 4, "material"),))
              for i in range(12)]  # fmt: skip
    found = [[Span(0, 4, "material", confidence=0.95), Span(9, 11, "material", confidence=0.6),
              Span(15, 19, "tcValue", confidence=0.3)] for _ in blocks]  # fmt: skip
    tagger = SimpleNamespace(labels=LABELS, predict=lambda texts, thresholds: found)
    chosen = calibrate_thresholds(tagger, blocks)  # type: ignore[arg-type]
    assert chosen == {"material": 0.7, "tcValue": 0.0}  # lowest threshold that drops the 0.6s
