"""The labelled search queries of ``bench/search_quality.py``, built from the catalogue.

Each query comes with a judgement spec read only from the catalogue's own fields: the
product type, the colour group, and words in the name or description (regular
expressions written here, by hand, independently of the search vocabulary's data file).
An item is relevant when it has the type, the colour group (or not, for a negated
colour), and every required word and none of the excluded ones.

The shopper wording (English, Chinese, mixed) is written here too; it overlaps with the
vocabulary's forms by nature (a shopper says "hoops", "珍珠"), but is not read from it.

    python bench/search_queries.py > bench/search_queries.json   # regenerate (deterministic)
"""
from __future__ import annotations

import json
import random
import sys

TYPES = {
    # canonical: (product types, English forms, Chinese forms)
    "earring": (["Earring", "Earrings"], ["earrings", "earring"], ["耳环", "耳饰"]),
    "necklace": (["Necklace"], ["necklace", "necklaces"], ["项链"]),
    "ring": (["Ring"], ["rings", "ring"], ["戒指"]),
    "bracelet": (["Bracelet"], ["bracelet", "bracelets"], ["手链", "手环"]),
}
COLOURS = {
    "gold": (["Gold"], ["gold", "golden", "gold-coloured"], ["金色", "金色的"]),
    "silver": (["Silver"], ["silver", "silver-coloured"], ["银色", "银色的"]),
    "black": (["Black"], ["black"], ["黑色", "黑色的"]),
    "white": (["White", "Off White"], ["white"], ["白色", "白色的"]),
    "pink": (["Pink", "Light Pink", "Dark Pink", "Other Pink"], ["pink"], ["粉色", "粉红色"]),
    "red": (["Red", "Dark Red", "Light Red", "Other Red"], ["red"], ["红色"]),
    "orange": (["Orange", "Light Orange", "Dark Orange", "Other Orange"], ["orange"], ["橙色"]),
    "green": (["Green", "Dark Green", "Light Green", "Other Green"], ["green"], ["绿色"]),
}
# concept: (judge regex over name + description, English forms, Chinese forms, family)
TERMS = {
    "hoop": (r"\bhoop", ["hoop", "hoops", "hoop earrings"], ["圈圈耳环", "耳圈", "圆圈"], "style"),
    "stud": (r"\bstud(s|pk|pack)?\b", ["stud", "studs", "stud earrings"], ["耳钉"], "style"),
    "pendant": (r"pendant", ["pendant", "pendants", "with a pendant"], ["吊坠", "带吊坠"], "style"),
    "choker": (r"choker", ["choker", "chokers"], ["颈链", "项圈"], "style"),
    "chain": (r"chain", ["chain", "chains"], ["链条"], "style"),
    "tassel": (r"tass(el|le)|fringe", ["tassel", "tassels", "fringe"], ["流苏"], "style"),
    "beaded": (r"\bbead", ["beaded", "beads", "with beads"], ["串珠", "珠子"], "style"),
    "pack": (r"pk\b|pack\b|various (designs|sizes)|different (designs|sizes)", ["pack of", "multipack", "set of"],
             ["一套", "套装"], "style"),
    "multi-strand": (r"strand|layer", ["layered", "multi-strand"], ["多层"], "style"),
    "heart": (r"heart", ["heart", "heart-shaped"], ["爱心", "心形"], "style"),
    "coin": (r"\bcoin|medallion", ["coin", "coin pendant"], ["硬币"], "style"),
    "flower": (r"flower|floral", ["flower", "floral"], ["花朵"], "style"),
    "sparkly": (r"sparkl|glitter|shimmer|rhinestone", ["sparkly", "sparkling"], ["闪亮", "闪闪的"], "style"),
    "hammered": (r"hammered", ["hammered"], ["锤纹"], "style"),
    "twisted": (r"twisted|braided", ["twisted", "braided"], ["扭纹", "编织"], "style"),
    "ear cuff": (r"ear ?cuff", ["ear cuff", "ear cuffs"], ["耳骨夹"], "style"),
    "clip-on": (r"\bclip|non-pierced", ["clip-on", "clip on"], ["耳夹", "无耳洞"], "style"),
    "bangle": (r"bangle", ["bangle", "bangles"], ["手镯"], "style"),
    "round": (r"\bround|\bdisc", ["round", "circle"], ["圆形"], "style"),
    "pearl": (r"\bpearl", ["pearl", "pearls", "pearly"], ["珍珠"], "material"),
    "rhinestone": (r"rhinestone|\brhine\b", ["rhinestone", "rhinestones", "diamante"], ["水钻"], "material"),
    "stone": (r"\bstone", ["stone", "stones", "gemstone"], ["宝石", "石头"], "material"),
    "plastic": (r"plastic|acrylic|resin", ["plastic", "acrylic"], ["塑料"], "material"),
    "glass": (r"\bglass", ["glass"], ["玻璃"], "material"),
    "metal": (r"\bmetal", ["metal"], ["金属"], "material"),
    "wood": (r"\bwood", ["wooden", "wood"], ["木质", "木头"], "material"),
    "leather": (r"leather|suede", ["leather"], ["皮革", "皮质"], "material"),
    "fabric": (r"fabric|velvet|satin|cord", ["fabric", "velvet"], ["布艺", "丝绒"], "material"),
    "recycled": (r"recycled", ["recycled"], ["环保", "回收材料"], "material"),
}
EN_TEMPLATES = ["{a} {t}", "{t} with {a}", "i want {a} {t}", "do you have {a} {t}?", "show me some {a} {t}", "{a} {t} please"]
ZH_TEMPLATES = ["{a}{t}", "我想要{a}{t}", "有没有{a}{t}", "{a}的{t}", "给我看看{a}{t}"]
NEG_EN = ["{t} that are not {c}", "{t}, no {c}", "{t} but not {c}", "{t} in any colour except {c}", "non-{c} {t}",
          "{t} without {c}"]
NEG_ZH = ["不是{c}的{t}", "{t}，不要{c}", "除了{c}的{t}", "{t}不要{c}", "不要{c}的{t}"]
NEG_TERM_EN = ["{t} without {a}", "{t} with no {a}", "{t}, no {a}", "{t} but not {a}"]
NEG_TERM_ZH = ["不要{a}的{t}", "{t}不要{a}", "没有{a}的{t}", "不带{a}的{t}"]
MIXED = ["{a_en} {t_zh}", "{a_zh} {t_en}", "{c_zh}{a_en} {t_en}", "{c_en} {a_zh}{t_zh}", "{t_zh} with {a_en}",
         "有没有 {a_en} {t_zh}", "{a_zh}{t_zh} {c_en}", "{t_en} 不要 {c_zh}", "{t_zh} without {c_en}"]


# Written before the first run on them and never used to tune the vocabulary: free
# phrasings the templates above do not produce, to show how far understanding carries
# past the vocabulary's own forms. (type, colour, not colour, words, not words)
PARAPHRASES = [
    ("en", "earrings shaped like little hearts", "earring", None, None, ["heart"], []),
    ("en", "a necklace with something hanging from it", "necklace", None, None, ["pendant"], []),
    ("en", "several rings sold together", "ring", None, None, ["pack"], []),
    ("en", "bracelet made out of beads", "bracelet", None, None, ["beaded"], []),
    ("en", "big round hoops for my ears", "earring", None, None, ["hoop"], []),
    ("en", "tiny studs in gold", "earring", "gold", None, ["stud"], []),
    ("en", "necklace that sits tight around the neck", "necklace", None, None, ["choker"], []),
    ("en", "earrings with fringes that swing", "earring", None, None, ["tassel"], []),
    ("en", "pearl-look necklace", "necklace", None, None, ["pearl"], []),
    ("en", "rings but nothing gold please", "ring", None, "gold", [], []),
    ("en", "i don't want silver, just show me necklaces", "necklace", None, "silver", [], []),
    ("en", "earrings free of rhinestones", "earring", None, None, [], ["rhinestone"]),
    ("en", "necklace without any pendant", "necklace", None, None, [], ["pendant"]),
    ("en", "glittery earrings for a party", "earring", None, None, ["sparkly"], []),
    ("en", "earrings i can wear without pierced ears", "earring", None, None, ["clip-on"], []),
    ("en", "multi-layer necklace in gold", "necklace", "gold", None, ["multi-strand"], []),
    ("en", "eco friendly earrings", "earring", None, None, ["recycled"], []),
    ("en", "rings with gemstones", "ring", None, None, ["stone"], []),
    ("en", "bracelets with leather straps", "bracelet", None, None, ["leather"], []),
    ("en", "chain bracelets that are not gold", "bracelet", None, "gold", ["chain"], []),
    ("zh", "心形的耳环", "earring", None, None, ["heart"], []),
    ("zh", "带坠子的项链", "necklace", None, None, ["pendant"], []),
    ("zh", "几个一起卖的戒指", "ring", None, None, ["pack"], []),
    ("zh", "珠子串的手链", "bracelet", None, None, ["beaded"], []),
    ("zh", "大圈耳环", "earring", None, None, ["hoop"], []),
    ("zh", "小巧的金色耳钉", "earring", "gold", None, ["stud"], []),
    ("zh", "贴颈的项链", "necklace", None, None, ["choker"], []),
    ("zh", "有流苏的耳坠", "earring", None, None, ["tassel"], []),
    ("zh", "仿珍珠项链", "necklace", None, None, ["pearl"], []),
    ("zh", "戒指，金色的不要", "ring", None, "gold", [], []),
    ("zh", "我不喜欢银色，项链有哪些", "necklace", None, "silver", [], []),
    ("zh", "不含水钻的耳环", "earring", None, None, [], ["rhinestone"]),
    ("zh", "没有吊坠的项链", "necklace", None, None, [], ["pendant"]),
    ("zh", "派对上戴的闪闪耳环", "earring", None, None, ["sparkly"], []),
    ("zh", "没有耳洞也能戴的耳环", "earring", None, None, ["clip-on"], []),
    ("zh", "金色多层项链", "necklace", "gold", None, ["multi-strand"], []),
    ("zh", "环保材质的耳环", "earring", None, None, ["recycled"], []),
    ("zh", "镶宝石的戒指", "ring", None, None, ["stone"], []),
    ("zh", "皮绳手链", "bracelet", None, None, ["leather"], []),
    ("zh", "不是金色的链条手链", "bracelet", None, "gold", ["chain"], []),
    ("mixed", "心形 earrings", "earring", None, None, ["heart"], []),
    ("mixed", "necklace 带坠子", "necklace", None, None, ["pendant"], []),
    ("mixed", "tassel 耳坠", "earring", None, None, ["tassel"], []),
    ("mixed", "不要 rhinestones 的耳环", "earring", None, None, [], ["rhinestone"]),
    ("mixed", "金色 multi-layer necklace", "necklace", "gold", None, ["multi-strand"], []),
    ("mixed", "beaded 手链 not black", "bracelet", None, "black", ["beaded"], []),
]


# Written after the vocabulary was final, run once, and not used to change anything: the
# numbers of this family are the out-of-sample estimate. (same fields as PARAPHRASES)
HELD_OUT = [
    ("en", "dangly earrings with little beads", "earring", None, None, ["beaded"], []),
    ("en", "layered gold necklace", "necklace", "gold", None, ["multi-strand"], []),
    ("en", "set of silver rings", "ring", "silver", None, ["pack"], []),
    ("en", "choker necklaces in black", "necklace", "black", None, ["choker"], []),
    ("en", "earrings with a pearl drop", "earring", None, None, ["pearl"], []),
    ("en", "hoop earrings that aren't gold", "earring", None, "gold", ["hoop"], []),
    ("en", "necklace with a coin charm", "necklace", None, None, ["coin"], []),
    ("en", "studs without any stones", "earring", None, None, ["stud"], ["stone"]),
    ("en", "rings with no rhinestones", "ring", None, None, [], ["rhinestone"]),
    ("en", "bracelets made of leather", "bracelet", None, None, ["leather"], []),
    ("en", "silver necklace with a heart", "necklace", "silver", None, ["heart"], []),
    ("en", "tasselled earrings", "earring", None, None, ["tassel"], []),
    ("zh", "金色的多层项链", "necklace", "gold", None, ["multi-strand"], []),
    ("zh", "一套银色戒指", "ring", "silver", None, ["pack"], []),
    ("zh", "黑色颈链", "necklace", "black", None, ["choker"], []),
    ("zh", "珍珠吊坠耳环", "earring", None, None, ["pearl"], []),
    ("zh", "不要金色的圈圈耳环", "earring", None, "gold", ["hoop"], []),
    ("zh", "硬币吊坠项链", "necklace", None, None, ["coin"], []),
    ("zh", "不带宝石的耳钉", "earring", None, None, ["stud"], ["stone"]),
    ("zh", "没有水钻的戒指", "ring", None, None, [], ["rhinestone"]),
    ("zh", "皮质手链", "bracelet", None, None, ["leather"], []),
    ("zh", "银色爱心项链", "necklace", "silver", None, ["heart"], []),
    ("zh", "带流苏的耳饰", "earring", None, None, ["tassel"], []),
    ("zh", "串珠手环", "bracelet", None, None, ["beaded"], []),
    ("mixed", "silver 耳钉", "earring", "silver", None, ["stud"], []),
    ("mixed", "choker 黑色", "necklace", "black", None, ["choker"], []),
    ("mixed", "hoops 不要 gold", "earring", None, "gold", ["hoop"], []),
    ("mixed", "珍珠 necklace", "necklace", None, None, ["pearl"], []),
    ("mixed", "耳环 with tassels", "earring", None, None, ["tassel"], []),
    ("mixed", "rings 没有 rhinestones", "ring", None, None, [], ["rhinestone"]),
]


def _spec(ptype, colours=None, not_colours=None, words=(), not_words=()):
    return {"types": TYPES[ptype][0], "colour_groups": COLOURS[colours][0] if colours else None,
            "not_colour_groups": COLOURS[not_colours][0] if not_colours else None,
            "words": [TERMS[w][0] for w in words], "not_words": [TERMS[w][0] for w in not_words]}


def build(seed: int = 21) -> list[dict]:
    rng = random.Random(seed)
    out: list[dict] = []

    def add(family, lang, query, spec):
        out.append({"family": family, "lang": lang, "query": query, "judge": spec})

    for t in TYPES:
        for c in COLOURS:
            add("colour_type", "en", rng.choice(EN_TEMPLATES).format(a=rng.choice(COLOURS[c][1]), t=rng.choice(TYPES[t][1])), _spec(t, colours=c))
            add("colour_type", "zh", rng.choice(ZH_TEMPLATES).format(a=rng.choice(COLOURS[c][2]), t=rng.choice(TYPES[t][2])), _spec(t, colours=c))
    for name, (_, en, zh, family) in TERMS.items():
        for t in TYPES:
            for _ in range(2):
                add(family, "en", rng.choice(EN_TEMPLATES).format(a=rng.choice(en), t=rng.choice(TYPES[t][1])), _spec(t, words=[name]))
                add(family, "zh", rng.choice(ZH_TEMPLATES).format(a=rng.choice(zh), t=rng.choice(TYPES[t][2])), _spec(t, words=[name]))
            for c in ("gold", "silver"):
                add(family, "en", rng.choice(EN_TEMPLATES).format(a=f"{rng.choice(COLOURS[c][1])} {rng.choice(en)}", t=rng.choice(TYPES[t][1])),
                    _spec(t, colours=c, words=[name]))
                add(family, "zh", rng.choice(ZH_TEMPLATES).format(a=f"{rng.choice(COLOURS[c][2])}{rng.choice(zh)}", t=rng.choice(TYPES[t][2])),
                    _spec(t, colours=c, words=[name]))
    for t in TYPES:
        for c in COLOURS:
            add("negation", "en", rng.choice(NEG_EN).format(c=rng.choice(COLOURS[c][1][:1]), t=rng.choice(TYPES[t][1])), _spec(t, not_colours=c))
            add("negation", "zh", rng.choice(NEG_ZH).format(c=COLOURS[c][2][0], t=rng.choice(TYPES[t][2])), _spec(t, not_colours=c))
        for name, (_, en, zh, _family) in TERMS.items():
            add("negation", "en", rng.choice(NEG_TERM_EN).format(a=rng.choice(en[:2]), t=rng.choice(TYPES[t][1])), _spec(t, not_words=[name]))
            add("negation", "zh", rng.choice(NEG_TERM_ZH).format(a=zh[0], t=rng.choice(TYPES[t][2])), _spec(t, not_words=[name]))
    for name, (_, en, zh, _family) in TERMS.items():
        for t in TYPES:
            for _ in range(2):
                c = rng.choice(["gold", "silver", "black"])
                template = rng.choice(MIXED)
                query = template.format(a_en=rng.choice(en), a_zh=rng.choice(zh), t_en=rng.choice(TYPES[t][1]),
                                        t_zh=rng.choice(TYPES[t][2]), c_en=COLOURS[c][1][0], c_zh=COLOURS[c][2][0])
                negated = "不要" in template or "without {c_en}" in template
                uses_colour = "{c_" in template
                spec = _spec(t, colours=c if uses_colour and not negated else None,
                             not_colours=c if negated else None, words=[name] if "{a_" in template else [])
                add("mixed", "mixed", query, spec)
    for family, rows in (("paraphrase", PARAPHRASES), ("held_out", HELD_OUT)):
        for lang, query, t, colour, not_colour, words, not_words in rows:
            add(family, lang, query, _spec(t, colours=colour, not_colours=not_colour, words=words, not_words=not_words))
    return out


if __name__ == "__main__":
    json.dump({"about": __doc__.strip().splitlines()[0], "queries": build()}, sys.stdout, ensure_ascii=False, indent=0)
    sys.stdout.write("\n")
