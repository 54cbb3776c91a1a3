"""Parsers: real publisher articles, SuperMat TEI, generated PDFs, and malformed files."""

from __future__ import annotations

import io
import pickle
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from literature import Paper, ParseError, parse_paper, read_paper, read_papers
from literature.parsing._common import is_references, normalise_doi
from literature.text import near_twin
from tests.stand_ins import GERMAN, SUPERMAT_NUMBERS_DIFFER

SUPERMAT_PAPER = "batch-1/1609.04957-CC.superconductors.tei.xml"
SUPERMAT_TITLE = (
    "Experimental evidence of T c enhancement without the influence of spin fluctuations: "
    "NMR study on LaFeAsO 1−x H x under a pressure of 3.0 GPa"
)


@dataclass(frozen=True)
class Article:
    """What a publisher file must parse into (titles and DOIs as printed in the files)."""

    path: str
    format: str
    title: str
    doi: str | None
    journal: str | None
    year: int | None
    authors: int
    first_author: str
    sections: int  # body sections at least (title, abstract and captions not counted)
    captions: int
    sentences: tuple[str, ...]


ARTICLES = [
    Article(
        "rsc/10.1039_C6OB02074G.html",
        "rsc",
        "Denitrogenative hydrofluorination of aromatic aldehyde hydrazones using "
        "(difluoroiodo)toluene",
        "10.1039/c6ob02074g",
        "Organic & Biomolecular Chemistry",
        2016,
        4,
        "Kaivalya G. Kulkarni",
        5,
        5,
        (
            "As fluorine is small, univalent and makes very strong bonds to carbon, it is now "
            "routinely employed as a biostere for hydrogen.",
            "In conclusion, we have developed the first use of a hypervalent iodine reagent "
            "(TolIF2) as both an oxidant and source of fluorine in the hydrofluorination of "
            "aromatic aldehyde hydrazones.",
            "Fig. 1 Fluorine transfer reagents based on N–F, S–F or I–F bonds.",
        ),
    ),
    Article(
        "rsc/test_paper.html",
        "rsc",
        "High performance carbon-coated hollow Ni12P5 nanocrystals decorated on GNS as "
        "advanced anodes for lithium and sodium storage",
        "10.1039/c7ta06843c",
        "Journal of Materials Chemistry A",
        2017,
        9,
        "Huinan Guo",
        12,
        8,
        (
            "LIBs have occupied a dominant position among portable electronic devices due to "
            "their high operating voltage, high energy density and limited self-discharging.",
            "Half cells were assembled in standard CR2032 coin-type model cells, with Li/Na foil "
            "as the counter and reference electrodes.",
        ),
    ),
    Article(
        "relex/curie_training_set/b806499g.html",
        "rsc",
        "Polymer encapsulation effects on the magnetism of EuS nanocrystals",
        "10.1039/b806499g",
        "Journal of Materials Chemistry",
        2008,
        6,
        "Angela Sofia Pereira",
        12,
        5,
        (
            "Over the past decade, a range of wet chemical methods for the preparation of "
            "nanoparticles have been employed, including the most commonly used procedures "
            "based on chemical reactions of molecular precursors in high boiling point solvents.",
        ),
    ),
    Article(
        "relex/curie_training_set/c1jm13879k.html",
        "rsc",
        "Metal sulfide nanostructures: synthesis, properties and applications in energy "
        "conversion and storage",
        "10.1039/c1jm13879k",
        "Journal of Materials Chemistry",
        2012,
        3,
        "Chen-Ho Lai",
        15,
        8,
        (
            "Semiconductor nanomaterials for photocatalytic degradation of organic contaminants "
            "are promising materials in environmental protection nanotechnology.",
        ),
    ),
    Article(
        "relex/curie_training_set/c2jm33712f.html",
        "rsc",
        "Carbonization of solvent and capping agent based enhancement in the stabilization of "
        "cobalt nanoparticles and their magnetic study",
        "10.1039/c2jm33712f",
        "Journal of Materials Chemistry",
        2012,
        2,
        "Neha Arora",
        15,
        8,
        (
            "Hexadecyl amine (HDA) in the molar ratio of 1 : 2 (Co : HDA) was used as an "
            "additional stabilizing agent and placed at the bottom of the reactor.",
        ),
    ),
    Article(
        "relex/curie_training_set/c2nr11767c.html",
        "rsc",
        "Oxide nanowires for spintronics: materials and devices",
        "10.1039/c2nr11767c",
        "Nanoscale",
        2012,
        3,
        "Yufeng Tian",
        10,
        8,
        (
            "Spin-based data storage and manipulation possess several advantages over the "
            "conventional charge-based counterpart, including ultra-low power consumption, "
            "higher data processing speed, nonvolatility, improved scalability and so on.",
        ),
    ),
    Article(
        "relex/curie_training_set/c3nr33950e.html",
        "rsc",
        "Non-monotonic size change of monodisperse Fe3O4 nanoparticles in the scale-up synthesis",
        "10.1039/c3nr33950e",
        "Nanoscale",
        2013,
        9,
        "Ning-Ning Song",
        5,
        4,
        (
            "The TEM images of as-prepared 3, 5, 12, and 16 nm NPs without special size-selective "
            "treatment are shown in Fig. 1.",
        ),
    ),
    Article(
        "relex/curie_training_set/c6cp00375c.html",
        "rsc",
        "Enhanced photophysical properties of plasmonic magnetic metal-alloyed semiconductor "
        "heterostructure nanocrystals: a case study for the Ag@Ni/Zn1−xMgxO system",
        "10.1039/c6cp00375c",
        "Physical Chemistry Chemical Physics",
        2016,
        4,
        "Sumana Paul",
        15,
        10,
        (
            "Fig. 1 shows the XRD pattern of the pure ZnO and Zn1−xMgxO NCs where x varies from "
            "0.05 to 0.5.",
            # the superscript citation "12,13" is dropped, not glued to "TiO2 and ZnO"
            "The wide band gap metal oxides such as TiO2 and ZnO are the most attractive class "
            "of semiconductors because these materials have high catalytic efficiency, low cost "
            "and are environmentally sustainable.",
        ),
    ),
    Article(
        "acs/acs.jmedchem.6b00723.html",
        "acs",
        "Discovery of a Quinoline-4-carboxamide Derivative with a Novel Mechanism of Action, "
        "Multistage Antimalarial Activity, and Potent in Vivo Efficacy",
        "10.1021/acs.jmedchem.6b00723",
        "Journal of Medicinal Chemistry",
        2016,
        27,
        "Beatriz Baragaña",
        40,
        10,
        (
            "Malaria is a devastating disease with over 214 million clinical cases in 2015.",
            "In that year alone, the World Health Organization (WHO) estimated 438 000 deaths, "
            "mostly among children under five in Sub-Saharan Africa.",
        ),
    ),
    Article(
        "elsevier/j.jnoncrysol.2017.07.006.xml",
        "elsevier",
        "Structural and electrochemical characterization of the Ca50Mg20Cu25Zn5 amorphous alloy",
        "10.1016/j.jnoncrysol.2017.07.006",
        "Journal of Non-Crystalline Solids",
        2017,
        6,
        "R. Babilas",
        5,
        13,
        (
            "Even though the first Ca-based metallic glasses in alloy systems i.e. Ca-Mg-Cu, "
            "Ca-Mg-Ag and Ca-Mg-Ag-Cu were first time prepared by Amiya and Inoue in 2002 [2], "
            "there is a still significant interest and development of such light metal-based "
            "alloys.",
            "The conventional X-ray diffraction measurements revealed that the examined as-cast "
            "samples in the form of ribbon and plate were amorphous.",
        ),
    ),
    Article(
        "elsevier/j.jnoncrysol.2018.02.024.xml",
        "elsevier",
        "Crystallization of supercooled liquid and amorphous silicene",
        "10.1016/j.jnoncrysol.2018.02.024",
        "Journal of Non-Crystalline Solids",
        2018,
        6,
        "Nguyen Truong Long",
        5,
        8,
        (
            "Silicene succeeds allotropic affinity of bulk silicon so that they can be more easily "
            "integrated into existing electronic devices, reducing those devices into the "
            "nano-regimes.",
        ),
    ),
    Article(
        "springer/spr_test1.xml",
        "springer",
        "Nano and Battery Anode: A Review",
        "10.1186/s11671-021-03631-x",
        "Nanoscale Research Letters",
        2021,
        8,
        "Hasan Sh. Majdi",
        15,
        28,
        (
            "During charging, lithium ions are reduced in the anode and converted to lithium "
            "atoms, which are placed between the graphite layers.",
            "Exchange anodes are very similar to alloy anodes, as alloys have problems with "
            "volume change, fragmentation, and SEI formation.",
        ),
    ),
    Article(
        "uspto/US06840965B2.xml",
        "uspto",
        "P-aminophenols and colorants containing said compounds",
        None,
        None,
        2005,
        2,
        "Laurent Chassot",
        5,
        0,
        (
            "In the area of keratin fiber dyeing, particularly hair dyeing, oxidation dyes have "
            "attained substantial importance.",
            "10. Preparation according to claim 5, characterized in that it is a hair colorant.",
        ),
    ),
]
_NOT_BODY = {"title", "abstract", "caption", "keywords", "highlights"}


@pytest.fixture(scope="module")
def articles(cde_test_data: Path) -> dict[str, Paper]:
    return {a.path: read_paper(cde_test_data / a.path) for a in ARTICLES}


def _check_offsets(paper: Paper) -> None:
    for section in paper.sections:
        assert section.text == section.text.strip()
        assert section.sentences, section.name
        previous_end = 0
        for sentence in section.sentences:
            piece = section.text[sentence.start : sentence.end]
            assert previous_end <= sentence.start < sentence.end
            assert piece == piece.strip()
            assert section.text[previous_end : sentence.start].strip() == ""
            previous_end = sentence.end
        assert section.text[previous_end:].strip() == ""


@pytest.mark.parametrize("article", ARTICLES, ids=[a.path for a in ARTICLES])
def test_publisher_article(articles: dict[str, Paper], article: Article) -> None:
    paper = articles[article.path]
    assert (paper.format, paper.title, paper.doi) == (article.format, article.title, article.doi)
    assert (paper.journal, paper.year) == (article.journal, article.year)
    assert len(paper.authors) == article.authors
    assert paper.authors[0] == article.first_author
    names = [s.name for s in paper.sections]
    assert names[:2] == ["title", "abstract"]
    assert sum(n not in _NOT_BODY for n in names) >= article.sections
    assert names.count("caption") >= article.captions
    assert not any(is_references(n) for n in names)
    sentences = {text for _, _, text in paper.sentences()}
    for sentence in article.sentences:
        assert sentence in sentences
    _check_offsets(paper)


def test_publisher_text_is_clean(articles: dict[str, Paper]) -> None:
    for path, paper in articles.items():
        text = "\n".join(s.text for s in paper.sections)
        for leftover in ("CrossRef", "image file", ".gif", "  ", " \n", "\n "):
            assert leftover not in text, (path, leftover)
        assert not re.search(r"</?[a-zA-Z]", text), path  # no markup
        for section in paper.sections:
            for paragraph in section.text.split("\n\n"):
                assert paragraph and paragraph == " ".join(paragraph.split())
    # a reference list entry that must not leak into the RSC paper
    assert "Org. Process Res. Dev." not in "".join(
        s.text for s in articles["rsc/10.1039_C6OB02074G.html"].sections
    )


def test_key_is_the_doi(articles: dict[str, Paper]) -> None:
    assert articles["springer/spr_test1.xml"].key == "doi:10.1186/s11671-021-03631-x"
    assert articles["springer/spr_test1.xml"].legacy_key is None  # DOI keys never changed
    assert articles["uspto/US06840965B2.xml"].key.startswith("sha256:")


def test_format_comes_from_content_not_extension(cde_test_data: Path, tmp_path: Path) -> None:
    renamed = {
        "springer/spr_test1.xml": "springer.html",
        "rsc/test_paper.html": "noextension",
        "elsevier/j.jnoncrysol.2017.07.006.xml": "elsevier.txt",
        "uspto/US06840965B2.xml": "patent.pdf",
    }
    for original, name in renamed.items():
        shutil.copy(cde_test_data / original, tmp_path / name)
    formats = [read_paper(tmp_path / name).format for name in renamed.values()]
    assert formats == ["springer", "rsc", "elsevier", "uspto"]


# --- TEI (SuperMat) ---------------------------------------------------------------------


def _txt_lines(tei: Path) -> set[str]:
    txt = tei.with_name(tei.name.replace(".superconductors.tei.xml", ".txt"))
    return {" ".join(line.split()) for line in txt.read_text(encoding="utf-8").splitlines()}


def test_supermat_tei(supermat_root: Path) -> None:
    path = supermat_root / SUPERMAT_PAPER
    paper = read_paper(path)
    assert (paper.format, paper.title) == ("tei", SUPERMAT_TITLE)
    names = [s.name for s in paper.sections]
    assert names[:3] == ["title", "abstract", "body"]
    assert names.count("caption") == 5
    abstract = paper.sections[1]
    assert abstract.sentence_text(0).startswith("The electron-doped high-transition-temperature")
    # every paragraph, annotations flattened, is a line of the plain text beside it
    lines = _txt_lines(path)
    paragraphs = [p for s in paper.sections for p in s.text.split("\n\n")]
    assert len(paragraphs) >= 15
    assert all(p in lines for p in paragraphs)
    assert (
        "Intriguingly, upon applying pressure, the minimum T c at ambient pressure becomes the "
        "maximum T c of over 45 K, as shown by the solid arrow in Figs. 1(a) and as described "
        "in detail below." in {t for _, _, t in paper.sentences()}
    )
    _check_offsets(paper)


def test_supermat_batch_matches_its_text(supermat_root: Path) -> None:
    paragraphs = matched = 0
    for path in sorted((supermat_root / "batch-1").glob("*.tei.xml")):
        lines = _txt_lines(path)
        for section in read_paper(path).sections:
            for paragraph in section.text.split("\n\n"):
                paragraphs += 1
                matched += paragraph in lines
    assert paragraphs > 300
    assert matched / paragraphs > 0.9  # a few .txt files come from another GROBID run


def test_a_supermat_article_as_tei_and_as_text_is_one_paper(supermat_root: Path) -> None:
    tei = supermat_root / SUPERMAT_PAPER
    both = [read_paper(tei), read_paper(tei.with_name("1609.04957-CC.txt"))]
    assert [(p.format, len(p.sections), p.doi) for p in both] == [
        ("tei", 8, None),
        ("text", 2, None),
    ]
    assert both[0].key == both[1].key  # captions sit elsewhere, sections differ: same words
    assert both[0].legacy_key != both[1].legacy_key  # the per-section hash told them apart
    other = read_paper(supermat_root / "batch-1/1903.04321-CC.txt")
    assert other.key != both[0].key
    assert read_paper(tei).key == both[0].key  # the same file again: the same key


def test_each_supermat_article_as_tei_and_as_text_is_one_paper_but_where_numbers_differ(
    supermat_root: Path,
) -> None:
    keyed, twins, apart = [], [], set()
    for tei in sorted(supermat_root.rglob("*.superconductors.tei.xml")):
        name = tei.name.removesuffix(".superconductors.tei.xml")
        one, other = read_paper(tei), read_paper(tei.with_name(f"{name}.txt"))
        if one.key == other.key:
            keyed.append(name)
        elif one.title == other.title and near_twin(one.word_counts(), other.word_counts()):
            twins.append(name)  # a keywords line, or a word or two, one file left out
        else:
            apart.add(name)
            numbers = [{w: n for w, n in p.word_counts().items() if re.search(r"\d", w)}
                       for p in (one, other)]  # fmt: skip
            assert numbers[0] != numbers[1], name
    assert (len(keyed), twins) == (111, ["JPS0731297-CC", "PHC2640145-CC", "PHC4020152-CC"])
    assert apart == SUPERMAT_NUMBERS_DIFFER


GROBID_TEI = b"""<?xml version="1.0" encoding="UTF-8"?>
<TEI xmlns="http://www.tei-c.org/ns/1.0">
 <teiHeader>
  <fileDesc>
   <titleStmt><title level="a" type="main">Superconductivity in <hi>MgB</hi>2</title></titleStmt>
   <publicationStmt><date type="published" when="2001-03-01">2001</date></publicationStmt>
   <sourceDesc><biblStruct>
    <analytic>
     <author><persName><forename>Jun</forename><surname>Nagamatsu</surname></persName></author>
     <author><persName><forename>Jun</forename><surname>Akimitsu</surname></persName></author>
     <idno type="DOI">https://doi.org/10.1038/35065039</idno>
    </analytic>
    <monogr><title level="j">Nature</title><imprint><date when="2001"/></imprint></monogr>
   </biblStruct></sourceDesc>
  </fileDesc>
  <profileDesc><abstract><div><p>We report Tc = 39 K in <rs type="material">MgB2</rs>.</p>
  </div></abstract></profileDesc>
 </teiHeader>
 <text><body>
  <div><head n="1">Introduction</head>
  <p>Borides are light. See Fig. 1 for <ref type="bibr">[1]</ref>
  details.</p>
   <figure><head>Fig. 1</head><figDesc>Resistivity of MgB2.</figDesc><graphic url="f.png"/></figure>
  </div>
  <div><head n="2">Results</head><p>It works.</p></div>
 </body>
 <back><div type="references"><listBibl><biblStruct><analytic><title>Old work</title>
 </analytic></biblStruct></listBibl></div></back>
 </text>
</TEI>"""


def test_grobid_tei() -> None:
    paper = parse_paper(GROBID_TEI, "grobid.tei.xml")
    assert paper.title == "Superconductivity in MgB2"
    assert (paper.doi, paper.journal, paper.year) == ("10.1038/35065039", "Nature", 2001)
    assert paper.authors == ("Jun Nagamatsu", "Jun Akimitsu")
    assert [(s.name, s.text) for s in paper.sections[1:]] == [
        ("abstract", "We report Tc = 39 K in MgB2."),
        ("1 Introduction", "Borides are light. See Fig. 1 for [1] details."),
        ("caption", "Fig. 1 Resistivity of MgB2."),
        ("2 Results", "It works."),
    ]
    assert paper.sections[2].sentences[1].start == len("Borides are light. ")


# --- JATS, generic HTML, plain text -----------------------------------------------------

JATS = b"""<?xml version="1.0"?>
<article xmlns:xlink="http://www.w3.org/1999/xlink"><front>
 <journal-meta><journal-title-group><journal-title>J. Test. Chem.</journal-title>
 </journal-title-group></journal-meta>
 <article-meta><article-id pub-id-type="doi">10.1000/ABC.123</article-id>
  <title-group><article-title>Lithium in <italic>LiFePO</italic><sub>4</sub></article-title>
  </title-group>
  <contrib-group><contrib contrib-type="author"><name><surname>Curie</surname>
  <given-names>Marie</given-names></name></contrib></contrib-group>
  <pub-date pub-type="epub"><year>2019</year></pub-date>
  <abstract><p>Short abstract. It has two sentences.</p></abstract>
 </article-meta></front>
 <body><sec><label>1</label><title>Methods</title>
  <p>We mixed   powders
  [<xref ref-type="bibr">1</xref>].<fig><label>Fig. 1</label><caption><p>A furnace.</p></caption>
  <graphic xlink:href="f1.tif"/></fig> Then we heated them.</p>
  <sec><title>Subsection</title><p>Inner text.</p></sec>
 </sec></body>
 <back><ref-list><title>References</title><ref><mixed-citation>Old paper.</mixed-citation></ref>
 </ref-list></back>
</article>"""


def test_jats() -> None:
    paper = parse_paper(JATS, "article.xml")
    assert (paper.format, paper.title, paper.doi) == (
        "jats",
        "Lithium in LiFePO4",
        "10.1000/abc.123",
    )
    assert (paper.authors, paper.journal, paper.year) == (("Marie Curie",), "J. Test. Chem.", 2019)
    assert [(s.name, s.text) for s in paper.sections[1:]] == [
        ("abstract", "Short abstract. It has two sentences."),
        ("1 Methods", "We mixed powders [1]. Then we heated them."),
        ("caption", "Fig. 1 A furnace."),
        ("Subsection", "Inner text."),
    ]


def test_a_jats_set_of_several_articles_is_refused_not_cut_to_the_first() -> None:
    one = JATS.split(b"?>", 1)[1]
    assert parse_paper(b"<pmc-articleset>" + one + b"</pmc-articleset>", "set.xml").doi
    with pytest.raises(ParseError, match="2 articles in one file"):
        parse_paper(b"<pmc-articleset>" + one + one + b"</pmc-articleset>", "set.xml")


HTML = b"""<!DOCTYPE html><html><head><title>Site | A paper</title>
<meta name="citation_title" content="Perovskite  films">
<meta name="citation_doi" content="https://doi.org/10.1039/C6OB02074G">
<meta name="citation_author" content="Ada Lovelace">
<meta name="citation_author" content="Alan Turing">
<meta name="citation_journal_title" content="Energy Letters">
<meta name="citation_publication_date" content="2020/05/01">
<style>p { color: red }</style></head>
<body><nav>Home | About</nav><article>
<h1>Perovskite films</h1>
<div class="abstract">Perovskites absorb light. <b>Efficient</b> ones exist.</div>
<h2>Results</h2><p>The PCE was
 21.3%.<script>track()</script> It is stable<br>under light.</p>
<figure><img src="data:image/png;base64,iVBORw0KGgo=">
<figcaption>Fig. 1 A cell.</figcaption></figure>
<table><caption>Table 1 Efficiencies.</caption><tr><td>21.3</td></tr></table>
<p>Loose text after the table.</p>
<h2>References</h2><ol><li>A. Smith, Nature, 2001.</li></ol>
</article><footer>Copyright</footer></body></html>"""


def test_generic_html() -> None:
    paper = parse_paper(HTML, "page.html")
    assert (paper.format, paper.title, paper.doi) == (
        "html",
        "Perovskite films",
        "10.1039/c6ob02074g",
    )
    assert (paper.authors, paper.journal, paper.year) == (
        ("Ada Lovelace", "Alan Turing"),
        "Energy Letters",
        2020,
    )
    assert [(s.name, s.text) for s in paper.sections[1:]] == [
        ("abstract", "Perovskites absorb light. Efficient ones exist."),
        ("Results", "The PCE was 21.3%. It is stable under light.\n\nLoose text after the table."),
        ("caption", "Fig. 1 A cell."),
        ("caption", "Table 1 Efficiencies."),
    ]


def test_plain_text() -> None:
    data = (
        b"Superconductivity in LaFeAsO\n\nAbstract\nWe report Tc = 26 K. It rises\nunder pressure."
        b"\n\n1. Introduction\nIron pnictides (e.g. LaFeAsO) are layered.\n\nReferences\n"
        b"1. Kamihara Y, J Am Chem Soc 130 (2008)\n"
    )
    paper = parse_paper(data, "note.txt")
    assert (paper.format, paper.title) == ("text", "Superconductivity in LaFeAsO")
    assert [(s.name, s.text) for s in paper.sections] == [
        ("title", "Superconductivity in LaFeAsO"),
        ("abstract", "We report Tc = 26 K. It rises under pressure."),
        ("1. Introduction", "Iron pnictides (e.g. LaFeAsO) are layered."),
    ]
    assert paper.sections[1].sentence_text(1) == "It rises under pressure."


def test_plain_text_lines_are_paragraphs(supermat_root: Path) -> None:
    txt = (supermat_root / SUPERMAT_PAPER).with_name("1609.04957-CC.txt")
    paper = read_paper(txt)
    assert paper.title == SUPERMAT_TITLE
    assert paper.sections[1].text.split("\n\n")[0].startswith("The electron-doped high-")


def test_utf16_and_windows_1252_text() -> None:
    assert parse_paper("Title\n\nα-Fe2O3 is red.".encode("utf-16"), "u.txt").sections[1].text == (
        "α-Fe2O3 is red."
    )
    assert parse_paper("Title\n\n25 °C – warm.".encode("cp1252"), "w.txt").sections[1].text == (
        "25 °C – warm."
    )


# --- PDF --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "doi"),
    [
        (  # Wiley's SICI DOIs hold "<", ">" and ":"; cut there, two papers shared one key
            "10.1002/(SICI)1097-4636(199706)35:4<423::AID-JBM3>3.0.CO;2-B",
            "10.1002/(sici)1097-4636(199706)35:4<423::aid-jbm3>3.0.co;2-b",
        ),
        ("https://doi.org/10.1000/abc(1)", "10.1000/abc(1)"),  # its own bracket stays
        ("(see doi:10.1000/abc.12).", "10.1000/abc.12"),  # the sentence's goes
        ("<https://doi.org/10.1039/C6OB02074G>", "10.1039/c6ob02074g"),  # so do its <...>
        ("no identifier here", None),
    ],
)
def test_normalise_doi_keeps_the_whole_doi(raw: str, doi: str | None) -> None:
    assert normalise_doi(raw) == doi


def test_a_pdf_citing_a_doi_on_page_one_does_not_take_it(make_pdf: Callable[..., bytes]) -> None:
    lines = [
        "A study of MgB2",
        "MgB2 superconducts at 39 K [1].",
        "1. J. Nagamatsu, doi:10.1038/35065039",
    ]
    paper = parse_paper(make_pdf([lines], {"Title": "A study of MgB2"}), "cites.pdf")
    assert paper.doi is None  # keyed by its text, not by the paper it cites


@pytest.mark.parametrize(
    "line",
    [
        "doi: 10.1103/PhysRevB.99.014501",
        "DOI:10.1103/PhysRevB.99.014501",
        "https://doi.org/10.1103/PhysRevB.99.014501",
    ],
)
def test_a_text_paper_takes_the_doi_it_prints_near_its_start(line: str) -> None:
    text = f"Pressure-enhanced Tc in FeSe\n\n{line}\n\nResults\n\nFeSe has a Tc of 8 K."
    paper = parse_paper(text.encode(), "fese.txt")
    assert paper.doi == "10.1103/physrevb.99.014501"
    assert paper.key == "doi:10.1103/physrevb.99.014501"  # one article, one key


def test_a_text_paper_citing_a_doi_does_not_take_it() -> None:
    cites = "A study of MgB2\n\nMgB2 superconducts [1].\n\n1. J. Nagamatsu, doi:10.1038/35065039"
    assert parse_paper(cites.encode(), "cites.txt").doi is None
    late = "A long paper\n\n" + "Text.\n\n" * 40 + "doi: 10.1038/35065039"
    assert parse_paper(late.encode(), "late.txt").doi is None  # not on its first page


def test_pdf(make_pdf: Callable[..., bytes]) -> None:
    pages = [
        [
            "Pressure raises Tc in LaFeAsO",
            "doi: 10.1234/PDF.5678",
            "Abstract",
            "We report Tc = 43 K in LaFeAsO1-xFx at 3.0 GPa. The onset rises with pressure",
            "up to 5 GPa, see Fig. 2.",
            "1. Introduction",
            "Iron pnictides were found in 2008. Their Tc reaches 55 K in the best case.",
        ],
        [
            "The structure of the doped samples was measured by X-ray diffraction at room temper-",
            "ature. No impurity phase was found.",
            "References",
            "1. Y. Kamihara et al., J. Am. Chem. Soc. 130, 3296 (2008).",
        ],
    ]
    data = make_pdf(pages, {"Title": "Pressure raises Tc in LaFeAsO", "Author": "A. One; B. Two"})
    paper = parse_paper(data, "generated.pdf")
    assert (paper.format, paper.title, paper.doi) == (
        "pdf",
        "Pressure raises Tc in LaFeAsO",
        "10.1234/pdf.5678",
    )
    assert paper.authors == ("A. One", "B. Two")
    names = [s.name for s in paper.sections]
    assert names == ["title", "body", "abstract", "1. Introduction"]
    sentences = {t for _, _, t in paper.sentences()}
    assert "The onset rises with pressure up to 5 GPa, see Fig. 2." in sentences
    assert (
        "The structure of the doped samples was measured by X-ray diffraction at room "
        "temperature." in sentences
    )
    assert not any("Kamihara" in t for t in sentences)  # references dropped
    _check_offsets(paper)


def test_pdf_without_metadata_takes_the_first_line(make_pdf: Callable[..., bytes]) -> None:
    paper = parse_paper(make_pdf([["A short title", "Body text here. More text."]]), "x.pdf")
    assert paper.title == "A short title"
    assert paper.sections[1].text == "Body text here. More text."


# --- malformed input --------------------------------------------------------------------


@pytest.fixture
def bad_files(
    tmp_path: Path, cde_test_data: Path, make_pdf: Callable[..., bytes]
) -> dict[str, Path]:
    elsevier = (cde_test_data / "elsevier/j.jnoncrysol.2017.07.006.xml").read_bytes()
    contents = {
        "truncated.xml": elsevier[: len(elsevier) // 2],
        "junk.bin": bytes(range(256)) * 8,
        "empty.txt": b"",
        "blank.pdf": make_pdf([[]]),
        "zero-pages.pdf": _zero_page_pdf(),
        "truncated.pdf": make_pdf([["Some text."]])[:400],
        "unknown.xml": b"<?xml version='1.0'?><inventory><item/></inventory>",
        "empty.html": b"<html><body><nav>menu</nav></body></html>",
    }
    paths = {}
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
        paths[name] = tmp_path / name
    return paths


def _zero_page_pdf() -> bytes:
    from pypdf import PdfWriter

    buffer = io.BytesIO()
    PdfWriter().write(buffer)
    return buffer.getvalue()


_PROBLEMS = {
    "truncated.xml": "malformed XML",
    "junk.bin": "binary content",
    "empty.txt": "empty file",
    "blank.pdf": "PDF has no extractable text",
    "zero-pages.pdf": "PDF has no extractable text",
    "truncated.pdf": "malformed PDF",
    "unknown.xml": "unknown format",
    "empty.html": "no text found",
}


@pytest.mark.parametrize("name", sorted(_PROBLEMS))
def test_malformed_files_raise_parse_error(bad_files: dict[str, Path], name: str) -> None:
    with pytest.raises(ParseError) as caught:
        read_paper(bad_files[name])
    assert str(bad_files[name]) in str(caught.value)
    assert _PROBLEMS[name] in str(caught.value)
    assert caught.value.source == str(bad_files[name])
    assert isinstance(caught.value, ValueError)


def test_parse_error_pickles() -> None:
    error = pickle.loads(pickle.dumps(ParseError("a.xml", "malformed XML")))
    assert (str(error), error.source, error.problem) == (
        "a.xml: malformed XML",
        "a.xml",
        "malformed XML",
    )


def test_read_papers_reports_and_continues(
    bad_files: dict[str, Path], cde_test_data: Path, tmp_path: Path
) -> None:
    (tmp_path / "good").mkdir()
    shutil.copy(cde_test_data / "springer/spr_test1.xml", tmp_path / "good" / "a.xml")
    (tmp_path / "good" / "b.txt").write_text("A title\n\nSome text. More text.\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "skip.txt").write_text("ignored")
    missing = tmp_path / "missing.txt"
    results = list(read_papers([tmp_path, missing]))
    by_name = {path.name: outcome for path, outcome in results}
    assert [p for p, _ in results][-1] == missing
    assert set(by_name) == {*bad_files, "a.xml", "b.txt", "missing.txt"}
    assert isinstance(by_name["a.xml"], Paper) and by_name["a.xml"].format == "springer"
    assert isinstance(by_name["b.txt"], Paper) and by_name["b.txt"].title == "A title"
    errors = [name for name, outcome in by_name.items() if isinstance(outcome, ParseError)]
    assert sorted(errors) == sorted([*bad_files, "missing.txt"])
    assert "cannot read file" in str(by_name["missing.txt"])


def test_importing_literature_stays_light() -> None:
    code = (
        "import sys, literature, literature.parsing\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pypdf', 'torch', 'transformers', 'matplotlib', 'mongoengine', 'prefect'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_paper_read_from_a_relative_path_names_its_file_absolutely(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "papers").mkdir()
    (tmp_path / "papers" / "a.txt").write_text("MgB2\n\nMgB2 superconducts at 39 K.")
    (tmp_path / "papers" / "bad.txt").write_bytes(b"")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    paper = read_paper(Path("../papers/a.txt"))  # as typed, relative to where it ran
    assert paper.source == str((tmp_path / "papers" / "a.txt").resolve())
    assert Path(paper.source).is_absolute() and ".." not in Path(paper.source).parts
    [(_, batched)] = read_papers(["../papers/a.txt"])
    assert isinstance(batched, Paper) and batched.source == paper.source
    with pytest.raises(ParseError) as caught:  # a message names the file as it was given
        read_paper("../papers/bad.txt")
    assert caught.value.source == "../papers/bad.txt"


def test_a_paper_in_another_language_does_not_read_as_english(
    supermat_root: Path, tmp_path: Path
) -> None:
    german = parse_paper(GERMAN.encode(), "de.txt")
    assert german.english_share == 0.0 and not german.in_english
    shares = [read_paper(p).english_share for p in sorted(supermat_root.rglob("*.xml"))]
    assert len(shares) == 120 and min(s for s in shares if s is not None) > 0.15
    short = parse_paper(b"MgB2\n\nMgB2 becomes superconducting at 39 K.", "short.txt")
    assert short.english_share is None and short.in_english  # too few words to tell
