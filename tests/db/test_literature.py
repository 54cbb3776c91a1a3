from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
from bson import ObjectId

from db.connection import SCHEMA_COLLECTION, SCHEMA_ID, connect, database
from db.literature import (
    FailedFileDocument,
    IngestReport,
    LiteratureStore,
    MentionDocument,
    PaperDocument,
    PassageDocument,
    PropertyRecordDocument,
    RejectedClaimDocument,
    RemovedPaperDocument,
    RemovedRecordDocument,
    record_key,
    record_order,
    reread_adduct_records,
    resolve_paper_key,
)
from db.literature import merge_records_by_composition as merge_records
from db.models import records_gone, register_model
from db.query import FilterError, optimade_to_mongo
from discovery.domain import ModelArtifact
from literature.parsing import parse_paper, read_paper
from literature.pipeline import Extractor
from literature.records import PaperExtraction
from tests.stand_ins import SUPERMAT_NUMBERS_DIFFER, SpansOf


@pytest.fixture
def literature(mongodb_uri: str) -> LiteratureStore:
    return LiteratureStore()


@pytest.fixture
def sample(literature_samples: SimpleNamespace) -> SimpleNamespace:
    return literature_samples


def stored_at_version(version: int) -> None:
    """Mark the stored documents as of schema ``version`` (older shapes were written)."""
    database()[SCHEMA_COLLECTION].update_one({"_id": SCHEMA_ID}, {"$set": {"version": version}})


def counts() -> dict[str, int]:
    return {d.__name__: d.objects.count() for d in
            (PaperDocument, PassageDocument, MentionDocument, PropertyRecordDocument)}  # fmt: skip


def test_ingest_stores_provenance_and_reingesting_adds_nothing(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    first = literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO"]))
    assert first.new and first.passages == 2 and first.mentions == 4 and first.records_new == 2
    before = counts()
    again = literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO"]))
    assert not again.new and counts() == before
    rows, total = literature.records(literature.records_query(property="tc"))
    assert total == 2
    mgb2 = next(r for r in rows if r["material"] == "MgB2")
    (source,) = mgb2["sources"]
    assert source["paper"] == "doi:10.1/a" and source["model_version"] == sample.version
    passage = PassageDocument.objects.get(paper=PaperDocument.objects.get(key="doi:10.1/a"),
                                          sentence=source["sentence"])  # fmt: skip
    start, end = source["value_span"]
    assert passage.text[start:end] == "39 K" and passage.elements == ["B", "Mg"]
    sentence, start, end = source["material_span"]
    assert sentence == source["sentence"] and passage.text[start:end] == "MgB2"
    # lineage reaches the sentence: its passage id and its text
    assert source["passage"] == str(passage.id) and source["text"] == passage.text
    (bare,) = literature.records(literature.records_query(material="MgB2"), sentences=False)[0]
    assert bare["sources"][0]["passage"] == str(passage.id)


def test_a_paper_stored_under_its_old_text_hash_key_is_not_stored_again(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    extraction = sample.extraction("10.1/a", ["MgB2"])
    extraction = replace(extraction, paper=replace(extraction.paper, doi=None))
    paper = extraction.paper
    old = hashlib.sha256(" ".join(paper.sections[0].text.split()).encode() + b"\x00")
    assert paper.legacy_key == f"sha256:{old.hexdigest()}" != paper.key
    assert literature.ingest(extraction).new
    PaperDocument.objects(key=paper.key).update(set__key=paper.legacy_key)  # as stored before
    before = counts()
    again = literature.ingest(extraction)
    assert not again.new and again.paper_key == paper.legacy_key and counts() == before
    assert literature.stored_key(paper) == paper.legacy_key


def test_a_paper_stored_by_its_text_before_its_doi_was_read_is_not_stored_again(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    with_doi = sample.extraction("10.1/a", ["MgB2"])
    by_text = replace(with_doi, paper=replace(with_doi.paper, doi=None))
    stored = literature.ingest(by_text)  # as a text paper was keyed before its DOI was read
    before = counts()
    again = literature.ingest(with_doi)
    assert not again.new and again.paper_key == stored.paper_key and counts() == before


def text_paper(
    title: str, text: str, doi: str | None = None, source: str = "/papers/lf.txt"
) -> PaperExtraction:
    """A plain-text file's paper, its first line ``title``, read by a tagger finding nothing."""
    paper = replace(parse_paper(f"{title}\n\n{text}".encode(), source), doi=doi)
    return Extractor(SpansOf([]), "tagger-test:0").extract(paper)  # type: ignore[arg-type]


def test_each_supermat_article_stored_from_both_its_files_is_one_paper_but_where_numbers_differ(
    literature: LiteratureStore, supermat_root: Path
) -> None:
    reader = Extractor(SpansOf([]), "tagger-test:0")  # type: ignore[arg-type]
    teis = sorted(supermat_root.rglob("*.superconductors.tei.xml"))
    for i, tei in enumerate(teis):  # 111 with the same words, 3 near twins, 6 apart
        name = tei.name.removesuffix(".superconductors.tei.xml")
        txt = tei.with_name(f"{name}.txt")
        order = (tei, txt) if i % 2 == 0 else (txt, tei)  # either may be stored first
        first, then = (literature.ingest(reader.extract(read_paper(f))) for f in order)
        assert first.new and then.new == (name in SUPERMAT_NUMBERS_DIFFER), name
        if not then.new:  # the file read second is taken for the paper stored first
            assert then.paper_key == first.paper_key, name
    assert len(teis) == 120 and PaperDocument.objects.count() == 120 + len(SUPERMAT_NUMBERS_DIFFER)


ABSTRACT = (
    "We report that MgB2 becomes superconducting at 39 K, found by resistivity and "
    "magnetization measurements on dense polycrystalline samples sintered at 950 C under "
    "argon; the transition is sharp and the upper critical field reaches 14 T."
)


def test_an_edited_paper_is_a_new_paper_unless_it_only_lost_a_few_words(
    literature: LiteratureStore,
) -> None:
    stored = literature.ingest(text_paper("Superconductivity in MgB2", ABSTRACT)).paper_key
    shorter = ABSTRACT.replace(" and magnetization", "")
    lost = text_paper("Superconductivity in MgB2", shorter, source="/papers/lf-grobid.txt")
    assert literature.ingest(lost) == IngestReport(stored, new=False)  # as another converter
    edit = text_paper("Superconductivity in MgB2", shorter)  # its own file: an edit
    assert literature.ingest(edit).new
    for edit in (
        ABSTRACT.replace("39 K", "39.5 K"),  # a value changed
        ABSTRACT.replace("sintered at 950 C", "sintered"),  # a number left out
        f"{ABSTRACT} At 2 GPa Tc is 37 K.",  # a reading added
        ABSTRACT.replace("sharp", "broad"),  # a word changed, no number
    ):
        report = literature.ingest(text_paper("Superconductivity in MgB2", edit))
        assert report.new, edit
        assert literature.earlier_versions("/papers/lf.txt", "Superconductivity in MgB2",
                                           report.paper_key)[0] == stored  # fmt: skip
    assert PaperDocument.objects.count() == 6


def test_two_papers_with_one_title_stay_two(literature: LiteratureStore) -> None:
    title = "Superconductivity in MgB2"
    first = literature.ingest(text_paper(title, ABSTRACT)).paper_key
    other = "MgB2 films made at 950 C on sapphire are superconducting at 39 K and keep 14 T."
    assert literature.ingest(text_paper(title, other)).new  # the same numbers, other words
    summary = "MgB2 becomes superconducting at 39 K, sintered at 950 C; the field reaches 14 T."
    assert literature.ingest(text_paper(title, summary)).new  # its words, but under half
    lost = ABSTRACT.replace(" and magnetization", "")  # a near twin of the first...
    assert literature.ingest(text_paper("MgB2", lost)).new  # ... under another title
    twin = "/papers/lf-grobid.txt"  # another converter's file
    assert not literature.ingest(text_paper(title, lost, "10.1/its", twin)).new  # first: none
    assert literature.stored_key(text_paper(title, lost, source=twin).paper) == first
    assert literature.ingest(text_paper("At 39 K", ABSTRACT, doi="10.1/a")).new
    assert literature.ingest(text_paper("At 39 K", lost, "10.1/b", twin)).new  # another DOI
    assert PaperDocument.objects.count() == 6


def test_impossible_readings_dropped_at_extraction_are_counted_on_the_paper(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    extraction = replace(sample.extraction("10.1/a", ["MgB2"]), records_rejected=2)
    report = literature.ingest(extraction)
    assert report.records_new == 1 and report.records_rejected == 2
    assert PaperDocument.objects.get(key="doi:10.1/a").records_rejected == 2


def test_the_same_reading_from_two_papers_is_one_record_with_two_sources(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["MgB2"]))
    literature.ingest(sample.extraction("10.1/b", ["MgB2", "NbSe2"]))
    rows, total = literature.records(literature.records_query(material="MgB2"))
    assert total == 1
    assert rows[0]["n_papers"] == 2 and rows[0]["n_sources"] == 2
    assert {s["paper"] for s in rows[0]["sources"]} == {"doi:10.1/a", "doi:10.1/b"}
    assert rows[0]["papers"] == ["doi:10.1/a", "doi:10.1/b"]  # a column of its own


def test_a_record_keeps_each_sources_uncertainty_and_states_the_largest(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["MgB2"]))  # 39 K, no uncertainty
    rows, _ = literature.records(literature.records_query(material="MgB2"))
    assert rows[0]["uncertainty"] is None
    literature.ingest(sample.extraction("10.1/b", ["MgB2 (1)"]))  # 39(1) K
    literature.ingest(sample.extraction("10.1/c", ["MgB2 ± 0.5"]))  # 39 ± 0.5 K
    rows, total = literature.records(literature.records_query(material="MgB2"))
    assert total == 1 and rows[0]["value"] == 39.0
    assert rows[0]["uncertainty"] == 1.0  # the most cautious statement stands
    assert {s["paper"]: s["uncertainty"] for s in rows[0]["sources"]} == {
        "doi:10.1/a": None,
        "doi:10.1/b": 1.0,
        "doi:10.1/c": 0.5,
    }


def test_a_bound_a_range_and_a_value_are_different_records(sample: SimpleNamespace) -> None:
    [record] = sample.extraction("10.1/a", ["MgB2"]).records  # "= 39 K"
    below = replace(record, qualifier="<")
    spread = replace(record, low=30.0, high=48.0)
    keys = {record_key(r) for r in (record, below, spread)}
    assert len(keys) == 3
    assert record_key(replace(record, formula="B2Mg")) == record_key(record)  # one material


def test_records_by_element_and_value_range(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))

    def materials(**query: object) -> list[str]:
        rows, _ = literature.records(literature.records_query(**query))  # type: ignore[arg-type]
        return sorted(r["material"] for r in rows)

    assert materials(elements=["Cu", "O"]) == ["La1.85Sr0.15CuO4"]
    assert materials(property="tc", minimum=10, maximum=38.5) == ["La1.85Sr0.15CuO4"]
    assert materials(property="tc", minimum=5) == ["La1.85Sr0.15CuO4", "MgB2", "NbSe2"]
    assert materials(elements=["Nb"], maximum=7.2) == ["NbSe2"]
    with pytest.raises(ValueError, match="elements: 'Xx'"):
        literature.records_query(elements=["Xx"])
    with pytest.raises(ValueError, match="minimum"):
        literature.records_query(minimum=5, maximum=1)


def test_records_sort_by_a_field_either_way(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))

    def values(order: str) -> list[float]:
        rows, _ = literature.records(literature.records_query(property="tc"), sort=order)
        return [r["value"] for r in rows]

    assert values("-value") == [39.0, 38.0, 7.2]  # the highest Tc first
    assert values("value") == [7.2, 38.0, 39.0]
    assert values("material") == [38.0, 39.0, 7.2]  # La1.85..., MgB2, NbSe2
    with pytest.raises(ValueError, match="sort: 'tc' is not a record field to sort by"):
        literature.records({}, sort="tc")
    assert record_order("-n_papers")[:2] == ("-n_papers", "-confidence")  # surest first


def read(doi: str, text: str, materials: list[str], values: list[str]) -> PaperExtraction:
    """``text`` read as paper ``doi:<doi>`` with these material and Tc mentions."""
    pieces = [("material", m) for m in materials] + [("tcValue", v) for v in values]
    paper = replace(parse_paper(text.encode(), f"{doi}.txt"), doi=doi)
    return Extractor(SpansOf(pieces), "tagger-test:0").extract(paper)  # type: ignore[arg-type]


BOUNDS = read(
    "10.1/bounds",
    "CoSr2YCu2O7 has Tc up to 40 K. FeSe has Tc over 30 K. MgB2 has Tc 39 K. Nb3Ge has Tc 20-48 K.",
    ["CoSr2YCu2O7", "FeSe", "MgB2", "Nb3Ge"],
    ["up to 40 K", "over 30 K", "39 K", "20-48 K"],
)


def filtered(literature: LiteratureStore, text: str) -> list[str]:
    """Materials of the records an OPTIMADE filter finds, as the HTTP API lists them."""
    rows, _ = literature.records(literature.records_filter(text))
    return sorted(r["material"] for r in rows)


def test_what_one_tagger_read_is_found_by_its_version(literature: LiteratureStore) -> None:
    literature.ingest(read("10.1/a", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    other = read("10.1/b", "FeSe has Tc 8 K.", ["FeSe"], ["8 K"])
    literature.ingest(replace(other, model_version="tagger-test:1"))
    assert filtered(literature, 'model_version="tagger-test:1"') == ["FeSe"]
    assert filtered(literature, 'model_version!="tagger-test:1"') == ["MgB2"]
    papers, _ = literature.papers(literature.papers_filter('model_version="tagger-test:0"'))
    assert [p["key"] for p in papers] == ["doi:10.1/a"]


def test_records_are_filtered_by_the_pressure_they_were_read_at(
    literature: LiteratureStore,
) -> None:
    text = "FeSe has Tc 37 K at 8.9 GPa. MgB2 has Tc 39 K. H3S has Tc 203 K above 150 GPa."
    pieces = [("material", "FeSe"), ("tcValue", "37 K"), ("pressure", "8.9 GPa"),
              ("material", "MgB2"), ("tcValue", "39 K"),
              ("material", "H3S"), ("tcValue", "203 K"), ("pressure", "above 150 GPa")]  # fmt: skip
    paper = replace(parse_paper(text.encode(), "10.1/p.txt"), doi="10.1/p")
    literature.ingest(Extractor(SpansOf(pieces), "tagger-test:0").extract(paper))  # type: ignore[arg-type]
    assert filtered(literature, "pressure_gpa>1") == ["FeSe"]
    assert filtered(literature, "pressure_gpa_low>=100") == ["H3S"]  # "above": a low end only
    ambient = " AND ".join(f"{f} IS UNKNOWN" for f in ("pressure_gpa", "pressure_gpa_low",
                                                         "pressure_gpa_high"))  # fmt: skip
    assert filtered(literature, ambient) == ["MgB2"]
    assert filtered(literature, "n_sources=1") == ["FeSe", "H3S", "MgB2"]
    rows = {r["material"]: r["sources"][0] for r in literature.records({})[0]}
    start, end = rows["FeSe"]["condition_span"]  # lineage down to the pressure's words
    assert rows["FeSe"]["condition_text"] == "8.9 GPa" == rows["FeSe"]["text"][start:end]
    assert rows["MgB2"]["condition_text"] is rows["MgB2"]["condition_span"] is None


def test_a_bound_is_stored_with_its_one_end_and_filters_read_it_so(
    literature: LiteratureStore,
) -> None:
    literature.ingest(BOUNDS)
    stored = {d["material"]: d for d in PropertyRecordDocument._get_collection().find()}
    assert "low" not in stored["CoSr2YCu2O7"] and stored["CoSr2YCu2O7"]["high"] == 40.0
    assert stored["FeSe"]["low"] == 30.0 and "high" not in stored["FeSe"]
    rows = {r["material"]: r for r in literature.records({})[0]}
    assert (rows["CoSr2YCu2O7"]["low"], rows["CoSr2YCu2O7"]["value"]) == (None, 40.0)
    assert (rows["FeSe"]["high"], rows["Nb3Ge"]["low"], rows["Nb3Ge"]["high"]) == (None, 20, 48)
    # known to be at least 30: not "up to 40 K"; at most 46: not "over 30 K"
    assert filtered(literature, "low>=30") == ["FeSe", "MgB2"]
    assert filtered(literature, 'high<=46 AND qualifier=">"') == []
    assert filtered(literature, "high<=46") == ["CoSr2YCu2O7", "MgB2"]
    assert filtered(literature, "low IS UNKNOWN") == ["CoSr2YCu2O7"]


@pytest.mark.parametrize(
    ("minimum", "maximum", "api"),
    [(39, None, "value>=39"), (None, 35, "value<=35"), (30, 39, "value>=30 AND value<=39")],
)
def test_min_and_max_compare_the_stated_value_as_the_api_filter_does(
    literature: LiteratureStore, minimum: float | None, maximum: float | None, api: str
) -> None:
    literature.ingest(BOUNDS)  # values 40 (<=), 30 (>), 39, 34 (20-48)
    rows, _ = literature.records(literature.records_query("tc", (), minimum, maximum))
    assert sorted(r["material"] for r in rows) == filtered(literature, api)
    assert rows  # each case finds something


def test_a_value_range_selects_the_records_whose_stated_value_is_in_it(
    literature: LiteratureStore,
) -> None:
    literature.ingest(BOUNDS)

    def materials(minimum: float | None = None, maximum: float | None = None) -> list[str]:
        query = literature.records_query(property="tc", minimum=minimum, maximum=maximum)
        return sorted(r["material"] for r in literature.records(query)[0])

    assert materials(minimum=39) == ["CoSr2YCu2O7", "MgB2"]  # "up to 40 K" states 40
    assert materials(maximum=34) == ["FeSe", "Nb3Ge"]  # "over 30 K", "20-48 K" (34)
    assert materials(minimum=35, maximum=39.5) == ["MgB2"]


def test_bounds_stored_with_both_ends_are_upgraded_and_read_again_into_their_record(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    literature.ingest(BOUNDS)
    records = PropertyRecordDocument._get_collection()
    # as stored before: a bound's open end equal to its number
    records.update_one({"material": "CoSr2YCu2O7"}, {"$set": {"low": 40.0}})
    records.update_one({"material": "FeSe"}, {"$set": {"high": 30.0}})
    stored_at_version(0)  # before step 1
    connect(mongodb_uri)  # a new process meets the old documents
    assert filtered(literature, "low>=40 OR high<=30") == []
    again = read("10.1/again", "CoSr2YCu2O7 has Tc up to 40 K.", ["CoSr2YCu2O7"], ["up to 40 K"])
    assert literature.ingest(again).records_merged == 1  # the same claim: one record
    (row,) = literature.records(literature.records_query(material="CoSr2YCu2O7"))[0]
    assert (row["low"], row["high"], row["n_papers"]) == (None, 40.0, 2)


#: Materials named by abbreviation (BSCCO, LSCO, Co-1212) beside one formula.
NAMED = read(
    "10.1/names",
    "BSCCO has Tc 89.5 K. LSCO has Tc 38 K. Co-1212 has Tc 40 K. MgB2 has Tc 39 K.",
    ["BSCCO", "LSCO", "Co-1212", "MgB2"],
    ["89.5 K", "38 K", "40 K", "39 K"],
)


def test_elements_of_a_name_without_a_formula_are_filtered_on(
    literature: LiteratureStore,
) -> None:
    literature.ingest(NAMED)

    def materials(**query: object) -> list[str]:
        rows, _ = literature.records(literature.records_query(**query))  # type: ignore[arg-type]
        return sorted(r["material"] for r in rows)

    assert materials(elements=["Cu"]) == ["BSCCO", "LSCO"]  # Co-1212's are not known
    assert filtered(literature, 'elements HAS "Bi" AND nelements=5') == ["BSCCO"]
    assert filtered(literature, 'NOT elements HAS "O" AND nelements IS KNOWN') == ["MgB2"]
    assert filtered(literature, 'NOT elements HAS "O"') == ["Co-1212", "MgB2"]  # unknown: in


def test_a_record_stored_without_elements_gets_them_when_read_again(
    literature: LiteratureStore,
) -> None:
    literature.ingest(read("10.1/a", "LSCO has Tc 38 K.", ["LSCO"], ["38 K"]))
    PropertyRecordDocument.objects(material="LSCO").update(set__elements=[], unset__nelements=1)
    literature.ingest(read("10.1/b", "LSCO shows Tc 38 K.", ["LSCO"], ["38 K"]))
    (row,) = literature.records({})[0]
    assert (row["elements"], row["nelements"], row["n_papers"]) == (["Cu", "La", "O", "Sr"], 4, 2)


def test_a_papers_records_are_the_records_citing_it_and_its_readings_are_counted(
    literature: LiteratureStore,
) -> None:
    text = "MgB2 has Tc 39 K. Again, MgB2 has Tc 39 K. FeSe has Tc 8 K."
    literature.ingest(read("10.1/a", text, ["MgB2", "FeSe"], ["39 K", "8 K"]))
    (paper,), _ = literature.papers({})
    assert (paper["readings"], paper["records"]) == (3, 2)
    assert paper["records"] == len(filtered(literature, 'paper="doi:10.1/a"'))


def test_papers_stored_when_records_counted_readings_are_upgraded(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    text = "MgB2 has Tc 39 K. Again, MgB2 has Tc 39 K."
    literature.ingest(read("10.1/a", text, ["MgB2"], ["39 K"]))
    # as stored before: records counted the readings, and there were no readings
    PaperDocument._get_collection().update_one(
        {}, {"$set": {"records": 2}, "$unset": {"readings": ""}}
    )
    stored_at_version(1)  # before step 2
    connect(mongodb_uri)
    (paper,), _ = literature.papers({})
    assert (paper["readings"], paper["records"]) == (2, 1)


def test_records_sort_by_several_fields_as_trials_and_measurements_do(
    literature: LiteratureStore,
) -> None:
    literature.ingest(BOUNDS)  # up to 40 K, over 30 K, 39 K, 20-48 K (34)
    literature.ingest(read("10.1/again", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))

    def materials(order: str) -> list[str]:
        return [r["material"] for r in literature.records({}, sort=order)[0]]

    assert materials("-n_papers,value") == ["MgB2", "FeSe", "Nb3Ge", "CoSr2YCu2O7"]
    assert materials(" n_papers , -value ") == ["CoSr2YCu2O7", "Nb3Ge", "FeSe", "MgB2"]
    # what a record is known to lie between: an open end (not stored) first ascending
    assert materials("-low") == ["MgB2", "FeSe", "Nb3Ge", "CoSr2YCu2O7"]
    assert materials("high") == ["FeSe", "MgB2", "CoSr2YCu2O7", "Nb3Ge"]
    assert materials("-n_sources,material")[0] == "MgB2"
    assert sorted(materials("-created_at")) == sorted(materials(""))  # every record, once
    # ties left: the surest (of records read as often), then material, then the unique key
    surest = ("n_papers", "-value", "-confidence", "material", "key")
    assert record_order("n_papers,-value") == surest


@pytest.mark.parametrize(
    ("order", "message"),
    [
        ("tc", "sort: 'tc' is not a record field to sort by; use one of material,"),
        ("-value,-tc", "sort: '-tc' is not a record field to sort by"),
        ("value,-value", "sort: 'value' is named twice in 'value,-value'"),
    ],
)
def test_a_record_sort_it_cannot_follow_is_a_filter_error(
    literature: LiteratureStore, order: str, message: str
) -> None:
    # the error the other listings' sorts raise: a 400 from the API, not a 422
    with pytest.raises(FilterError, match=re.escape(message)):
        literature.records({}, sort=order)


def test_a_material_is_its_composition_in_any_spelling_or_its_name_in_any_case(
    literature: LiteratureStore,
) -> None:
    literature.ingest(NAMED)

    def materials(material: str) -> list[str]:
        rows, _ = literature.records(literature.records_query(material=material))
        return sorted(r["material"] for r in rows)

    for written, found in [
        ("MgB2", ["MgB2"]),
        ("B2Mg", ["MgB2"]),  # a formula: its composition
        ("Mg2B4", ["MgB2"]),
        ("mgb2", ["MgB2"]),  # no formula (no symbols spell it): a name, in any case
        ("lsco", ["LSCO"]),
        ("Co-1212", ["Co-1212"]),
        ("CO", []),  # carbon monoxide, not cobalt
    ]:
        assert materials(written) == found == filtered(literature, f'material="{written}"')
    others = ["BSCCO", "Co-1212", "LSCO"]
    assert filtered(literature, 'material!="B2Mg"') == others  # what = selects, no more
    assert filtered(literature, 'material!="mgb2"') == others


def test_one_element_with_an_amount_is_that_form_and_the_element_is_every_form(
    literature: LiteratureStore,
) -> None:
    carbon = read("10.1/carbon", "C has Tc 4 K. C60 has Tc 5 K.", ["C", "C60"], ["4 K", "5 K"])
    literature.ingest(carbon)

    def materials(material: str) -> list[str]:
        rows, _ = literature.records(literature.records_query(material=material))
        return sorted(r["material"] for r in rows)

    assert materials("C60") == ["C60"] == filtered(literature, 'material="C60"')
    assert materials("C") == ["C", "C60"]  # the element: fullerene is carbon too
    assert filtered(literature, 'material!="C60"') == ["C"]


def test_a_name_finds_the_records_read_under_it_whatever_formula_they_are_stored_as(
    literature: LiteratureStore,
) -> None:
    literature.ingest(read("10.1/ybco", "YBCO has Tc 92 K. MgB2 has Tc 39 K.",
                           ["YBCO", "MgB2"], ["92 K", "39 K"]))  # fmt: skip
    assert filtered(literature, 'material="ybco"') == ["YBa2Cu3O7"]  # as the paper wrote it
    assert filtered(literature, 'material="YBa2Cu3O7"') == ["YBa2Cu3O7"]
    assert filtered(literature, 'material!="YBCO"') == ["MgB2"]


def test_records_of_a_paper_are_found_by_its_doi_however_written(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["NbSe2"]))
    literature.ingest(sample.extraction("10.1/bb", ["MgB2"]))
    for written in ("10.1/BB", "https://doi.org/10.1/bb", "doi: 10.1/bb"):
        rows, _ = literature.records(literature.records_query(paper=written))
        assert (
            [r["material"] for r in rows] == ["MgB2"] == filtered(literature, f'paper="{written}"')
        )
        papers, _ = literature.papers(optimade_to_mongo(f'doi="{written}"', "papers"))
        assert [p["key"] for p in papers] == ["doi:10.1/bb"]


def test_a_property_is_matched_in_any_case(literature: LiteratureStore) -> None:
    literature.ingest(BOUNDS)
    assert literature.records(literature.records_query(property="Tc"))[1] == 4
    assert literature.properties() == ["tc"]


def test_search_ranks_by_cosine_within_filters(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(
        sample.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"])
    )  # sentence j has unit(j + 6)
    hits = literature.search(sample.unit(7), k=2)
    assert hits[0].text == sample.sentences["LSCO"] and hits[0].score == pytest.approx(1.0)
    assert len(hits) == 2 and hits[1].score == pytest.approx(0.0)
    (only,) = literature.search(sample.unit(7), k=5, elements=["Nb"])
    assert only.text == sample.sentences["NbSe2"]
    in_range = literature.search(sample.unit(6), k=5, property="tc", minimum=30)
    assert {h.text for h in in_range} == {sample.sentences["MgB2"], sample.sentences["LSCO"]}
    assert hits[0].paper_key == "doi:10.1/a" and hits[0].title == "Paper 10.1/a"


def test_tagger_registry_round_trip(literature: LiteratureStore) -> None:
    artifact = ModelArtifact("tagger-supermat", "f" * 64, {"test": {"micro": 0.8}}, b"\x00weights")
    version = literature.save_tagger(artifact)
    assert literature.save_tagger(artifact) == version  # idempotent
    loaded = literature.load_tagger()
    assert loaded.version == version and loaded.weights == b"\x00weights"
    assert loaded.metrics["test"] == {"micro": 0.8}
    with pytest.raises(LookupError, match="no version"):
        literature.load_tagger("nope")


def test_the_default_tagger_is_the_best_on_held_out_papers(literature: LiteratureStore) -> None:
    def tagger(name: str, f1: float | None) -> str:
        scores = {} if f1 is None else {"test": {"micro": {"f1": f1}}}
        return literature.save_tagger(ModelArtifact("tagger-supermat", name * 64, scores, b"w"))

    tagger("a", None)
    tagger("b", 0.7)
    better = tagger("c", 0.8)
    tried = tagger("d", 0.0)  # the newest: a one-epoch try
    assert literature.load_tagger().version == better
    assert literature.load_tagger(tried).version == tried  # still there, by name
    assert tagger("e", 0.8) == literature.load_tagger().version  # the newest of equals


def test_records_as_a_dataframe(literature: LiteratureStore, sample: SimpleNamespace) -> None:
    from agents.literature import records_dataframe

    literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    literature.ingest(sample.extraction("10.1/bb", ["MgB2 ± 0.5"]))
    frame = records_dataframe(literature, property="tc", minimum=30)
    assert list(frame["material"]) == ["La1.85Sr0.15CuO4", "MgB2"]
    assert frame["uncertainty"].tolist()[1] == 0.5 and frame["uncertainty"].isna().tolist()[0]
    assert list(frame["value"]) == [38.0, 39.0] and set(frame["unit"]) == {"K"}
    assert frame.loc[frame["material"] == "MgB2", "papers"].item() == ["doi:10.1/a", "doi:10.1/bb"]
    assert records_dataframe(literature, elements=["Hg"]).empty


def test_the_dataframe_has_conditions_and_the_reduced_formula(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    from agents.literature import records_dataframe

    extraction = sample.extraction("10.1/a", ["MgB2", "NbSe2"])
    mgb2, nbse2 = extraction.records
    under = replace(mgb2, value=35.0, low=35.0, high=35.0, conditions={"pressure_gpa": 5.0})
    literature.ingest(replace(extraction, records=[mgb2, under, nbse2]))
    PropertyRecordDocument.objects(material="NbSe2").update(unset__formula_reduced=1)  # older
    frame = records_dataframe(literature, property="tc")
    assert list(frame["formula_reduced"]) == ["B2Mg", "B2Mg", "NbSe2"]
    assert list(zip(frame["value"], frame["conditions"], strict=True)) == [
        (35.0, {"pressure_gpa": 5.0}), (39.0, {}), (7.2, {})]  # fmt: skip


# -- lineage: a measured composition, a model's record ids, the material's sentence ---------
EUROPIUM = read(
    "10.1/eu",
    "La1.64Eu0.2Sr0.16CuO4 has Tc 21 K. MgB2 has Tc 39 K.",
    ["La1.64Eu0.2Sr0.16CuO4", "MgB2"],
    ["21 K", "39 K"],
)


@pytest.mark.parametrize(
    "spelling",
    ["La1.64Eu0.2Sr0.16CuO4", "Sr4La41Eu5Cu25O100", "La3.28Eu0.4Sr0.32Cu2O8"],
)
def test_a_records_composition_is_found_in_any_spelling_or_multiple(
    literature: LiteratureStore, spelling: str
) -> None:
    literature.ingest(EUROPIUM)
    (row,) = literature.records(literature.records_query(material="La1.64Eu0.2Sr0.16CuO4"))[0]
    # stored as materials are (whole atoms where they fit); shown as the paper wrote it
    assert (row["formula_reduced"], row["formula"]) == ("Cu25Eu5La41O100Sr4", row["material"])
    found = filtered(literature, f'chemical_formula_reduced="{spelling}"')
    assert found == ["La1.64Eu0.2Sr0.16CuO4"]
    assert filtered(literature, f'chemical_formula_reduced!="{spelling}"') == ["MgB2"]
    as_written = 'chemical_formula_descriptive="La1.64Eu0.2Sr0.16CuO4"'
    assert filtered(literature, as_written) == found


def test_record_formulas_stored_as_written_are_upgraded_to_the_canonical_one(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    literature.ingest(EUROPIUM)
    records = PropertyRecordDocument._get_collection()
    # as stored before: the fractions the paper wrote; or no reduced formula at all
    records.update_one(
        {"material": "La1.64Eu0.2Sr0.16CuO4"},
        {"$set": {"formula_reduced": "CuEu0.2La1.64O4Sr0.16"}},
    )
    records.update_one({"material": "MgB2"}, {"$unset": {"formula_reduced": ""}})
    assert filtered(literature, 'chemical_formula_reduced="Sr4La41Eu5Cu25O100"') == []
    stored_at_version(4)  # before step 5
    connect(mongodb_uri)
    reduced = {r["material"]: r["formula_reduced"] for r in literature.records({})[0]}
    assert reduced == {"La1.64Eu0.2Sr0.16CuO4": "Cu25Eu5La41O100Sr4", "MgB2": "B2Mg"}
    assert filtered(literature, 'chemical_formula_reduced="Sr4La41Eu5Cu25O100"') == [
        "La1.64Eu0.2Sr0.16CuO4"
    ]
    assert filtered(literature, 'chemical_formula_descriptive="La1.64Eu0.2Sr0.16CuO4"')


def test_upgrading_record_formulas_leaves_one_another_process_wrote_meanwhile(
    literature: LiteratureStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import db.literature

    literature.ingest(EUROPIUM)
    records = PropertyRecordDocument._get_collection()
    records.update_many({}, {"$set": {"formula_reduced": "Old1"}})
    real = db.literature.canonical_reduced_formula

    def meanwhile(formula: str) -> str | None:
        records.update_many({"material": "MgB2"}, {"$set": {"formula_reduced": "Newer1"}})
        return real(formula)

    def reduced() -> dict[str, str]:
        return {r["material"]: r["formula_reduced"] for r in literature.records({})[0]}

    monkeypatch.setattr(db.literature, "canonical_reduced_formula", meanwhile)
    db.literature.canonical_record_formulas()
    assert reduced() == {"La1.64Eu0.2Sr0.16CuO4": "Cu25Eu5La41O100Sr4", "MgB2": "Newer1"}
    monkeypatch.setattr(db.literature, "canonical_reduced_formula", real)
    db.literature.canonical_record_formulas()  # again: only what is not canonical changes
    assert reduced() == {"La1.64Eu0.2Sr0.16CuO4": "Cu25Eu5La41O100Sr4", "MgB2": "B2Mg"}


def test_a_record_read_from_a_hydrate_before_its_water_was_read_is_merged_on_upgrade(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    def hydrate(doi: str) -> PaperExtraction:
        return read(doi, "MgSO4.7H2O has Tc 5 K.", ["MgSO4.7H2O"], ["5 K"])

    records = PropertyRecordDocument._get_collection()
    literature.ingest(hydrate("10.1/hydrate-a"))
    literature.ingest(read("10.1/mgb2", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    old = records.find_one({"formula": "MgH14SO11"})
    misread = {"material": "MgSO5.7H2", "formula": "MgSO5.7H2", "elements": ["H", "Mg", "O", "S"]}
    misread |= {
        "formula_reduced": "H20Mg10O57S10",
        "key": "H20Mg10O57S10|" + old["key"].split("|", 1)[1],
    }
    records.update_one({"_id": old["_id"]}, {"$set": misread})  # as it was read before
    literature.ingest(hydrate("10.1/hydrate-b"))  # read today: it missed the older record
    assert records.count_documents({}) == 3

    stored_at_version(8)  # before step 9
    connect(mongodb_uri)
    rows = {r["material"]: r for r in literature.records({})[0]}
    assert sorted(rows) == ["MgB2", "MgH14SO11"]
    water = rows["MgH14SO11"]
    assert water["merged_ids"] == [str(old["_id"])]  # lineage naming the old one finds it
    assert (water["formula"], water["formula_reduced"]) == ("MgH14SO11", "H14MgO11S")
    assert (water["n_papers"], water["n_sources"]) == (2, 2)
    assert {source["paper"] for source in water["sources"]} == {
        "doi:10.1/hydrate-a",
        "doi:10.1/hydrate-b",
    }
    assert rows["MgB2"]["n_papers"] == 1

    db_literature_records = PropertyRecordDocument._get_collection()
    before = sorted(db_literature_records.find({}), key=lambda row: str(row["_id"]))
    reread_adduct_records()  # again: nothing left to read
    assert sorted(db_literature_records.find({}), key=lambda row: str(row["_id"])) == before


def test_a_hydrate_reread_that_stopped_before_merging_merges_when_run_again(
    literature: LiteratureStore,
) -> None:
    records = PropertyRecordDocument._get_collection()
    literature.ingest(read("10.1/h-a", "MgSO4.7H2O has Tc 5 K.", ["MgSO4.7H2O"], ["5 K"]))
    old = records.find_one({})
    stale = "H20Mg10O57S10|" + old["key"].split("|", 1)[1]  # its formula read, key not yet
    records.update_one({"_id": old["_id"]}, {"$set": {"key": stale}})
    literature.ingest(read("10.1/h-b", "MgSO4.7H2O has Tc 5 K.", ["MgSO4.7H2O"], ["5 K"]))
    assert records.count_documents({}) == 2
    reread_adduct_records()  # the step run again after a crash
    assert records.count_documents({}) == 1


LSCO_A = read("10.1/lsco-a", "La1.85Sr0.15CuO4 has Tc 38 K.", ["La1.85Sr0.15CuO4"], ["38 K"])
LSCO_B = read("10.1/lsco-b", "La3.7Sr0.3Cu2O8 has Tc 38 K.", ["La3.7Sr0.3Cu2O8"], ["38 K"])


def test_one_composition_written_at_another_multiple_is_one_record(
    literature: LiteratureStore,
) -> None:
    literature.ingest(LSCO_A)
    literature.ingest(LSCO_B)
    (row,) = literature.records({})[0]
    assert row["formula"] == "La1.85Sr0.15CuO4"  # as the first paper wrote it
    assert (row["n_papers"], row["formula_reduced"]) == (2, "Cu20La37O80Sr3")
    assert [s["paper"] for s in row["sources"]] == ["doi:10.1/lsco-a", "doi:10.1/lsco-b"]


def test_removing_a_paper_takes_its_sentences_and_its_part_of_every_record(
    literature: LiteratureStore,
) -> None:
    literature.ingest(LSCO_A)
    literature.ingest(LSCO_B)  # the same claim: one record, two papers
    literature.ingest(read("10.1/mgb2", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    before = counts()
    PropertyRecordDocument._get_collection().update_many(
        {"material": "La1.85Sr0.15CuO4"},
        {"$set": {"sources.1.confidence": 0.99, "confidence": 0.99}},
    )
    for version, papers in (("tc:on-b", ["doi:10.1/lsco-a", "doi:10.1/lsco-b"]), ("tc:on-a", [])):
        metrics = {"record_papers": papers or ["doi:10.1/lsco-a"]}  # lineage, as training writes
        register_model(ModelArtifact("tc-gp", version[-1] * 64, metrics, b"w"), version)
    removed = literature.remove_paper("https://doi.org/10.1/LSCO-B")  # any spelling
    assert (removed.key, removed.records_deleted, removed.records_kept) == ("doi:10.1/lsco-b", 0, 1)
    assert removed.models == ("tc:on-b",)  # trained on its records: named, to train again
    (lsco,) = [r for r in literature.records({})[0] if r["material"] == "La1.85Sr0.15CuO4"]
    assert (lsco["n_papers"], lsco["n_sources"]) == (1, 1)
    assert [source["paper"] for source in lsco["sources"]] == ["doi:10.1/lsco-a"]
    assert lsco["confidence"] < 0.99  # the removed source's confidence went with it
    assert literature.remove_paper("doi:10.1/mgb2").records_deleted == 1
    assert [r["material"] for r in literature.records({})[0]] == ["La1.85Sr0.15CuO4"]
    after = counts()
    assert after["PaperDocument"] == 1 and after["PropertyRecordDocument"] == 1
    assert 0 < after["PassageDocument"] < before["PassageDocument"]
    assert 0 < after["MentionDocument"] < before["MentionDocument"]
    with pytest.raises(LookupError, match=r"paper: no paper 'doi:10\.1/mgb2'"):
        literature.remove_paper("doi:10.1/mgb2")


def test_records_of_one_composition_stored_apart_are_merged_keeping_their_ids(
    literature: LiteratureStore, mongodb_uri: str
) -> None:
    from pymatgen.core import Composition

    def older_key(raw: dict[str, object]) -> str:  # pymatgen's reduced formula, fractions kept
        material = Composition(str(raw["formula"])).reduced_composition.alphabetical_formula
        return f"{material}|{str(raw['key']).split('|', 1)[1]}"

    records = PropertyRecordDocument._get_collection()
    literature.ingest(LSCO_A)
    literature.ingest(read("10.1/mgb2", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    for raw in records.find():
        records.update_one({"_id": raw["_id"]}, {"$set": {"key": older_key(raw)}})
    first = records.find_one({"formula": "La1.85Sr0.15CuO4"})
    literature.ingest(LSCO_B)  # keyed canonically: it missed the older record
    second = records.find_one({"formula": "La3.7Sr0.3Cu2O8"})
    assert second is not None and records.count_documents({}) == 3
    records.update_one({"_id": second["_id"]}, {"$set": {"key": older_key(second)}})
    records.update_one({"_id": first["_id"]}, {"$set": {"confidence": 0.5, "uncertainty": 0.2}})
    records.update_one({"_id": second["_id"]}, {"$set": {"uncertainty": 0.7}})

    stored_at_version(5)  # before step 6
    connect(mongodb_uri)
    records = PropertyRecordDocument._get_collection()  # the new connection's
    rows = {r["material"]: r for r in literature.records({})[0]}
    assert sorted(rows) == ["La1.85Sr0.15CuO4", "MgB2"]
    lsco = rows["La1.85Sr0.15CuO4"]
    assert lsco["id"] == str(first["_id"]) and lsco["merged_ids"] == [str(second["_id"])]
    assert (lsco["n_papers"], lsco["n_sources"]) == (2, 2)
    assert lsco["confidence"] == second["confidence"]  # the best of the two
    assert lsco["uncertainty"] == 0.7  # the larger of the two
    assert rows["MgB2"]["merged_ids"] == []
    papers = {p["key"]: p["records"] for p in literature.papers({})[0]}
    assert papers == {"doi:10.1/lsco-a": 1, "doi:10.1/lsco-b": 1, "doi:10.1/mgb2": 1}
    # lineage naming the merged record (a model's record_ids) finds the one it joined
    merged = str(second["_id"])
    assert [r["id"] for r in literature.records(literature.records_query(ids=[merged]))[0]] == [
        lsco["id"]
    ]
    assert filtered(literature, f'id="{merged}"') == ["La1.85Sr0.15CuO4"]
    assert filtered(literature, f'NOT id="{merged}"') == ["MgB2"]
    assert filtered(literature, f'id!="{lsco["id"]}"') == ["MgB2"]
    assert filtered(literature, "id IS KNOWN") == ["La1.85Sr0.15CuO4", "MgB2"]
    before = list(records.find())
    merge_records()  # again: nothing to do
    assert list(records.find()) == before
    literature.ingest(read("10.1/c", "Sr3La37Cu20O80 has Tc 38 K.", ["Sr3La37Cu20O80"], ["38 K"]))
    assert records.count_documents({}) == 2  # a later reading joins the merged record


def test_a_record_keyed_so_meanwhile_is_merged_into_not_overwritten(
    literature: LiteratureStore,
) -> None:
    from db.literature import _merge_records, _rekeyed

    records = PropertyRecordDocument._get_collection()
    literature.ingest(LSCO_A)
    first = records.find_one()
    assert first is not None
    older = "older-key|" + first["key"].split("|", 1)[1]
    records.update_one({"_id": first["_id"]}, {"$set": {"key": older}})
    literature.ingest(LSCO_B)  # a concurrent ingest, keyed canonically
    refused = _rekeyed([(first["key"], first["_id"], older)])
    assert refused == {first["key"]: [first["_id"]]}  # the unique key refused the move
    papers = _merge_records(first["key"], refused[first["key"]], None)  # type: ignore[arg-type]
    (merged,) = records.find()
    assert merged["key"] == first["key"] and merged["n_papers"] == 2
    assert papers == {"doi:10.1/lsco-a", "doi:10.1/lsco-b"}


def test_records_are_selected_by_id_and_by_paper_as_the_api_filter_does(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO", "NbSe2"]))
    literature.ingest(sample.extraction("10.1/bb", ["MgB2"]))
    ids = {r["material"]: r["id"] for r in literature.records({})[0]}
    wanted = [ids["NbSe2"], ids["La1.85Sr0.15CuO4"]]  # a model's record_ids, say

    def materials(**query: object) -> list[str]:
        rows, _ = literature.records(literature.records_query(**query))  # type: ignore[arg-type]
        return sorted(r["material"] for r in rows)

    assert materials(ids=wanted) == ["La1.85Sr0.15CuO4", "NbSe2"]
    assert materials(ids=wanted) == filtered(literature, " OR ".join(f'id="{i}"' for i in wanted))
    assert materials(ids=ids["MgB2"]) == ["MgB2"]  # one id alone
    assert materials(ids=[]) == []  # a model that learned from no record
    assert materials(ids=wanted, property="tc", minimum=30) == ["La1.85Sr0.15CuO4"]
    assert materials(paper="DOI:10.1/bb") == ["MgB2"] == filtered(literature, 'paper="doi:10.1/bb"')
    with pytest.raises(ValueError, match=r"ids: '6b13' is not a record id \(24 hex digits\)"):
        literature.records_query(ids=[ids["MgB2"], "6b13"])


def test_a_source_whose_material_is_in_an_earlier_sentence_gives_that_sentence(
    literature: LiteratureStore,
) -> None:
    text = "MgB2 is a binary boride. It superconducts at 39 K. NbSe2 has Tc 7 K."
    literature.ingest(read("10.1/earlier", text, ["MgB2", "NbSe2"], ["39 K", "7 K"]))
    rows = {r["material"]: r for r in literature.records({})[0]}
    (earlier,) = rows["MgB2"]["sources"]
    assert earlier["material_span"][0] == 0 and earlier["sentence"] == 1
    assert earlier["text"] == "It superconducts at 39 K."
    assert earlier["material_sentence_text"] == "MgB2 is a binary boride."
    (same,) = rows["NbSe2"]["sources"]  # named beside its value: the same sentence
    assert same["material_sentence_text"] is None and same["text"] == "NbSe2 has Tc 7 K."
    assert list(same) == list(earlier)  # every source has the same keys
    (bare,) = literature.records(literature.records_query(material="MgB2"), sentences=False)[0]
    assert bare["sources"][0]["material_sentence_text"] is None  # sentences not read


def test_the_dataframe_has_each_records_id_and_sources(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    from agents.literature import records_dataframe

    literature.ingest(sample.extraction("10.1/a", ["MgB2", "LSCO"]))
    ids = {r["material"]: r["id"] for r in literature.records({})[0]}
    frame = records_dataframe(literature, property="tc")
    assert dict(zip(frame["material"], frame["id"], strict=True)) == ids
    (lsco,) = records_dataframe(
        literature, ids=[ids["La1.85Sr0.15CuO4"]], sentences=True
    ).itertuples()
    assert lsco.formula_reduced == "Cu20La37O80Sr3" and lsco.formula == "La1.85Sr0.15CuO4"
    (source,) = lsco.sources
    assert source["paper"] == "doi:10.1/a" and source["text"] == sample.sentences["LSCO"]
    assert frame["sources"].map(len).tolist() == [1, 1]
    assert records_dataframe(literature, paper="doi:10.1/none").empty


def test_a_paper_stored_under_its_split_number_key_is_not_stored_again(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    extraction = sample.extraction("10.1/a", ["NbSe2"])  # "7.2 K": a decimal number
    extraction = replace(extraction, paper=replace(extraction.paper, doi=None))
    paper = extraction.paper
    assert paper.split_number_key != paper.key  # "7.2" was the words 7 and 2
    assert literature.ingest(extraction).new
    PaperDocument.objects(key=paper.key).update(set__key=paper.split_number_key)  # as before
    before = counts()
    again = literature.ingest(extraction)
    assert not again.new and again.paper_key == paper.split_number_key and counts() == before


def test_each_source_names_the_section_its_sentence_is_in(
    literature: LiteratureStore, sample: SimpleNamespace
) -> None:
    literature.ingest(sample.extraction("10.1/a", ["MgB2"]))
    (row,), _ = literature.records(literature.records_query(material="MgB2"))
    (source,) = row["sources"]
    assert source["section_name"] == "body"  # a caption's would be "caption"
    assert list(source)[:4] == ["paper", "paper_title", "paper_year", "paper_doi"]
    assert list(source)[4:9] == ["passage", "text", "section", "section_name", "sentence"]
    assert (source["paper_doi"], source["paper_title"]) == ("10.1/a", "Paper 10.1/a")
    (bare,), _ = literature.records(literature.records_query(material="MgB2"), sentences=False)
    assert bare["sources"][0]["section_name"] is None  # passages not read
    assert list(bare["sources"][0]) == list(source)  # every source has the same keys


def test_a_tagger_held_out_on_fewer_papers_does_not_become_the_default(
    literature: LiteratureStore,
) -> None:
    def tagger(name: str, f1: float, papers: int) -> str:
        metrics = {"test": {"micro": {"f1": f1}}, "test_documents": [str(i) for i in range(papers)]}
        return literature.save_tagger(ModelArtifact("tagger-supermat", name * 64, metrics, b"w"))

    whole = tagger("a", 0.7, 12)
    tagger("b", 0.9, 4)  # trained on a part of the corpus: scored on 4 of the 12 papers
    assert literature.load_tagger().version == whole


def test_taggers_held_out_on_other_papers_of_as_many_are_not_compared(
    literature: LiteratureStore,
) -> None:
    def tagger(name: str, f1: float, papers: list[str]) -> str:
        metrics = {"test": {"micro": {"f1": f1}}, "test_documents": papers}
        return literature.save_tagger(ModelArtifact("tagger-supermat", name * 64, metrics, b"w"))

    tagger("a", 0.9, ["p1", "p2", "p3"])
    newest = tagger("b", 0.6, ["p4", "p5", "p6"])  # other papers of one size: the newest set
    assert literature.load_tagger().version == newest


def test_a_rejected_record_is_left_out_of_listings_until_restored(
    literature: LiteratureStore,
) -> None:
    literature.ingest(read("10.1/ta", "MgB2 and Ta: Tc = 4.4 K.", ["MgB2"], ["4.4 K"]))
    literature.ingest(read("10.1/mg", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    wrong = next(r for r in literature.records({})[0] if r["value"] == 4.4)
    row = literature.reject_record(wrong["id"], "  tantalum's Tc,\nnot MgB2's ", "curator")
    assert row["rejection"]["reason"] == "tantalum's Tc, not MgB2's"
    assert row["rejection"]["by"] == "curator" and row["rejection"]["at"].endswith("Z")
    assert row["previous_rejection"] is None
    assert [r["value"] for r in literature.records({})[0]] == [39.0]
    assert [r["value"] for r in literature.records({}, rejected="only")[0]] == [4.4]
    assert len(literature.records({}, rejected="include")[0]) == 2
    # another paper stating it again adds a source; the curator's word stands
    stated = literature.ingest(read("10.1/ta2", "MgB2 and Ta: Tc = 4.4 K.", ["MgB2"], ["4.4 K"]))
    assert (stated.records_merged, stated.records_curator_rejected) == (1, 1)
    (again,) = literature.records({}, rejected="only")[0]
    assert again["n_papers"] == 2 and again["rejection"]["by"] == "curator"
    restored = literature.restore_record(wrong["id"])
    assert restored["rejection"] is None and restored["previous_rejection"]["by"] == "curator"
    assert len(literature.records({})[0]) == 2
    idle = literature.restore_record(wrong["id"])  # not rejected: none to lift, none written
    assert idle["previous_rejection"] is None and idle["updated_at"] == restored["updated_at"]
    with pytest.raises(ValueError, match="reason: say why"):
        literature.reject_record(wrong["id"], " ", "curator")
    with pytest.raises(ValueError, match="id: 'x' is not a record id"):
        literature.reject_record("x", "wrong", "curator")
    with pytest.raises(ValueError, match="rejected: 'some' is not one of exclude, include, only"):
        literature.records({}, rejected="some")
    with pytest.raises(LookupError, match=r"record: no record '0{24}'"):
        literature.restore_record("0" * 24)


def test_a_rejection_outlives_the_removal_of_every_paper_stating_it(
    literature: LiteratureStore,
) -> None:
    misread = read("10.1/ta", "MgB2 and Ta: Tc = 4.4 K.", ["MgB2"], ["4.4 K"])
    literature.ingest(misread)
    literature.ingest(read("10.1/mg", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"]))
    wrong = next(r for r in literature.records({})[0] if r["value"] == 4.4)
    literature.reject_record(wrong["id"], "tantalum's Tc", "curator")
    assert literature.remove_paper("doi:10.1/ta").records_deleted == 1
    [removed] = RemovedPaperDocument.objects(key="doi:10.1/ta")  # what it was and gave
    assert [(r["id"], r["value"]) for r in removed.records_deleted] == [(wrong["id"], 4.4)]
    assert len(literature.records({}, rejected="include")[0]) == 1
    report = literature.ingest(misread)  # the same paper again: the misreading stays rejected
    assert (report.records_new, report.records_curator_rejected) == (1, 1)
    (again,) = literature.records({}, rejected="only")[0]
    assert again["id"] == wrong["id"]  # the id a model's record_ids name finds it again
    assert again["rejection"]["reason"] == "tantalum's Tc"
    assert RejectedClaimDocument.objects.count() == 0  # the record holds it again
    assert RemovedPaperDocument.objects.count() == 0  # stored again: no longer removed
    literature.restore_record(wrong["id"])
    literature.remove_paper("doi:10.1/ta")  # not rejected now: nothing is remembered
    literature.ingest(misread)
    assert [r["value"] for r in literature.records({})[0]] == [4.4, 39.0]
    # a rejection is lifted while the record is gone: it comes back listed
    read_again = next(r for r in literature.records({})[0] if r["value"] == 4.4)["id"]
    literature.reject_record(read_again, "tantalum's Tc", "curator")
    literature.remove_paper("doi:10.1/ta")
    lifted = literature.restore_record(read_again)
    assert lifted.pop("previous_rejection")["reason"] == "tantalum's Tc"
    assert lifted == {
        "id": read_again, "material": "MgB2", "property": "tc", "value": 4.4, "unit": "K",
        "rejection": None, "gone": True,
    }  # fmt: skip
    assert RejectedClaimDocument.objects.count() == 0
    literature.ingest(misread)
    assert [r["value"] for r in literature.records({})[0]] == [4.4, 39.0]
    assert next(r for r in literature.records({})[0] if r["value"] == 4.4)["id"] == read_again
    with pytest.raises(LookupError, match="record: no record"):
        literature.restore_record(str(ObjectId()))


def test_a_paper_removed_and_read_again_gives_its_records_their_ids_back(
    literature: LiteratureStore,
) -> None:
    paper = read("10.1/mg", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"])
    literature.ingest(paper)
    ((before,), _) = literature.records({})
    literature.remove_paper("doi:10.1/mg")
    assert RemovedRecordDocument.objects.count() == 1
    assert literature.ingest(paper).records_new == 1
    ((after,), _) = literature.records({})
    assert after["id"] == before["id"]  # the id a model's record_ids name finds it again
    assert records_gone([before["id"]]) == 0
    assert RemovedRecordDocument.objects.count() == 0


def test_a_paper_removed_by_its_hash_and_read_again_with_its_doi_is_no_longer_removed(
    literature: LiteratureStore,
) -> None:
    with_doi = read("10.1/mg", "MgB2 has Tc 39 K.", ["MgB2"], ["39 K"])
    hashed = replace(with_doi, paper=replace(with_doi.paper, doi=None))  # its DOI unread
    literature.ingest(hashed)
    literature.remove_paper(hashed.paper.key)
    assert RemovedPaperDocument.objects(key=hashed.paper.key).count() == 1
    assert literature.ingest(with_doi).paper_key == "doi:10.1/mg"
    assert RemovedPaperDocument.objects.count() == 0  # lineage no longer calls it removed


def test_a_failure_is_remembered_by_its_file_and_forgotten_by_its_path(
    literature: LiteratureStore,
) -> None:
    literature.remember_failure("/papers/junk.pdf", 10, 1, "reader-1", "truncated")
    assert literature.failed_before("/papers/junk.pdf", 10, 1, "reader-1") is not None
    assert literature.failed_before("/papers/junk.pdf", 11, 1, "reader-1") is None  # changed
    assert literature.failed_before("/papers/junk.pdf", 10, 1, "reader-2") is None  # parsers
    literature.forget_failure("/papers/other.pdf")  # none there: nothing happens
    assert FailedFileDocument.objects.count() == 1
    literature.forget_failure("/papers/junk.pdf")
    assert FailedFileDocument.objects.count() == 0


def test_a_paper_is_named_by_its_bare_hash_or_a_unique_start_of_it(
    literature: LiteratureStore,
) -> None:
    first, second = "ab12cd34" + "0" * 56, "ab12cd34" + "1" * 56
    for digest in (first, second):
        PaperDocument(key=f"sha256:{digest}", model_version="t").save()
    assert resolve_paper_key(first.upper()) == f"sha256:{first}"  # as sha256sum prints it
    assert resolve_paper_key("sha256:ab12cd340") == f"sha256:{first}"
    assert resolve_paper_key("SHA256:AB12CD341") == f"sha256:{second}"
    with pytest.raises(LookupError, match="starts the keys of several papers: give more"):
        resolve_paper_key("sha256:ab12cd34")
    assert resolve_paper_key("AB12CD341") == f"sha256:{second}"  # the table's, unprefixed
    assert resolve_paper_key("sha256:ab12") == "sha256:ab12"  # too short to be a start
    assert resolve_paper_key("ab12cd3") == "ab12cd3"  # too short: no hash's start
    assert resolve_paper_key("sha256:ffffffff") == "sha256:ffffffff"  # none: as read
    assert resolve_paper_key("10.1/A") == "doi:10.1/a"
    # filters read a start as their options do: the papers table's short key finds its paper
    papers, _ = literature.papers(literature.papers_filter('key="ab12cd340"'))
    assert [p["key"] for p in papers] == [f"sha256:{first}"]
    by_paper = literature.records_filter('paper HAS ANY "sha256:ab12cd341", "doi:10.1/a"')
    assert by_paper == {"papers": {"$in": [f"sha256:{second}", "doi:10.1/a"]}}
    both = literature.records_filter('paper HAS ALL "ab12cd340", "ab12cd341"')
    assert both == {"papers": {"$all": [f"sha256:{first}", f"sha256:{second}"]}}
    only = literature.records_filter('paper HAS ONLY "ab12cd340"')  # a $nin in $elemMatch
    assert f"sha256:{first}" in str(only) and "'sha256:ab12cd340'" not in str(only)
    with pytest.raises(FilterError, match="starts the keys of several papers"):
        literature.papers_filter('key="ab12cd34"')
