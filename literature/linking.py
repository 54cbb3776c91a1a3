"""Link value mentions to the material they describe (SuperMat's ``corresp``).

Rules: in a sentence that says "respectively" (or "resp.") and lists n >= 2 materials
and n values of one property, the i-th value refers to the i-th material ("MgB2 and
NbSe2 have Tc of 39 K and 7 K, respectively"; "39 K and 7 K for MgB2 and NbSe2,
respectively"). Otherwise a Tc value refers to the material named right after it ("[40
K] for [x ∼ 0.15]", "[42 K] ([y = 1.0])", "[32 K] for the [Pb-doped series]", "[48 K] at
[x = 0.2]", "the [39 K] of [MgB2]": :data:`_RIGHT_AFTER`), so that "Tc rises from 40 K
for x ∼ 0.15 to 70 K for x ∼ 0.40" gives each value its own doping; else to the nearest
material before it in its sentence, else the nearest one after it, else the last
material of the two sentences before. Each rule carries, as its confidence, its
precision on the gold links of SuperMat's training papers with gold entities (451 values
linked to a material: the rules fire on 374 and are right on 336;
``benchmarks/linking.py`` measures it). The "respectively" rule fires on 18 of them, all
right, where the nearest-material rules were right on 9; the material named right after
a value is right on 36 of 38, where the rules without it were right on 18.

What the tagger missed does not send a value elsewhere. A formula-like word that no
mention covers (:func:`formula_like`: "H3S", "NbN", "MoGe", "Nb3Ge"; not "GPa", "Tc",
"BCS", "In", nor a part, holder or addition, "CuO2 planes", "SrTiO3 substrates", "BaZrO3
nanorods", nor a substrate, additive or source after on, onto, with, without, from or
over, "grown on MgO", "with SiC") is a material the tagger missed: no rule reaches past
one that lies between the value and the material the rule would pick, nor past one
before the value in its sentence when the pick lies after the value or in an earlier
sentence; such a value stays unlinked. In a "respectively" sentence such words make up
the count of materials when the tagged ones fall short ("CsV3Sb5 and [KV3Sb5] ... 2.5 K
and 0.93 K, respectively": 0.93 K to KV3Sb5, 2.5 K to nothing), and where the counts
still do not match but two materials or more are named, the other rules may not give one
material two of the list's values of a property (a material mention that lists several,
"AOs2O6 (A = Cs, Rb, K)", may); with one material named the list is its series, and all
its values are its own ("MgB2 shows Tc of 39 K and 37 K at 0 and 1 GPa, respectively").
The value of a doping variable or a formula-like word that no mention covers, named
right after a value ("70 K for x ∼ 0.40"), is a material the tagger missed too: the
value stays unlinked. A value that states a change of the property rather than the
property (:func:`states_change`: "the change in Tc is only 0.3 K", "Tc rises by 2 K", "a
transition width of 0.5 K", "ΔTc = 1 K"; not "a drop in resistance at temperatures of 39
K", which is where Tc is) is linked to nothing and is not counted in a "respectively"
list; nor is a value that another transition's symbol introduces
(:func:`names_other_transition`: "T CDW = 32 K", "T_N ≈ 32 K", "T* ~ 150 K"), nor one
that says how far a measurement went (:func:`states_limit`: "measured down to 0.4 K",
"remains metallic down to 0.4 K"; not "no superconductivity was observed down to 0.4
K", which normalisation reads as the bound Tc < 0.4 K, nor "Tc is suppressed down to 5
K"), or the range it spanned or how far a measured behaviour held ("in a temperature
range between 14 K and 290 K", "T² dependence in the resistivity up to 240 K"; not "Tc
between 36 and 38 K" nor "superconducting up to 30 K"). A change may be written as a
difference of Tc's ("∆Tc = Tc(onset) − Tc(zero) ∼ 15-20 K"), its delta in any of the
glyphs papers use (Δ, ∆, △, the Symbol font's); another transition may be named in
words, whatever symbol follows ("ferromagnetic Curie temperature TC = 131 K", "a CDW
transition at 94 K"). All of these need the sentences' text.

A value's condition (:func:`link_conditions`: its pressure) is the one it was read at in
its sentence: in a "respectively" sentence that lists as many conditions as values, the
i-th listed ("39 K and 37 K at 0 and 1 GPa, respectively"); else the one right after it
("133 K at ambient pressure", "164 K under 30 GPa"), else the nearest that is no other
value's (not right after another value, nor in a clause of another value's after the
first value, nor in a clause of no value after a value that introduces the next value:
"8 K; at 1.5 GPa, the Tc is 21 K"), where an untagged "ambient pressure" ("at AP")
counts as a condition, and a number stated as another property's value ("a bulk modulus
of 160 GPa", "a yield stress of": :func:`states_other_property`; not "a uniaxial stress
of") does not. The state before a change ("Tc increases from 1.0 K to 3.0 K at 2 GPa":
:func:`follows_change`) takes only a condition right after it: the others are the
change's. An applied magnetic field, which SuperMat does not tag (:func:`applied_fields`),
is a value's only where it is stated with it (:func:`link_field`: "an onset in an
applied magnetic field of 14 T at 10.2 K", "15 K at 9 T").

A value may belong to another material than the paper's: an element the tagger left
untagged, named with it (:func:`named_elements`: a symbol, or a name read by pymatgen's
element names, "Tantalum"), takes it before any other rule ("element-named") where it
owns the value: "W (Tc = [0.012 K]) and Be (Tc = [0.026 K])", "(Nb: [9.2 K])", "T c (Al)
≈ [1.69 K]", "the Tc of the Nb leads is [9 K]", "Tantalum exhibits a slight negative α
below T c = [4.4 K]" (:func:`_owns`; not a dopant or additive, "doped with Zn (Tc = 20
K)"). A tagged material that is a substrate, holder, part or addition ("sputtering on
[LaAlO3]", "[SrTiO3] substrates": :func:`_holds_or_adds`) is no value's for the
nearest-material rules: "Tc is [86-92 K], depending on the substrate" is not LaAlO3's. A
value that is no Tc of any material is linked to nothing: a temperature stated against
Tc (:func:`states_against_tc`: "at [25 K] (seven times Tc!)", "[40 K], just above Tc"),
one the paper doubts (:func:`doubted`: "reported T c ~ [115 K] is doubtful") and another
characteristic temperature's ("T 0 = [30 K]": :func:`names_other_transition`).

A learned pair classifier (logistic regression over distance, order, intervening
materials, "respectively" and the rules' own choice) was tried against these rules by
``benchmarks/linking.py`` and did not clearly beat them (F1 0.720 at its best threshold
against 0.712, cross-validated over the development papers; with the right-after rule,
0.733 against 0.740; with the rules for other materials' values, 0.735 against 0.741), so
the rules stay.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pymatgen.core.periodic_table import Element

from literature.baseline import PATTERNS
from literature.normalize import element_symbol, searched_without_finding
from literature.records import VALUE_PROPERTIES, Mention

# Confidence of each rule: its precision on the SuperMat training papers (gold entities).
RESPECTIVELY = 0.95  # 18 of 18; (18 + 1) / (18 + 2), as 18 cases cannot show certainty
RIGHT_AFTER = 0.95  # 36 of 38
SAME_SENTENCE_BEFORE = 0.94  # 177 of 188 (180 of 209 before the right-after rule took 21)
SAME_SENTENCE_AFTER = 0.74  # 32 of 43
EARLIER_SENTENCE = 0.84  # 73 of 87
# 6 of 6 with SuperMat's element mentions withheld, as a tagger that misses them leaves
# the text (SuperMat tags them, so the benchmark's gold entities never reach the rule);
# (6 + 1) / (6 + 2). It fires on no other value of the development papers, even with
# every material mention withheld.
ELEMENT_NAMED = 0.88
LOOKBACK_SENTENCES = 2

# "respectively" or its abbreviation "resp.", as a word.
_RESPECTIVELY = re.compile(r"\brespectively\b|\bresp\.", re.IGNORECASE)
# A material mention that lists several ("AOs2O6 (A = Cs, Rb, K)", "x = 0, 0.1 and 0.2").
_LIST = re.compile(r",|\band\b")

_ELEMENTS = frozenset(e.symbol for e in Element)
# One element of a formula-like word and its amount ("Sr0.15", "O7-δ", "Sr x").
_PART = re.compile(r"([A-Z][a-z]?)((?:\d+(?:\.\d+)?|[1-9]?[-−+]?[xyzδ])*)")

# Words that say a value is a change of the property, not the property itself.
_PROPERTY = (
    r"(?:\bT\s?_?\{?c\}?(?:[a-z]*|'s)(?![A-Za-z])|\btransitions?(?:\s+temperatures?)?"
    r"|\bcritical\s+temperatures?|\btemperatures?)"
)
# Nouns of a change; those that are also verbs only in the singular ("Tc increases
# with x" is no change stated). A span (difference, width, shift) is one of temperatures
# even where no property is named ("a broadening of 0.5 K"); a rise or fall (drop, jump,
# increase) may be of anything, and where it is of resistance ("a sharp drop in
# resistance at temperatures of 39 K") its value is where Tc is: it states a change only
# when tied to the property.
_CHANGE_NOUN = (
    r"\b(?:(?P<span>differences?|widths?|broadening|spreads?|hysteresis|shift)"
    r"|enhancements?|suppressions?|reductions?|variations?|change|increase|decrease|drop"
    r"|rise|jump)\b"
)
# Words between a change noun and the property it is of ("the change in the onset Tc"),
# none of them saying where ("a drop in resistance at temperatures of 39 K").
_OF_WORDS = r"(?:(?!(?:at|near|below|above|under|around)\b)[\w']+\s+){0,3}?"
# A capital delta as papers write it: Greek (U+0394), the increment sign (U+2206), a
# triangle (U+25B3) or the Symbol font's glyph in the private use area (U+F044).
_DELTA = "Δ∆△\uf044"
_CHANGE = re.compile(
    rf"(?P<before>{_PROPERTY}\s*[-‐]?\s*)?{_CHANGE_NOUN}"
    rf"(?P<after>\s+(?:in|of|between)\s+{_OF_WORDS}{_PROPERTY})?"
    rf"|(?P<delta>(?-i:[{_DELTA}]|(?<![^\s(])δ)\s?T\s?_?\{{?c)"
    rf"|(?P<span_symbol>(?-i:[{_DELTA}])\s?T(?![A-Za-z]))",  # "∆ T of 2 K": a difference
    re.IGNORECASE,
)
# One of the property's values, with its criterion: "Tc", "T c (onset)", "Tc,zero".
_TC_TERM = r"\bT\s?_?\{?c\}?(?:\s*\([^()]{1,12}\)|\s?,?\s?[a-z]+(?![\w(]))?"
# Two of them subtracted: the definition of a change written out, "∆T c = T c (onset) -T
# c (zero) ∼ [15-20 K]", which names the property without stating its value.
_TC_DIFFERENCE = re.compile(rf"{_TC_TERM}\s*[-−–]\s*{_TC_TERM}")
#: The stems of verbs that state a change ("Tc rose by 5 K", "increases from 30 K to 40 K"),
#: each matching every form of its verb as a word's start: "rises", "rising", "risen",
#: "rose"; "goes up", "going up", "gone up", "went up".
CHANGE_VERB_STEMS = (
    r"increas|decreas|rais|ris(?:e|es|en|ing)\b|rose|drop|fall|fell|shift|chang|enhanc"
    r"|suppress|reduc|lower|declin|diminish|differ|boost|elevat|depress|jump|improv"
    r"|go(?:es|ing|ne)?\s+(?:up|down)|went\s+(?:up|down)"
)
_CHANGE_VERB = re.compile(rf"\b(?:{CHANGE_VERB_STEMS})", re.IGNORECASE)
_QUALIFIER = (
    r"(?:only|just|about|approximately|approx\.|roughly|nearly|almost|around|some|over"
    r"|(?:less|more)\s+than|up\s+to|at\s+(?:least|most)|as\s+(?:much|large|small|little)"
    r"\s+as|~|≈|∼|<|>|≤|≥)"
)
_BY = re.compile(rf"\bby(?:\s*{_QUALIFIER})*\s*$", re.IGNORECASE)
# What may stand between a change word that names no property and its value.
_LINKED = re.compile(
    rf"^\s*(?:of|=|:|is|was|amounts?\s+to|amounting\s+to)?(?:\s*{_QUALIFIER})*\s*$",
    re.IGNORECASE,
)
# A clause ends at these: what comes after them is not what the change word describes.
_CLAUSE = re.compile(r"[;,]|\b(?:while|whereas|but|although|though|which|where)\b", re.I)
# The words that end a change statement: "an increase in Tc to 30 K" gives the new value,
# unless a link word comes first ("a shift of up to 2 K", "amounts to 2 K").
_DIRECTION = re.compile(r"\b(?:to|from|into|towards?)\b", re.IGNORECASE)
_NOT_DIRECTION = re.compile(
    r"(?:\b(?:amounts?|amounting|equal|close|compared|relative|respect)"
    r"|(?:\b(?:of|is|was|are|were|be)|[=:])\s+up)\s*$",
    re.IGNORECASE,
)
# A value just after these is where something happens ("Tc drops sharply at 39 K").
_AT = re.compile(r"\b(?:at|near|below|above|under|beyond|toward|towards)\s*$", re.I)
_STATES_LEVEL = re.compile(
    r"\b(?:has|have|had|shows?|showed|shown|exhibits?|exhibited|displays?|displayed"
    r"|possess(?:es|ed)?|becomes?|became|reach\w*|attain\w*|superconduct\w*)\b",
    re.IGNORECASE,
)
_OTHER_VALUE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s*(?:m?K|°\s?[CF])(?!\w)")
_CHANGE_WORDS = 12  # most words between a change word and its value
# The property named again: a value after "Tc shift of lead (Tc(0 kbar) =" is that Tc.
_TC = re.compile(r"\bT\s?_?\{?c(?![A-Za-z])")
# The symbol of another transition right before a value: "T CDW = [32 K]", "T_N ≈", "T*
# ~", "T_{SDW} of", or another characteristic temperature, "T 0 = [30 K]" (where a vortex
# state sets in, a fit's scale). Its subscript is written with its case: "T c" and "T C"
# are Tc's, and so is "T c0".
_OTHER_TRANSITION = re.compile(
    r"(?<![A-Za-z])T\s?_?\{?\s?(?:CDW|SDW|DW|CO|OO|MIT?|N|N[ée]el|[sS]|str|coh|irr|g|FM|AFM"
    r"|AF|SG|nem|0|\*|∗)\}?(?![A-Za-z\d])"
    r"(?:\s|[=:≈~∼≃<>≤≥]|\b(?:of|is|was|at|around|about|near|approximately)\b)*$"
)
# Another transition (or a material's other temperature: Debye, Kondo, coherence) named
# in words right before a value, with or without its symbol:
# "ferromagnetic Curie temperature TC = [131 K]" (TC here is no Tc), "the Néel
# temperature, T N, of about [17 K]", "a CDW transition at [94 K]", "the magnetic ordering
# temperature of", "a structural phase transition at", "antiferromagnetic ordering at",
# "the same magnetic order T C (Ru) of [131 K]" (with the site that orders). Not "the
# superconducting transition temperature", nor "transition temperature" alone:
# those are Tc's; nor an order not named ("the simultaneous ordering temperature of [42
# K]" in La2CuO4.11, where superconductivity and magnetism set in together). Acronyms
# and symbols are written with their case.
_OTHER_NAME = (
    r"(?:\b(?:Curie|N[ée]el|Weiss|Verwey|Kondo|Debye|coherence|pseudogap|freezing"
    r"|(?:anti-?)?ferr[oi]-?\s?magnetic|magnetic|metamagnetic|(?-i:AFM?|FM|CDW|SDW|DW|MIT)"
    r"|(?:charge|spin)[\s-]+density[\s-]+wave|density[\s-]+wave|structural|nematic"
    r"|spin[\s-]+glass|metal[\s-]+insulator)(?:[\s-]+(?:ordering|order|phase))?)"
)
_OTHER_NAMED = re.compile(
    rf"{_OTHER_NAME}[\s-]+(?:(?:transition[\s-]+)?(?:temperatures?|transitions?|points?)"
    r"|order(?:ing)?)"
    r"(?:\s*,?\s*\(?\s*(?-i:T|θ|Θ)\s?_?\{?\s?[A-Za-z*]{0,4}\}?\s*\)?)?"  # "TC", "(T N )"
    r"(?:\s*\(\s*(?-i:[A-Z][a-z]?)\s*\))?"  # the site that orders: "T C (Ru)"
    r"(?:\s|[=:≈~∼≃<>≤≥,]|\b(?:of|is|was|at|around|about|near|approximately)\b)*$",
    re.IGNORECASE,
)
# A name after these is one of two transitions named together ("the superconducting and
# magnetic transition temperatures of [30 K] and [50 K]"): the first value is Tc's.
_BOTH_NAMED = re.compile(r"superconduct\w*\s+(?:and|or)\s+$", re.IGNORECASE)
# Words before a number that state it as another property's value: "a bulk modulus of
# [160 GPa]", "shear modulus G =", "the Vickers hardness of Nb3Sn is about", "a tensile
# strength of", "a yield stress of", "elastic constant C11 =", "B0 =". A stress or strength
# that is no material's property is a condition: "under a uniaxial stress of [0.7 GPa]".
_OTHER_PROPERTY = re.compile(
    r"(?:\b(?:modul(?:us|i)|hardness|elastic\s+constants?"
    r"|(?:yield|tensile|flow|fracture|ultimate|compressive|flexural|shear)\s+strengths?"
    r"|(?:yield|flow|fracture)\s+stress(?:es)?)"
    r"(?:\s+[^\s;,]+){0,4}?|\bB\s?_?\{?0\}?)"  # a few words between: "of Nb3Sn", "(HV)"
    r"\s*(?:of|=|:|is|was|are|were|(?:is|was|are|were)\s+(?:found|estimated|calculated"
    r"|determined|measured)\s+to\s+be)"
    r"(?:\s*(?:about|around|approximately|nearly|only|~|≈|∼|≃))*\s*$",
    re.IGNORECASE,
)
# Ambient pressure stated, tagged or not ("at ambient pressure", "under atmospheric
# pressure", "the ambient-pressure Tc"), or its abbreviation where a condition stands
# ("6.3 K at AP", "under AP"; in capitals; not "in AP films", which may be as-prepared).
_AMBIENT_PRESSURE = re.compile(
    r"\b(?:ambi-?\s?ent|atmospheric|normal)[\s-]+pressures?\b"
    r"|\b(?:at|under)\s+(?-i:AP)\b",
    re.IGNORECASE,
)
# An applied magnetic field, untagged (SuperMat tags none): "in an externally applied
# magnetic field of [14 T]", "under a high magnetic field of ∼[7 T]", "at [9 T]", "in an
# applied [14 T] field", "μ0H = [5 T]"; its unit in T (μ0H for Oe). Not a field that is a
# property: "a critical field of 1.9 T", "the paramagnetic limit of µ o H = 4 T", "H c2 =
# 61 T", "in magnetic fields up to 6 T" (how far a measurement went).
_APPLIED_FIELD = re.compile(
    r"(?i:\b(?:in|at|under)\s+(?:an?\s+)?"
    r"(?:(?:high|low|applied|external(?:ly)?|static|dc|ac|constant)\s+)*"
    r"(?:(?:magnetic\s+)?fields?\s+(?:of\s+)?)?|\b(?:magnetic|applied)\s+fields?\s+of\s+)"
    r"(?:[μµ]0?\s?H\s*=\s*|(?<![\w])[HB]\s*=\s*)?|[μµ]0?\s?H\s*=\s*|(?<![\w])[HB]\s*=\s*"
)
_FIELD_VALUE = re.compile(
    r"\s*(?:[~∼≈]\s*)?(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>kOe|Oe|mT|kG|T|G|[Tt]esla)"
    r"(?![A-Za-z\d]|\s?_?c\b)"  # "2 T c" is twice Tc
)
_FIELD_LISTED = re.compile(r"\s*,?\s*(?:and|or)?(?=\s*\d)", re.IGNORECASE)
_TESLA = {"T": 1.0, "Tesla": 1.0, "tesla": 1.0, "mT": 1e-3, "kG": 0.1, "G": 1e-4, "kOe": 0.1,
          "Oe": 1e-4}  # fmt: skip
_FIELD_PROPERTY = re.compile(
    r"(?:\b(?:critical|limit\w*|Pauli|irreversibility|coercive|saturation)"
    r"|(?<![A-Za-z])[HB]\s?_?\{?\s?(?:c\s?[12]?|irr|p|P)\}?)(?:\W+\w+){0,3}\W*$"
)
# What may stand between a value and the condition right after it: words, but no
# number, comma, semicolon or conjunction ("[39 K] at an applied pressure of [2 GPa]").
_BOUND = re.compile(
    r"(?![\s\S]*\b(?:and|or|while|whereas|but|although|though|which|where|then)\b)"
    r"[^\d;,]*",
    re.IGNORECASE,
)
_BOUND_WORDS = 6  # most words between a value and the condition right after it
# What stands between two values listed together: "8 K, 14 K and 20 K", "8 K or 14 K".
_LISTED = re.compile(r"\s*,?\s*(?:(?:and/or|and|or)\s+)?|\s*/\s*", re.IGNORECASE)
# A clause that opens with a past participle describes the value before it ("[8 K],
# measured at [1.5 GPa], and [14 K] ..."): it introduces no value after it.
_DESCRIBES_BEFORE = re.compile(
    r"\s*(?:(?:and|or|then)\s+)?(?:(?!applied\b)[a-z]+ed|taken|seen|shown|grown|found)\b",
    re.IGNORECASE,
)
# An amount set apart from its formula ("MgB 2", "CuO 2 planes").
_SPACED_AMOUNT = re.compile(r"(?:\s+\d+(?:\.\d+)?(?![\w.]))?")
# A formula-like word followed by these names a part, a holder or something added, not a
# material: "CuO2 planes", "FeSe layers", "SrTiO3 substrates", "BaZrO3 nanorods", "SiC
# additions". Not "buffer" or "cap": "the TiN buffer has Tc of 4.5 K" is TiN's own Tc.
_PART_OF = re.compile(
    r"\s*(?:[a-z]+-\s*)?(?:planes?|layers?|sheets?|chains?|blocks?|slabs?|octahedra"
    r"|tetrahedra|bonds?|substrates?|crucibles?|nanorods?|nanoparticles?|nanodots?"
    r"|nanocolumns?|nano-?inclusions?|inclusions?|precipitates?|additions?|additives?"
    r"|dopants?|doping|impurit(?:y|ies))\b",
    re.IGNORECASE,
)
# A material followed by these holds or bounds the sample measured: "in [Fe] sheaths", "at
# the [SrTiO3] interface". Not a buffer: "Tc = 4.5 K in the [TiN] buffer" is TiN's.
_HOLDER = re.compile(
    r"\s*(?:sheaths?|tubes?|interfaces?|surfaces?|matri(?:x|ces))\b",
    re.IGNORECASE,
)
# A material with a value of its own right after it: "([Nb]: 9.2 K)", "[Nb] = 9.2 K".
_OWN_VALUE = re.compile(r"\s*[:=]\s*\d")
# A formula-like word right after these is a substrate, an additive or a source ("MgB2
# grown on MgO", "YBa2Cu3O7 with 5 wt% BaZrO3", "made from MgH2"), not a material the
# tagger missed; after "compared with" it is another material.
_BESIDE = re.compile(
    r"(?<!compared\s)(?<!comparison\s)\b(?:on|onto|with|without|from|over)"
    r"(?:\s+(?:an?|the))?(?:\s*\d+(?:\.\d+)?\s*(?:(?:wt|mol|at|vol)\.?\s*)?%)?\s*$",
    re.IGNORECASE,
)

# What joins a value to the material named right after it: "[40 K] for [x ∼ 0.15]", "[42
# K] ([y = 1.0])", "[32 K] for the [Pb-doped series]", "[48 K] at [x = 0.2]", "[1 K] in
# [CeRhIrIn5]", "lower than the [39 K] of [MgB2]": a unit the tagger left out, "(",
# "for", "in", "at" or "of", and a few words
# that name no other thing (an article, a sample noun), so that "[1.5 K] in contrast to
# [MgB2]" is no such join.
_RIGHT_AFTER = re.compile(
    r"(?:\s*(?:m?K|°\s?[CF])(?![A-Za-z]))?\s*(?:\(\s*(?:(?:for|in|at)\s+)?|(?:for|in|at|of)\s+)"
    r"(?:(?:the|a|an|both|all|each|our|this|these|those|its|their|pure|undoped|parent"
    r"|samples?|films?|crystals?|compounds?|series|phases?|compositions?|case|system|of"
    r"|with)\s+){0,3}",
    re.IGNORECASE,
)
# A value of a doping variable that no mention covers ("x ∼ 0.40", "x=0.1"): a material
# the tagger missed, when it is named right after a value.
_DOPING = re.compile(r"(?<![A-Za-z])[xyzδ]\s*(?:=|∼|~|≈|≃)\s*\d")

# A word that may name an element the tagger left untagged: a symbol, with its case ("W",
# "Nb"), or a name ("Tantalum", "in- dium", which a PDF broke at its line's end). Not part
# of a formula ("Nb3Sn"), a hyphenated word ("Co-doped") nor "Tc", the critical
# temperature far more often than technetium.
_WORD = re.compile(r"(?<![\w\-–/+.])[A-Za-z]+(?:-\s+[a-z]+)?(?![\w\-–/+])")
_NOT_ELEMENTS = frozenset({"Tc"})
# Symbols that are English words too, most often at a sentence's start ("In zero field").
_WORD_SYMBOLS = frozenset({"In", "As", "At", "Be", "No", "He", "Am", "Es"})
# An amount, a unit's number or a spaced formula right before a word: "5% Co", "40 K", "Cu
# 3 O": no element named.
_AMOUNT_BEFORE = re.compile(r"[\d%]\s*$")
# A one-letter symbol after these is a label: "sample B", "Fig. C", "films A and B".
_LABEL_BEFORE = re.compile(
    r"(?:(?i:\b(?:samples?|films?|crystals?|specimens?|batch(?:es)?|series|types?|phases?"
    r"|regions?|sites?|panels?|curves?|cases?|points?|lines?|groups?|sets?|stages?|states?"
    r"|steps?|parts?|modes?|structures?|figs?\.?|figures?|tables?|eqs?\.?))"
    r"|(?<![A-Za-z])[A-Z]\s*(?:,|&|\band\b|\bor\b))\s*$"
)
# Words before an element that make it a dopant, an additive, a substrate or a source,
# not the sample: "doped with Zn (Tc = 20 K)", "Cu substituted by Zn"; not "compared with".
_ADDED_BEFORE = re.compile(rf"{_BESIDE.pattern}|\bby\s*$", re.IGNORECASE)
# Words before a tagged compound that make it a substrate or an addition: "grown on",
# "films on (001)", "sputtering on", "doped with", "with 5 wt%". Not "measurements on",
# "studies on" or "the literature on", whose material is the sample.
_LAID_ON_OR_ADDED = re.compile(
    r"(?:\b(?:grow|grew|grown|deposit|sputter|evaporat|ablat|films?\b|layers?\b|epitax"
    r"|coat|buffer|mount)\w*(?:\s+[^\s;,.]+){0,4}?\s+(?:on|onto|over)"
    r"|\b(?:doped|added|mixed|admixed|co-doped)\s+with"
    r"|\bwith(?:out)?\s*\d+(?:\.\d+)?\s*(?:(?:wt|mol|at|vol)\.?\s*)?%)(?:\s+(?:an?|the))?\s*$",
    re.IGNORECASE,
)
# A piece of an element measured as the element: "the Tc of the Nb leads", "a Zn plate".
_PIECE = (
    r"(?i:leads?|films?|electrodes?|wires?|foils?|plates?|pieces?|tips?|contacts?|strips?"
    r"|islands?|grains?|particles?|spheres?|samples?|crystals?|metal|layers?|sheets?)"
)
# The property named, with its criterion or condition: "T c", "T C onset", "T c (0)", "T c
# (p = 0)", "the critical temperature".
_TC_NAME = (
    r"(?:(?<![A-Za-z])T\s?_?\{?[cC]\}?(?:\s?(?i:onset|zero|mid|0))?(?![A-Za-z])"
    r"|\b(?i:critical|transition)\s+(?i:temperatures?)\b)(?:\s*\([^()]{0,24}\))?"
)
# Words that state what a named Tc is: "T c (Al) [≈] 1.69 K", "Tc of Al [is known to be]".
_STATED = (
    r"(?:\s*(?:[=≈~∼≃:<>≤≥]|\b(?i:is|was|are|were|of|be|been|about|around|approximately"
    r"|nearly|close\s+to|equal\s+to|known|found|reported|measured|estimated|taken|to|as)\b))*\s*"
)
# A value stated as a Tc by the words right before it: "Tc = [39 K]", "T c of [39 K]".
_STATED_AS_TC = re.compile(rf"{_TC_NAME}{_STATED}$")
# An element with a value of its own right after it: "(Nb: [9.2 K])", "Nb = [9.2 K]".
_OWN_VALUE_OF = re.compile(r"\s*[:=]\s*")
# An aside opened right after an element, a reference number maybe between (after a
# name): "W (Tc = [0.012 K])", "In [T c (0) = [3.4 K]]", "tungsten 24 (ξ 0 = 32 µm, T c =".
_ASIDE_OPENS = re.compile(r"(?P<reference>\s+\d{1,3})?\s*[(\[]")
# A Tc named with an element before it: "T c (" of "T c (Al) ≈ [1.69 K]"; "Tc of the", "Tc
# for", "Tc in" of "the Tc of the Nb leads is [9 K]".
_TC_WITH_ELEMENT = re.compile(
    rf"{_TC_NAME}(?:(?P<paren>\s*\(\s*)|\s+(?i:of|for|in)\s+"
    r"(?i:(?:the|a|an|pure|bulk|elemental|metallic)\s+)*)$"
)
_IN_TC_PARENS = re.compile(rf"\s*\)(?:\s*\([^()]{{0,24}}\))?{_STATED}")
_AFTER_TC_OF = re.compile(rf"(?:\s+{_PIECE})?(?:\s*,?\s*{_TC_NAME})?{_STATED}")
# An element that opens its sentence, or a part after ";", as the subject of a verb of
# having, showing or being: "Tantalum exhibits a slight negative α below T c = [4.4 K]",
# "Pure niobium has Tc = [9.2 K]", "Lead becomes superconducting at [7.2 K]".
_OPENS = re.compile(
    r"(?:^|;)\s*(?i:(?:the|pure|bulk|elemental|metallic|clean|polycrystalline)\s+)*$"
)
_SUBJECT_VERB = re.compile(
    rf"(?:\s+{_PIECE})?\s+(?:\w+ly\s+)?(?i:has|have|had|shows?|showed|exhibits?|exhibited"
    r"|displays?|displayed|possess(?:es|ed)?|becomes?|became|superconducts?|undergoes"
    r"|underwent|is|was|are|were)\b"
)
# Words after which the value is no longer what the subject has: another clause, a
# change, a substitution ("Carbon is known to reduce Tc to [37 K]", "Al is added").
_SUBJECT_ENDS = re.compile(
    rf"[;]|\b(?:while|whereas|but|although|though|which|where|than|{CHANGE_VERB_STEMS})"
    r"|\b(?:dop|substitut|add|replac|content|concentration|intercalat|alloy)",
    re.IGNORECASE,
)
# Superconductivity named: the subject's value is its Tc ("becomes superconducting at").
_SUPERCONDUCTIVITY = re.compile(r"\bsupercond", re.IGNORECASE)
_NUMBER_WORDS = (
    r"(?i:one|two|three|four|five|six|seven|eight|nine|ten|several|half|a\s+third"
    r"|a\s+quarter)"
)
# A temperature stated against Tc right after a value: "at [25 K] (seven times Tc!)",
# "[40 K], just above Tc", "[2 K] (0.05 T c )", "[300 K] ≫ Tc": where something was looked
# at, no Tc. Not a Tc compared with another's: "above the Tc of Nb3Sn", "above T c,onset";
# nor a bound, "[16 K] > T c > 10 K".
_AGAINST_TC = re.compile(
    r"(?:\s*m?K(?![A-Za-z]))?\s*[(\[,]?\s*"
    r"(?:(?i:i\.\s?e\.|about|roughly|approximately|nearly|almost|only|just|well|far"
    r"|slightly)\s*,?\s*|[~≈∼]\s*)*"
    rf"(?:(?:\d+(?:\.\d+)?|{_NUMBER_WORDS})\s*(?:(?i:times)|×)?\s*|(?i:twice|thrice)\s+"
    r"|(?i:above|below|over|under|beyond)\s+(?i:the\s+)?|[≪≫]\s*)"
    r"(?i:bulk\s+)?T\s?_?\{?[cC]\}?(?![A-Za-z])"
    r"(?!\s*(?:\(|(?i:of)\b|,?\s*(?i:onset|zero|mid|on|off)\b))"
)
# Words that doubt a value: "reported T c ~ [115 K] is doubtful", "a dubious report of
# superconductivity at [115 K]", "[30 K], which was not reproduced".
_DOUBT = (
    r"(?i:doubtful|questionable|dubious|unconfirmed|spurious|disputed|alleged|erroneous"
    r"|controversial|unreliable|unlikely|an?\s+artifact|not\s+(?:reproducible|reproduced"
    r"|confirmed|intrinsic|reliable))"
)
_DOUBTED_AFTER = re.compile(
    r"(?:\s*m?K(?![A-Za-z]))?\s*\)?\s*,?\s*(?i:(?:which|that)\s+)?"
    r"(?i:is|was|are|were|seems?|seemed|appears?|appeared|remains?|remained|looks?)\s+"
    r"(?i:to\s+be\s+)?(?i:(?:very|highly|rather|quite|somewhat|still|thus|therefore|also"
    rf"|probably|likely)\s+)*{_DOUBT}\b"
)
_DOUBTED_BEFORE = re.compile(
    r"\b(?i:doubtful|questionable|dubious|unconfirmed|spurious|disputed|alleged|erroneous)\b"
    r"(?:\s+[^\s\d;,.]+){0,5}\s*$"
)

# Words that bring in how far a measurement went ("measured down to [0.4 K]", "at
# temperatures as low as [50 mK]", "cooled to [2 K]", "measurements above [2 K]"), the
# ends of the range it spanned ("measured between [14 K] and [290 K]", "from [2 K] to",
# "between temperatures of 20 K and [1.8 K]"; a range the tagger split is one mention
# that opens with its word, "between 14 K and 290 K"), how far it rose ("up to [240
# K]"), and the hedges that may follow them ("down to about [2 K]").
_REACHED = re.compile(
    r"(?<![A-Za-z])(?:(?P<reach>down\s+to|as\s+low\s+as|cool(?:ed|ing)\s+(?:down\s+)?to)"
    r"|(?P<above>above)|(?P<up>up\s+to)|(?P<at>at)"
    r"|(?P<range>(?:between|from)(?:\s+temperatures?\s+of)?"
    r"(?:\s*\d+(?:\.\d+)?\s*(?:m?K)?\s*(?:and|to|[-–]))?))"
    rf"(?:\s*{_QUALIFIER})*\s*$",
    re.IGNORECASE,
)
# The property named: "Tc is suppressed down to [5 K]", "the critical temperature, as low
# as [2 K]". Written with its case: "T c", "T C", "T_c".
_NAMES_TC = re.compile(
    r"\bT\s?_?\{?[cC]\}?(?![A-Za-z])|\b(?:critical|transition)\s+temperatures?\b"
)
# What a measurement at a temperature measured: "the resistivity of FeSe at [300 K]", "the
# upper critical field at [2 K]", "XRD patterns at [10 K]".
_MEASURED_AT = re.compile(
    r"\b(?:mea-?\s*sur\w*|data|recorded|collected|taken|resistivit\w*|resistance"
    r"|susceptibilit\w*|magneti[sz]ation|hall|fields?|heat|conductivit\w*|thermopower"
    r"|seebeck|spectr\w*|patterns?|lattice|raman|xrd|diffraction|curves?|loops?)\b",
    re.IGNORECASE,
)
# What a transition shows at its temperature: "the resistivity drops to zero at [8 K]", "a
# jump in the specific heat at [8 K]", "the onset of diamagnetism at [8 K]".
_SHOWS_TRANSITION = re.compile(
    r"\b(?:supercond\w*|transitions?|onset|drops?|dropp\w*|zero|vanish\w*|kinks?|anomal\w*"
    r"|jumps?|appear\w*|sets?\s+in|emerg\w*|diamagnet\w*|meissner|shielding|peaks?|falls?"
    r"|fell|sharp\w*|abrupt\w*|sudden\w*|becom\w*|turns?|enter\w*|occur\w*|decreas\w*"
    r"|declin\w*|dips?|reduc\w*|downward|deviat\w*|departs?|bends?"
    r"|signal\w*|signatures?|features?|downturn|step)\b",
    re.IGNORECASE,
)
# Words of measuring, after which "above" gives the lowest temperature measured
# ("measured above [2 K]"); a PDF may break "mea- surements".
_MEASURED = re.compile(r"\b(?:mea-?\s*sur\w*|data)\b", re.IGNORECASE)
# Words of looking, after which a temperature reached is the search's, whatever a verb
# moved ("decreasing the temperature down to [2 K]", "no drops are observed down to").
_SEARCHED = re.compile(
    r"\b(?:mea-?\s*sur\w*|data|cool\w*|temperatures?|observ\w*|detect\w*|investigat\w*"
    r"|stud(?:y|ies|ied))\b",
    re.IGNORECASE,
)
# Words after which a range ("between", "from") is the one a measurement spanned:
# measuring, cooling, a range of temperatures ("in a temperature range between [14 K]
# and [290 K]"); and those after which "up to" is how far a measured behaviour held too
# ("exhibits T 2 dependence in the resistivity up to [240 K]", "a linear fit up to").
# "Tc between 36 and 38 K", "Tc up to 40 K" and "superconducting up to 30 K" name none.
_SPANNED = (
    r"\b(?:mea-?\s*sur\w*|data|cool\w*|warm\w*|temperature\s+(?:range|interval|window)s?"
    r"|ranges?\s+of\s+temperatures?)\b"
)
_RANGED = re.compile(_SPANNED, re.IGNORECASE)
_HELD = re.compile(
    rf"{_SPANNED}|\b(?:dependen\w*|behavio\w*|laws?|linear\w*|fit\w*|follow\w*)\b",
    re.IGNORECASE,
)
# Verbs that carry the property to a new value: "Tc is suppressed down to [5 K]",
# "superconductivity is reduced to as low as [2 K]", "Tc falls, reaching down to [5 K]".
_CARRIES = re.compile(rf"\b(?:{CHANGE_VERB_STEMS}|reach)", re.IGNORECASE)
# A change word and then "from", at most four words on.
_CHANGE_THEN_FROM = (
    rf"\b(?:(?:{CHANGE_VERB_STEMS})\w*|go|goes|going|went|gone)"
    r"(?:\s+(?![;,])[^\s;,]+){0,4}?\s+from"
)
# A change just before "from" in its clause: "Tc increases from [30 K] to [40 K]" gives
# two states, the one before and the one after, not a range of readings.
_CHANGES_FROM = re.compile(rf"{_CHANGE_THEN_FROM}\s*$", re.IGNORECASE)
# A "from" with no verb of its own, after a comma or a conjunction: "… and from".
_AND_FROM = re.compile(r"(?:,|\b(?:and|or|then))\s*from\s*$", re.IGNORECASE)
# A change's "from … to …", which such a "from" repeats: "Tc increases from [0 K] to [42 K]
# for one series and from [21 K] to [60 K] in the other" gives two states of each series.
_CHANGE_FROM_TO = re.compile(rf"{_CHANGE_THEN_FROM}\b.*?\bto\b", re.IGNORECASE)
# Where a part of a sentence begins: a change before these is not the one a range follows.
# A "(" left once the asides are gone opens the aside that the range is in.
_PART_START = re.compile(r"[;:(]|\b(?:while|whereas|but|which|where)\b", re.IGNORECASE)
# Where a clause begins: a part's start or a comma.
_CLAUSE_START = re.compile(rf",|{_PART_START.pattern}", re.IGNORECASE)
# A word a PDF broke at its line's end: "depen- dence".
_LINE_BREAK = re.compile(r"(?<=[a-z])-\s+(?=[a-z])")
# Superconductivity named after what a sentence measured: the value that follows is where
# it sets in ("resistivity data show that MgB2 superconducts above [35 K]"), no limit.
# A junction's name says nothing of where a Tc is: "curves measured in superconductor-
# insulator-superconductor (SIS) junctions between [14 K] and 290 K".
_SUPERCONDUCTS = re.compile(r"(?<![-‐])\bsupercond\w*\b(?![-‐])|\btransitions?\b", re.I)
# An aside in parentheses: "(T c ≈ 31 K)" in "measurements on B0.63K0.37BiO3 (T c ≈ 31
# K) down to [0.4 K]" names no Tc of the clause; "(y = 1.0)" or the "(1−x)" of a formula
# opens no clause, so the change before it is still the one a "from" follows.
_ASIDE = re.compile(r"\([^()]*\)")


@dataclass(frozen=True)
class Link:
    """A value mention, the material it refers to, and how sure the rule is."""

    value: Mention
    material: Mention
    confidence: float
    rule: str


@dataclass(frozen=True)
class Unnamed:
    """A formula-like word of a sentence that the tagger did not tag (``"H3S"``).

    Attributes:
        section: Index of the section in the paper.
        sentence: Index of the sentence in its section.
        start: First character, as an offset into the sentence.
        end: End character (exclusive), as an offset into the sentence.
        text: The word without whitespace (``"MgB 2"``: ``"MgB2"``).
    """

    section: int
    sentence: int
    start: int
    end: int
    text: str


def link_values(
    mentions: Sequence[Mention], sentences: Mapping[tuple[int, int], str] | None = None
) -> list[Link]:
    """Link every value mention to a material mention by the rules above.

    Args:
        mentions: One paper's mentions (any order).
        sentences: Text of each sentence by ``(section, sentence)``; the "respectively"
            and right-after rules, the untagged formulas that stop the other rules and the
            values that state a change (:func:`states_change`), another transition's
            (:func:`names_other_transition`) or a measurement's limit
            (:func:`states_limit`) need it, and are skipped without it.

    Returns:
        One link per value mention that has a material to link to, in reading order.
    """
    texts = sentences or {}
    ordered = sorted(mentions, key=lambda m: m.key)
    materials = [m for m in ordered if m.label == "material"]
    values = [m for m in ordered if m.label in VALUE_PROPERTIES and _is_reading(m, texts)]
    unnamed = unnamed_formulas(ordered, texts)
    paired, listed = _respectively(materials, values, texts, unnamed)
    samples = [m for m in materials if not _holds_or_adds(m, texts.get(_sentence(m)))]
    by_sentence: dict[tuple[int, int], list[Mention]] = defaultdict(list)
    for mention in ordered:
        by_sentence[_sentence(mention)].append(mention)
    links = []
    for value in values:
        text = texts.get(_sentence(value))
        if value.key in listed:
            # a value the "respectively" rule paired with an untagged formula stays unlinked
            link = paired.get(value.key)
        else:
            here = by_sentence[_sentence(value)]
            link = _element_link(value, here, unnamed, text) or _link(value, samples, unnamed, text)
        if link is not None:
            links.append(link)
    return _without_shared(links, values, texts, paired, _names(materials, unnamed))


def _element_link(
    value: Mention,
    here: Sequence[Mention],
    unnamed: Mapping[tuple[int, int], Sequence[Unnamed]],
    text: str | None,
) -> Link | None:
    """The link of ``value`` to an untagged element of its sentence that owns it, if any.

    ``here`` are the mentions of the value's sentence (:func:`_element_owner`).
    """
    if text is None:
        return None
    elements = named_elements(text, value.section, value.sentence, here)
    between: list[Mention | Unnamed] = [m for m in here if m.label == "material"]
    between += unnamed.get(_sentence(value), ())
    owner = _element_owner(value, text, elements, between)
    return None if owner is None else Link(value, owner, ELEMENT_NAMED, "element-named")


def link_conditions(
    value: Mention,
    mentions: Sequence[Mention],
    label: str,
    sentences: Mapping[tuple[int, int], str] | None = None,
) -> Mention | None:
    """The ``label`` mention (e.g. ``pressure``) that ``value`` was read at, if any.

    Without the sentence's text, the one nearest to ``value`` in its sentence. With it:

    * A number stated as another property's value ("a bulk modulus of [160 GPa]", "a
      Vickers hardness of 12 GPa", "a tensile strength of 1 GPa") is no condition
      (:func:`states_other_property`); a stress applied to the sample is ("under a
      uniaxial stress of [0.7 GPa]").
    * "ambient", "atmospheric" or "normal pressure", tagged or not, is a condition: the
      value it is nearest to is read at ambient pressure, with no ``label`` mention. So
      is "at AP" or "under AP" (capitals), its abbreviation: "[6.3 K] at AP".
    * In a sentence that says "respectively" and lists together as many conditions as
      it has values of the property (two or more), the i-th value takes the i-th
      ("[39 K] and [37 K] at [0] and [1 GPa], respectively"); the rules below are not
      asked.
    * A condition right after a value, with no number, comma or conjunction between them
      ("[133 K] at ambient pressure", "[164 K] under [30 GPa]"), is that value's.
    * The state before a change (:func:`follows_change`: "Tc increases from [1.0 K] to
      [3.0 K] at [2 GPa]", "[8.2 K], raised from [6.3 K]") has no other: the change's
      conditions are those it leads to.
    * A condition that is another value's is not this one's: one right after another
      value, or one after the sentence's first value in a clause (between commas,
      semicolons, "while", "but" ...) that holds another value and not this one
      ("[133 K], rising to [164 K] under [30 GPa]"; "[8 K], and under [2 GPa] it reaches
      [37 K]"), and one in a clause of no value after a value, which introduces the
      next value ("[8 K]; at [1.5 GPa], the Tc is [21 K]", "[8 K], but under [1.5 GPa],
      it reaches [21 K]"), unless that value has a condition right after it or the
      clause opens with a past participle ("[8 K], measured at [1.5 GPa], and ...").
      Values listed together ("[8 K], [10 K] and [12 K] at [1 GPa]") share their
      conditions; a condition before every value ("The Tc at [2 GPa] is [3.3 K] for Cs,
      [6.3 K] for Rb") or in a clause of no value with no value after it ("Under [8.9
      GPa], FeSe has a Tc of [30 K]"; "[8 K], measured at [1.5 GPa].") may be any
      value's.
    * Of the rest, the nearest to the value (fewest characters between them).

    Args:
        value: The value mention.
        mentions: The paper's mentions, of any label.
        label: The condition's label.
        sentences: Text of each sentence by ``(section, sentence)``.

    Returns:
        The condition's mention, or ``None`` where the value has none or is read at
        ambient pressure stated untagged.
    """
    here = _sentence(value)
    same = [m for m in mentions if m.label == label and _sentence(m) == here]
    text = (sentences or {}).get(here)
    if text is None:
        return min(same, key=lambda m: abs(m.start - value.start)) if same else None
    stated: list[Mention | _Place] = [
        m for m in same if not states_other_property(_before_number(text, m))
    ]
    for match in _AMBIENT_PRESSURE.finditer(text):
        if not any(m.start < match.end() and match.start() < m.end for m in same):
            stated.append(_Place(match.start(), match.end()))
    if not stated:
        return None
    values = sorted(
        (m for m in mentions if m.label == value.label and _sentence(m) == here),
        key=lambda m: m.start,
    )
    respective = _respective(value, values, stated, text)
    if respective is not None:
        return respective if isinstance(respective, Mention) else None
    listed = _listed_with(value, values, text)
    others = [v for v in values if all(v.key != x.key for x in listed)]
    after = [c for c in stated if _follows(text, value, c)]
    if not after and follows_change(_before_number(text, value)):
        return None  # "Tc increases from [1.0 K] to [3.0 K] at [2 GPa]": the state before
    free = after or [c for c in stated if not _claimed(c, listed, others, stated, text)]
    own = min(free, key=lambda c: _gap(value, c)) if free else None
    return own if isinstance(own, Mention) else None


def applied_fields(sentences: Mapping[tuple[int, int], str]) -> list[Mention]:
    """The magnetic fields that values may have been read in, as ``field`` mentions.

    SuperMat tags no field, so they are found in the text (:data:`_APPLIED_FIELD`), each
    mention spanning its words and number: "[in an externally applied magnetic field of
    14 T] at 10.2 K", "15 K [at 9 T]". A field that is a property's value is none ("an
    upper critical field of 61 T", "the paramagnetic limit of µ o H = 4 T"), nor is a
    measurement's reach ("in fields up to 6 T"). Each mention's ``normalized`` holds
    ``value``, the field in T (μ0H for a field in Oe).

    Args:
        sentences: Text of each sentence by ``(section, sentence)``.
    """
    found = []
    for (section, sentence), text in sentences.items():
        for applied in _APPLIED_FIELD.finditer(text):
            field = _FIELD_VALUE.match(text, applied.end())
            if field is None or _FIELD_PROPERTY.search(text, 0, applied.start()):
                continue
            start = applied.start()
            while field is not None:  # and those listed after it: "at [1 T] and [5 T]"
                tesla = float(f"{float(field['number']) * _TESLA[field['unit']]:.12g}")
                reading = {"value": tesla, "unit": "T"}
                end = field.end()
                found.append(
                    Mention("field", text[start:end], section, sentence, start, end, 1.0, reading)
                )
                more = _FIELD_LISTED.match(text, end)
                field = _FIELD_VALUE.match(text, more.end()) if more else None
                start = field.start("number") if field else end
    return found


def link_field(
    value: Mention,
    mentions: Sequence[Mention],
    sentences: Mapping[tuple[int, int], str] | None = None,
) -> Mention | None:
    """The applied magnetic field (a ``field`` mention: :func:`applied_fields`) of ``value``.

    Stricter than a pressure (:func:`link_conditions`), since a field elsewhere in a
    sentence is most often the one a magnetisation was measured in or a property's: the
    i-th of a "respectively" list of as many fields as values; else one right after the
    value or the values listed with it ("[15 K] at [9 T]", "[4 K] even under a high
    magnetic field of ∼7 T"); else one right before them, with no number, comma or
    conjunction between ("in an externally applied magnetic field of [14 T] at [10.2
    K], [14.8 K], and [18.5 K]"). None otherwise.

    Args:
        value: The value mention.
        mentions: The paper's mentions, ``field`` mentions among them.
        sentences: Text of each sentence by ``(section, sentence)``.
    """
    here = _sentence(value)
    text = (sentences or {}).get(here)
    fields: list[Mention | _Place] = [
        m for m in mentions if m.label == "field" and _sentence(m) == here
    ]
    if text is None or not fields:
        return None
    values = sorted(
        (m for m in mentions if m.label == value.label and _sentence(m) == here),
        key=lambda m: m.start,
    )
    own = _respective(value, values, fields, text)
    if own is None:
        listed = _listed_with(value, values, text)
        first, last = listed[0], listed[-1]
        after = (f for f in fields if _follows(text, last, f))
        before = (f for f in fields if f.end <= first.start and _bound(text[f.end : first.start]))
        own = next(after, None) or next(before, None)
    return own if isinstance(own, Mention) else None


def states_other_property(before: str) -> bool:
    """Whether the words before a number state it as another property's value.

    "a bulk modulus of", "the shear modulus G =", "a Vickers hardness (HV) of about", "a
    tensile strength of", "a yield stress of": a number in GPa after them is that
    property's value, not a pressure a value was read at. A stress or strength that is
    no mechanical property ("under a uniaxial stress of", "a stress of", "the coupling
    strength is") states none.

    Args:
        before: The sentence's text before the number.
    """
    return _OTHER_PROPERTY.search(before) is not None


def formula_like(word: str) -> bool:
    """Whether ``word`` reads as a formula: the words a missed material would be.

    Two or more element symbols, all real elements, with an amount or a two-letter
    symbol among them: ``"H3S"``, ``"NbN"``, ``"MoGe"``, ``"V3Si"``, ``"La2-xSrxCuO4"``.
    Not a unit (``"GPa"``, ``"K"``), a label (``"Tc"``), one element (``"In"``,
    ``"Nb"``) or an acronym of one-letter symbols (``"BCS"``, ``"FC"``, ``"II"``).
    """
    if PATTERNS["material"].fullmatch(word) is None:
        return False
    parts = _PART.findall(word)
    if not all(symbol in _ELEMENTS for symbol, _ in parts):
        return False
    return any(amount or len(symbol) == 2 for symbol, amount in parts)


def unnamed_formulas(
    mentions: Sequence[Mention], sentences: Mapping[tuple[int, int], str]
) -> dict[tuple[int, int], list[Unnamed]]:
    """The formula-like words (:func:`formula_like`) no mention covers, by sentence.

    A last amount that PDF extraction set apart is the word's ("MgB 2": ``"MgB2"``). Not
    a part, holder or addition ("CuO2 planes", "SrTiO3 substrates", "BaZrO3 nanorods")
    nor a word right after on, onto, with, without, from or over ("grown on MgO", "with
    5 wt% SiC", "made from MgH2"): a substrate, additive or source.

    Args:
        mentions: One paper's mentions, of any label.
        sentences: Text of each sentence by ``(section, sentence)``.
    """
    covered: dict[tuple[int, int], list[Mention]] = defaultdict(list)
    for mention in mentions:
        covered[_sentence(mention)].append(mention)
    found: dict[tuple[int, int], list[Unnamed]] = {}
    for (section, sentence), text in sentences.items():
        words = []
        for match in PATTERNS["material"].finditer(text):
            tail = _SPACED_AMOUNT.match(text, match.end())
            end = tail.end() if tail else match.end()
            if (
                formula_like(match.group())
                and not _PART_OF.match(text, end)
                and not _BESIDE.search(text, 0, match.start())
                and not any(
                    m.start < end and match.start() < m.end for m in covered[section, sentence]
                )
            ):
                written = _compact(text[match.start() : end])
                words.append(Unnamed(section, sentence, match.start(), end, written))
        if words:
            found[section, sentence] = words
    return found


def states_change(before: str) -> bool:
    """Whether the words before a value say it is a change of the property.

    "The overall change in Tc is only [0.3 K]", "Tc rises by [2 K]", "a transition width
    of [0.5 K]", "ΔTc = [1 K]": a difference, shift, width or broadening, not the
    property's value. "Tc shifts to [30 K]" and "Tc increases from [30 K]" are values,
    and so is a rise or fall not tied to the property: "the onset of the resistance drop
    is [39 K]" is where Tc is. A span (difference, width, broadening, spread, hysteresis,
    shift) is of temperatures whether or not it names the property ("a broadening of
    [0.5 K]").

    Args:
        before: The sentence's text before the value's number.
    """
    # a difference of Tc's defines the change, whatever commas it holds ("Tc,onset")
    clause = re.split(_CLAUSE, _TC_DIFFERENCE.sub(" ", before))[-1]
    if _BY.search(clause) and _CHANGE_VERB.search(clause):
        return True
    for match in _CHANGE.finditer(clause):
        rest = clause[match.end() :]
        if _AT.search(rest) or any(
            not _NOT_DIRECTION.search(rest[: word.start()]) for word in _DIRECTION.finditer(rest)
        ):
            continue  # "an increase in Tc to [40 K]", "Tc drop at [39 K]"
        tied = match.group("before") or match.group("after") or match.group("delta")
        spanned = match.group("span") or match.group("span_symbol")
        if (tied or spanned) and _LINKED.match(rest):
            return True
        if tied and _describes(rest):
            return True
    return False


@dataclass(frozen=True)
class _Place:
    """Where an untagged condition stands in its sentence ("ambient pressure")."""

    start: int
    end: int


def _follows(text: str, value: Mention, condition: Mention | _Place) -> bool:
    """Whether ``condition`` comes right after ``value``: "[39 K] at [2 GPa]"."""
    return condition.start >= value.end and _bound(text[value.end : condition.start])


def _bound(between: str) -> bool:
    """Whether the words ``between`` a value and a condition tie them (:data:`_BOUND`)."""
    return _BOUND.fullmatch(between) is not None and len(between.split()) <= _BOUND_WORDS


def _listed_with(value: Mention, values: Sequence[Mention], text: str) -> list[Mention]:
    """``value`` and the values listed with it: "[8 K], [14 K] and [20 K] at 2 GPa"."""
    index = next(i for i, v in enumerate(values) if v.key == value.key)
    first = last = index
    while first > 0 and _LISTED.fullmatch(text[values[first - 1].end : values[first].start]):
        first -= 1
    while last + 1 < len(values) and _LISTED.fullmatch(
        text[values[last].end : values[last + 1].start]
    ):
        last += 1
    return list(values[first : last + 1])


def _claimed(
    condition: Mention | _Place,
    listed: Sequence[Mention],
    others: Sequence[Mention],
    conditions: Sequence[Mention | _Place],
    text: str,
) -> bool:
    """Whether ``condition`` is another value's, not one of the ``listed`` values'.

    ``conditions`` are all the sentence's conditions, ``condition`` among them.
    """
    if any(_follows(text, other, condition) for other in others):
        return True
    values = sorted((*listed, *others), key=lambda v: v.start)
    if all(condition.start < v.start for v in values):
        return False  # the sentence's opening: "The Tc at [2 GPa] is [3 K] for Cs, [6 K] ..."
    clause = _clause_of(text, condition.start)
    if not any(_clause_of(text, v.start) == clause for v in values):
        introduced = _introduced(condition, values, conditions, text)
        if introduced is not None:  # "[8 K]; at [1.5 GPa], the Tc is [21 K]"
            return all(introduced.key != v.key for v in listed)
    return any(_clause_of(text, v.start) == clause for v in others) and not any(
        _clause_of(text, v.start) == clause for v in listed
    )


def _introduced(
    condition: Mention | _Place,
    values: Sequence[Mention],
    conditions: Sequence[Mention | _Place],
    text: str,
) -> Mention | None:
    """The value that a clause of no value, after a value, introduces with its condition.

    "[8 K]; at [1.5 GPa], the Tc is [21 K]", "[8 K], but under [1.5 GPa], it reaches [21
    K]": the next value in the sentence. None where there is none, where that value has a
    condition right after it of its own ("[8 K], at [1.5 GPa], and [21 K] at [3 GPa]"),
    or where the clause opens with a past participle, which describes the value before it
    ("[8 K], measured at [1.5 GPa], and [14 K] ...").
    """
    following = [v for v in values if v.start >= condition.end]
    if not following:
        return None
    introduced = following[0]
    if any(c is not condition and _follows(text, introduced, c) for c in conditions):
        return None
    opening = max((m.end() for m in _CLAUSE.finditer(text, 0, condition.start)), default=0)
    if _DESCRIBES_BEFORE.match(text, opening, condition.start):
        return None
    return introduced


def _respective(
    value: Mention,
    values: Sequence[Mention],
    conditions: Sequence[Mention | _Place],
    text: str,
) -> Mention | _Place | None:
    """The condition of ``value`` by "respectively": the i-th listed, for the i-th value.

    Only where the sentence says "respectively" and lists together (:data:`_LISTED`: "at
    [0] and [1 GPa]", "at ambient pressure and [2 GPa]") as many conditions as it has
    values of the property, at least two: "MgB2 shows Tc of [39 K] and [37 K] at [0] and
    [1 GPa], respectively". A value that states a change or another transition's is not
    counted (:func:`link_values`). ``None`` where the rule does not apply.
    """
    if not _RESPECTIVELY.search(text):
        return None
    place = {_sentence(value): text}
    counted = [v for v in values if _is_reading(v, place)]
    if len(counted) < 2 or all(v.key != value.key for v in counted):
        return None
    lists: list[list[Mention | _Place]] = []
    for condition in sorted(conditions, key=lambda c: c.start):
        last = lists[-1][-1] if lists else None
        if last is not None and _LISTED.fullmatch(text[last.end : condition.start]):
            lists[-1].append(condition)
        else:
            lists.append([condition])
    fitting = [x for x in lists if len(x) == len(counted)]
    if len(fitting) != 1:
        return None
    return next(c for v, c in zip(counted, fitting[0], strict=True) if v.key == value.key)


def _clause_of(text: str, position: int) -> int:
    """The number of the clause that ``position`` is in (clause ends: :data:`_CLAUSE`)."""
    return sum(1 for _ in _CLAUSE.finditer(text, 0, position))


def _gap(value: Mention, condition: Mention | _Place) -> int:
    return max(condition.start - value.end, value.start - condition.end, 0)


def _describes(rest: str) -> bool:
    """Whether the words between a change of the property and a value tie them."""
    return not (
        len(rest.split()) > _CHANGE_WORDS
        or _STATES_LEVEL.search(rest)
        or _OTHER_VALUE.search(rest)
        or _TC.search(rest)
    )


def names_other_transition(before: str) -> bool:
    """Whether the words right before a value give it another transition's symbol or name.

    "T CDW = [32 K]", "T_N ≈ [32 K]", "T* ~ [150 K]", "T s of [130 K]", "T 0 = [30 K]": the
    temperature of a charge- or spin-density wave, a Néel, structural, pseudogap or other
    transition, or another characteristic temperature, not Tc ("T c", "T C", "T c0", "T
    onset" are Tc's). So is a value that such a transition's name introduces, whatever
    symbol follows it: "ferromagnetic Curie temperature TC = [131 K]", "a CDW transition
    at [94 K]", "the magnetic ordering temperature of [42 K]" (not "the superconducting
    and magnetic transition temperatures of [30 K]").

    Args:
        before: The sentence's text before the value's number.
    """
    if _OTHER_TRANSITION.search(before) is not None:
        return True
    named = _OTHER_NAMED.search(before)
    return named is not None and _BOTH_NAMED.search(before, 0, named.start()) is None


def _before_number(text: str, mention: Mention) -> str:
    """The sentence's text before the mention's number (its mention's words included)."""
    digit = re.search(r"\d", mention.text)
    lead = mention.text[: digit.start()] if digit else ""
    return text[: mention.start] + lead


def states_limit(before: str) -> bool:
    """Whether the words right before a value give it as how far a measurement went.

    "The resistivity was measured down to [0.4 K]", "Bi2Se3 remains metallic down to [0.4
    K]", "at temperatures as low as [50 mK]", "samples were cooled to [2 K]",
    "measurements above [2 K]": the lowest temperature looked at, which is no Tc. So is
    where a measurement was taken, "at" a value after a measured quantity or a word of
    measuring with nothing in the clause that shows a transition ("the resistivity of
    FeSe at [300 K]", "the upper critical field at [2 K]", "measured at [5 K]"; not "the
    resistivity drops to zero at [8 K]", "a jump in the specific heat at [8 K]"). Not
    where a search for superconductivity found none ("no superconductivity was observed
    down to [0.4 K]": an upper bound of the Tc, as
    :func:`~literature.normalize.searched_without_finding` reads it), nor where the Tc is
    named in the clause ("Tc is suppressed down to [5 K]", "Tc as low as [2 K]"; an aside
    in parentheses does not count), nor where a verb carries the property there with no
    word of measuring in the clause ("superconductivity is suppressed down to [5 K]",
    "reaching down to [5 K]"; but "decreasing the temperature down to [2 K]" is a limit).
    "Above" is a limit only after a word of measuring ("measured", "data"): "superconducts
    above [30 K]" says where the Tc is. So are either end of a range, "between" or "from"
    ("in a temperature range between [14 K] and [290 K]", "C(T) was measured between [0.6
    K] and"), after a word of measuring or a range of temperatures, and "up to" after one
    of those or of a measured behaviour ("T 2 dependence in the resistivity up to [240
    K]", "a linear fit up to"): "Tc between 36 and 38 K", "Tc up to 40 K" and
    "superconducting up to 30 K" are Tc's, as is a value after superconductivity named
    past the last word of measuring ("resistivity data show that MgB2 superconducts above
    [35 K]"; but "the superconducting sample was measured between [2 K] and" is a limit).
    A Tc named before a value of its own ("crystals
    with Tc = 87 K in a temperature range between") is that value's, not this one's. A
    word a PDF broke at its line's end ("depen- dence") is read whole.

    Args:
        before: The sentence's text before the value's number.
    """
    reached = _REACHED.search(before)
    if reached is None or searched_without_finding(before):
        return False
    clauses = re.split(_CLAUSE, _ASIDE.sub(" ", before[: reached.start()]))
    # an apposition reads its clause's subject: "a reduced Tc, as low as [2 K]"
    clause = _LINE_BREAK.sub("", next((c for c in reversed(clauses) if c.strip()), ""))
    named = [m.end() for m in _NAMES_TC.finditer(clause)]
    # a Tc with its own value before this one is that value's: "crystals with Tc = 87 K
    # in a temperature range between [14 K] and [290 K]"
    if named and not _OTHER_VALUE.search(clause, named[-1]):
        return False
    looked = [m.end() for m in _SEARCHED.finditer(clause)]
    if _SUPERCONDUCTS.search(clause, looked[-1] if looked else 0):
        return False  # what was looked at is the Tc: "data show MgB2 superconducts above"
    if reached["above"]:
        return _MEASURED.search(clause) is not None
    if reached["at"]:
        return _MEASURED_AT.search(clause) is not None and not _SHOWS_TRANSITION.search(clause)
    if reached["range"] or reached["up"]:
        return (_RANGED if reached["range"] else _HELD).search(clause) is not None
    return _SEARCHED.search(clause) is not None or _CARRIES.search(clause) is None


def follows_change(before: str) -> bool:
    """Whether the "from" that ends ``before`` gives a change's two states, not a range.

    It does when a change word comes just before it in its clause ("Tc increases from"),
    or when it repeats an earlier change's "from … to …" in its part of the sentence
    ("increases from 0 K to 42 K for one series and from"). Asides in parentheses are
    read past: "increases from 0 K (y = 0) to 42 K (y = 1.0) … and from" is one part.
    The value after such a "from" is the state before the change: no range's end
    (:func:`~literature.pipeline.join_ranges`), and not read at the condition the change
    leads to (:func:`link_conditions`).

    Args:
        before: The sentence's text before the value's number.
    """
    bare = _without_asides(before)
    clause = re.split(_CLAUSE_START, bare)[-1]
    return bool(_CHANGES_FROM.search(clause)) or _repeats_change(re.split(_PART_START, bare)[-1])


def names_change(before: str) -> bool:
    """Whether a change verb comes before a value in its clause ("pressure raises Tc [8 K]").

    Args:
        before: The sentence's text before the value's number.
    """
    return _CHANGE_VERB.search(re.split(_CLAUSE_START, _without_asides(before))[-1]) is not None


def _repeats_change(part: str) -> bool:
    """Whether the "from" that ends ``part`` repeats a change's "from … to …" in it.

    A list of them runs over commas: "rises from 8 K to 9 K in films, from 21 K to 60 K
    in bulk and from". A "from" after a verb of its own ("and ranges from") repeats none.
    """
    ending = _AND_FROM.search(part)
    return ending is not None and _CHANGE_FROM_TO.search(part, 0, ending.start()) is not None


def _without_asides(text: str) -> str:
    """``text`` less each closed parenthesised aside, nested ones too ("Ba(1−x)" is "Ba")."""
    while (bare := _ASIDE.sub("", text)) != text:
        text = bare
    return text


def _is_reading(value: Mention, sentences: Mapping[tuple[int, int], str]) -> bool:
    """Whether a value states the property: no change, other transition's or limit.

    Nor a temperature stated against Tc (:func:`states_against_tc`), nor one the paper
    doubts (:func:`doubted`).
    """
    text = sentences.get(_sentence(value))
    if text is None:
        return True
    before, after = _before_number(text, value), text[value.end :]
    return not (
        states_change(before)
        or names_other_transition(before)
        or states_limit(before)
        or states_against_tc(before, after)
        or doubted(before, after)
    )


def states_against_tc(before: str, after: str) -> bool:
    """Whether the words right after a value state it as a temperature against Tc.

    "at [25 K] (seven times Tc!)", "[40 K], just above Tc", "[2 K] (0.05 T c )", "[300 K]
    ≫ Tc": a temperature something was looked at, no Tc (a bound, "[16 K] > T c", is one).
    Not where the words before state the value as a Tc ("Tc = [39 K], above Tc of Nb3Sn"
    compares two Tc's), nor where the Tc after it is another's or has its criterion
    ("above the Tc of Nb", "above T c,onset").

    Args:
        before: The sentence's text before the value's number.
        after: The sentence's text after the value mention.
    """
    return _AGAINST_TC.match(after) is not None and _STATED_AS_TC.search(before) is None


def doubted(before: str, after: str) -> bool:
    """Whether the words around a value say the paper doubts it.

    "Although reported T c ~ [115 K] is doubtful", "a dubious report of superconductivity
    at [115 K]", "[30 K], which was not reproduced": no Tc the paper gives any material.

    Args:
        before: The sentence's text before the value's number.
        after: The sentence's text after the value mention.
    """
    return _DOUBTED_AFTER.match(after) is not None or _DOUBTED_BEFORE.search(before) is not None


def named_elements(
    text: str, section: int, sentence: int, covered: Sequence[Mention]
) -> list[Mention]:
    """The elements a sentence names in words no mention covers, as material mentions.

    A symbol, written with its case ("W", "Nb"), or a name read by pymatgen's element
    names ("Tantalum", "in- dium"): :func:`~literature.normalize.element_symbol`. Not a
    word after an amount or a number ("5% Co", "40 K"), "Tc", nor a one-letter symbol
    that labels a sample or a panel ("sample B", "films A and B"). Each mention's
    ``normalized`` gives the element as its ``formula`` and ``elements``.

    Args:
        text: The sentence's text.
        section: Index of the section in the paper.
        sentence: Index of the sentence in its section.
        covered: The sentence's mentions, of any label.
    """
    found = []
    for match in _WORD.finditer(text):
        word, start, end = match.group(), match.start(), match.end()
        symbol = element_symbol(word)
        if (
            symbol is None
            or word in _NOT_ELEMENTS
            or _AMOUNT_BEFORE.search(text, 0, start)
            or (len(word) == 1 and _LABEL_BEFORE.search(text, 0, start))
            or any(m.start < end and start < m.end for m in covered)
        ):
            continue
        name = re.sub(r"-\s+", "", word)
        fields = {"name": name, "is_class": False, "formula": symbol, "elements": [symbol]}
        found.append(Mention("material", word, section, sentence, start, end, 1.0, fields))
    return found


def _element_owner(
    value: Mention,
    text: str,
    elements: Sequence[Mention],
    between: Sequence[Mention | Unnamed],
) -> Mention | None:
    """The untagged element of ``value``'s sentence whose value it is, if any.

    The nearest before the value that owns it (:func:`_owns`), with no tagged material or
    untagged formula (``between``: the sentence's) between them.
    """
    for element in reversed([e for e in elements if e.end <= value.start]):  # nearest first
        if any(element.end <= m.start and m.end <= value.start for m in between):
            return None
        if _owns(element, value, text):
            return element
    return None


def _owns(element: Mention, value: Mention, text: str) -> bool:
    """Whether the words from an untagged element to a value make the value the element's.

    Its own value, "(Nb: [9.2 K])"; an aside opened right after it, "W (Tc = [0.012 K])"
    (:func:`_in_aside`); a Tc named with it, "T c (Al) ≈ [1.69 K]", "the Tc of the Nb leads
    is [9 K]", "the transition temperature of a Zn plate, T c = [0.875 K]"; or the
    subject of its clause, "Tantalum exhibits a slight negative α below T c = [4.4 K]"
    (:func:`_subject_of`). Not a dopant, additive or substrate ("doped with Zn (Tc =
    [20 K])"). A one-letter symbol, so often a label or a physical quantity's ("T c (H)",
    "B = 5 T"), only in an aside that names the Tc; a symbol that is a temperature's
    ("Tm = 39 K", "Ts") owns no value after "=" or ":".
    """
    word, before = element.text, text[: element.start]
    between = text[element.end : value.start]
    if _ADDED_BEFORE.search(before):
        return False
    if _in_aside(word, between):
        return True
    if len(word) == 1:
        return False
    if _OWN_VALUE_OF.fullmatch(between):
        return not word.startswith("T")  # "Tm = 39 K" is a melting temperature, no thulium
    tc = _TC_WITH_ELEMENT.search(before)
    if tc is not None:
        return (_IN_TC_PARENS if tc["paren"] else _AFTER_TC_OF).fullmatch(between) is not None
    return word not in _WORD_SYMBOLS and _subject_of(before, between)


def _in_aside(word: str, between: str) -> bool:
    """Whether a value lies in an aside opened right after an element ``word``.

    "W (Tc = [0.012 K])", "In [T c (0) = [3.4 K]]", "tungsten 24 (ξ 0 = 32 µm, T c = [15.4
    mK])": a reference number may stand before the aside of a name, never of a symbol
    ("Sn 3 (" is a formula). Not an aside that gives a doping ("Zn (x = 0.02, Tc = 20 K)"),
    nor, after a one-letter symbol, one that names no Tc.
    """
    opened = _ASIDE_OPENS.match(between)
    if opened is None or (opened["reference"] and element_symbol(word) == word):
        return False
    inside = between[opened.end() :]
    depth = 1
    for char in inside:
        depth += (char in "([") - (char in ")]")
        if depth == 0:
            return False  # the aside closed before the value
    if _DOPING.search(inside):
        return False
    return len(word) > 1 or _NAMES_TC.search(inside) is not None


def _subject_of(before: str, between: str) -> bool:
    """Whether an element that opens its clause is the subject that has the value.

    It opens the sentence or a part after ";" (an article or "pure" may come first),
    a verb of having, showing or being follows it, the words up to the value name the
    Tc or superconductivity, and none of them changes, substitutes or adds, or opens
    another clause: "Tantalum exhibits a slight negative α below T c = [4.4 K]"; not
    "Carbon is known to reduce Tc to [37 K]".
    """
    return (
        _OPENS.search(before) is not None
        and _SUBJECT_VERB.match(between) is not None
        and (_NAMES_TC.search(between) or _SUPERCONDUCTIVITY.search(between)) is not None
        and _SUBJECT_ENDS.search(between) is None
    )


def _holds_or_adds(material: Mention, text: str | None) -> bool:
    """Whether a tagged material is a substrate, holder, part or addition, not the sample.

    "sputtering on [LaAlO3]", "doped with [SiC]", "with 5 wt% [SiC]", "[SrTiO3] substrates",
    "in [Fe] sheaths", "the [CuO2] planes" (:data:`_LAID_ON_OR_ADDED`, :data:`_PART_OF`,
    :data:`_HOLDER`): a value the nearest-material rules would give it is the sample's
    ("Tc is 86-92 K, depending on the substrate"). Before the material, only a compound:
    "with 5% [Co]" names the sample's doping.
    """
    if text is None:
        return False
    after = text[material.end :]
    if _PART_OF.match(after) or _HOLDER.match(after):
        return True
    compound = len(material.normalized.get("elements", ())) > 1 or formula_like(
        _compact(material.text)
    )
    return compound and _LAID_ON_OR_ADDED.search(text, 0, material.start) is not None


def _link(
    value: Mention,
    materials: Sequence[Mention],
    unnamed: Mapping[tuple[int, int], Sequence[Unnamed]],
    text: str | None,
) -> Link | None:
    here = _sentence(value)
    same = [m for m in materials if _sentence(m) == here]
    words = unnamed.get(here, ())
    if text is not None:
        named = _right_after(value, same, text)
        if named is not None:
            return Link(value, named, RIGHT_AFTER, "right-after")
    before = [m for m in same if m.end <= value.start]
    # a doping the tagger missed is its own material, unless it sets the open amounts of
    # the formula before ("La2-xSrxCuO4 crystals with Tc = 38 K for x = 0.15")
    nearest = before[-1] if before else None
    templated = (
        nearest is not None
        and bool(nearest.normalized.get("unresolved") or nearest.normalized.get("variables"))
        and _DOPING.match(nearest.text) is None  # "x ∼ 0.15" is a doping, not its formula
    )
    if text is not None and not templated and _missed_right_after(value, words, text):
        return None
    if before:
        if _stopped(before[-1], value, unnamed):
            return None
        return Link(value, before[-1], SAME_SENTENCE_BEFORE, "same-sentence-before")
    after = [m for m in same if m.start >= value.end]
    if after:
        # an untagged formula before the value is the nearest material before it
        if any(w.end <= value.start and w.text != _compact(after[0].text) for w in words):
            return None
        if _stopped(value, after[0], unnamed):
            return None
        return Link(value, after[0], SAME_SENTENCE_AFTER, "same-sentence-after")
    section, sentence = here
    earlier = [
        m
        for m in materials
        if m.section == section and sentence - LOOKBACK_SENTENCES <= m.sentence < sentence
    ]
    if earlier:
        if _stopped(earlier[-1], value, unnamed):
            return None
        return Link(value, earlier[-1], EARLIER_SENTENCE, "earlier-sentence")
    return None


def _right_after(value: Mention, same: Sequence[Mention], text: str) -> Mention | None:
    """The material of ``value``'s sentence named right after it (:data:`_RIGHT_AFTER`).

    "Tc rises from [40 K] for [x ∼ 0.15] to [70 K] for [x ∼ 0.40]": each value is the
    material's that follows it, not the nearest one before it.
    """
    named = next(
        (
            m
            for m in same
            if m.start >= value.end and _RIGHT_AFTER.fullmatch(text, value.end, m.start)
        ),
        None,
    )
    if named is None or not _names_the_sample(named, text):
        return None
    return named


def _names_the_sample(material: Mention, text: str) -> bool:
    """Whether a material named right after a value is the one measured.

    Not a class ("in the [CeMIn5 family]"), a part or a holder ("in [Fe] sheaths", "at
    the [SrTiO3] interface": :data:`_PART_OF`, :data:`_HOLDER`), nor a material with a
    value of its own ("39 K ([Nb]: 9.2 K)"): the other rules then read the sentence.
    """
    if material.normalized.get("is_class"):
        return False
    after = text[material.end :]
    return not (_PART_OF.match(after) or _HOLDER.match(after) or _OWN_VALUE.match(after))


def _missed_right_after(value: Mention, words: Sequence[Unnamed], text: str) -> bool:
    """Whether a material the tagger missed is named right after ``value``.

    A formula-like word (:func:`unnamed_formulas`) or a value of a doping variable that no
    mention covers ("[70 K] for x ∼ 0.40"): the value is that material's, so no rule may
    give it to another.
    """
    join = _RIGHT_AFTER.match(text, value.end)
    if join is None:
        return False
    return any(w.start == join.end() for w in words) or _DOPING.match(text, join.end()) is not None


def _stopped(
    first: Mention, last: Mention, unnamed: Mapping[tuple[int, int], Sequence[Unnamed]]
) -> bool:
    """Whether an untagged formula other than the material's lies between two mentions.

    ``first`` comes before ``last`` in reading order, in the same section; one of them is
    the material, whose own formula written again untagged ("MgB2 ... the MgB2 films
    have ...") stops nothing.
    """
    material = first if first.label == "material" else last
    start, end = (first.sentence, first.end), (last.sentence, last.start)
    return any(
        start <= (word.sentence, word.start)
        and (word.sentence, word.end) <= end
        and word.text != _compact(material.text)
        for sentence in range(first.sentence, last.sentence + 1)
        for word in unnamed.get((first.section, sentence), ())
    )


def _respectively(
    materials: Sequence[Mention],
    values: Sequence[Mention],
    sentences: Mapping[tuple[int, int], str],
    unnamed: Mapping[tuple[int, int], Sequence[Unnamed]],
) -> tuple[dict[tuple[int, int, int, int, str], Link], set[tuple[int, int, int, int, str]]]:
    """Links of "A and B have Tc of 39 K and 7 K, respectively": i-th value, i-th material.

    Only where the sentence says "respectively" and has as many materials as values of
    one property, at least two. The order of the two lists is free: "39 K and 7 K for A
    and B, respectively" and "39 K in A and 7 K in B, respectively" pair the same way
    (on SuperMat's training papers, requiring the materials first halves the rule's
    reach, 8 values instead of 18, and every one of the 18 is right). Where the tagged
    materials are too few but the untagged formulas make up the count ("CsV3Sb5 and
    [KV3Sb5] ... 2.5 K and 0.93 K, respectively"), the values paired with an untagged
    formula stay unlinked.

    Returns:
        The links by value, and the values the rule paired, linked or not.
    """
    groups: dict[tuple[int, int], list[Mention]] = defaultdict(list)
    for mention in (*materials, *values):
        if _RESPECTIVELY.search(sentences.get(_sentence(mention), "")):
            groups[_sentence(mention)].append(mention)
    links = {}
    listed = set()
    for place, group in groups.items():
        named: list[Mention | Unnamed] = [m for m in group if m.label == "material"]
        every = sorted([*named, *unnamed.get(place, ())], key=lambda m: m.start)
        for label in VALUE_PROPERTIES:
            found = sorted((m for m in group if m.label == label), key=lambda m: m.start)
            if len(found) < 2:
                continue
            listing = next((x for x in (named, every) if len(x) == len(found)), None)
            if listing is None:
                continue
            for value, material in zip(found, listing, strict=True):
                listed.add(value.key)
                if isinstance(material, Mention):
                    links[value.key] = Link(value, material, RESPECTIVELY, "respectively")
    return links, listed


def _without_shared(
    links: Sequence[Link],
    values: Sequence[Mention],
    sentences: Mapping[tuple[int, int], str],
    paired: Mapping[tuple[int, int, int, int, str], Link],
    names: Mapping[tuple[int, int], set[str]],
) -> list[Link]:
    """``links`` less those that give one material two values of a "respectively" list.

    "CsV3Sb5 and KV3Sb5 exhibit Tc values of 2.5 K and 0.93 K, respectively" with one
    material tagged: the fallback rules would give it both values, of which one at most
    is its own, so it gets neither. Only where two materials or more are named (tagged
    or not, ``names``) from the material's sentence to the value's: in "MgB2 shows Tc of
    39 K and 37 K at 0 and 1 GPa, respectively" the list is one material's series, and
    both values are its own.
    """
    listed = Counter(
        (_sentence(v), v.label)
        for v in values
        if _RESPECTIVELY.search(sentences.get(_sentence(v), ""))
    )

    def suspect(link: Link) -> bool:
        value, material = link.value, link.material
        between = set().union(
            *(
                names.get((value.section, j), set())
                for j in range(material.sentence, value.sentence + 1)
            )
        )
        return (
            listed[_sentence(value), value.label] >= 2
            and value.key not in paired
            and not _LIST.search(material.text)
            and len(between) >= 2
        )

    shared = Counter(
        (_sentence(x.value), x.value.label, x.material.key) for x in links if suspect(x)
    )
    return [
        x
        for x in links
        if not suspect(x) or shared[_sentence(x.value), x.value.label, x.material.key] < 2
    ]


def _names(
    materials: Sequence[Mention], unnamed: Mapping[tuple[int, int], Sequence[Unnamed]]
) -> dict[tuple[int, int], set[str]]:
    """The materials each sentence names, tagged or not, each written once."""
    names: dict[tuple[int, int], set[str]] = defaultdict(set)
    for material in materials:
        names[_sentence(material)].add(_compact(material.text))
    for place, words in unnamed.items():
        names[place].update(w.text for w in words)
    return names


def _compact(text: str) -> str:
    return "".join(text.split())


def _sentence(mention: Mention | Unnamed) -> tuple[int, int]:
    return (mention.section, mention.sentence)
