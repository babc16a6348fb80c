"""Understand a shopper's search text, in English or Chinese.

``parse_query`` pulls out the structured parts (jewelry types, colours, materials, a
price range) that should become filters, and leaves the rest as free text for the
embedding search. Prices are returned as written: converting them to the catalog's
price scale is the caller's business.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# canonical type -> H&M product_type_name values
TYPE_TO_PRODUCT_TYPES: dict[str, list[str]] = {
    "earring": ["Earring", "Earrings"],
    "necklace": ["Necklace"],
    "ring": ["Ring"],
    "bracelet": ["Bracelet"],
    "watch": ["Watch"],
}

# canonical colour -> H&M colour_group_name values
COLOUR_TO_GROUPS: dict[str, list[str]] = {
    "gold": ["Gold"],
    "rose gold": ["Gold", "Light Pink", "Pink"],
    "silver": ["Silver"],
    "black": ["Black"],
    "white": ["White", "Off White"],
    "pink": ["Pink", "Light Pink", "Dark Pink", "Other Pink"],
    "red": ["Red", "Dark Red", "Light Red", "Other Red"],
    "blue": ["Blue", "Dark Blue"],
    "green": ["Green", "Dark Green", "Light Green", "Other Green"],
    "turquoise": ["Turquoise", "Dark Turquoise", "Light Turquoise", "Other Turquoise"],
    "purple": ["Purple", "Light Purple", "Dark Purple", "Other Purple"],
    "yellow": ["Yellow", "Light Yellow", "Dark Yellow", "Other Yellow"],
    "orange": ["Orange", "Light Orange", "Dark Orange", "Other Orange"],
    "beige": ["Beige", "Light Beige"],
    "brown": ["Yellowish Brown", "Bronze/Copper"],
    "grey": ["Grey", "Dark Grey", "Light Grey"],
    "transparent": ["Transparent"],
}

_TYPE_WORDS = {
    # "hoops" and "studs" only come as earrings in a jewelry shop.
    "earring": ["earrings", "earring", "ear rings", "studs", "stud earrings", "hoops", "hoop", "耳环", "耳钉", "耳坠", "耳饰", "耳夹"],
    "necklace": ["necklaces", "necklace", "chokers", "choker", "项链", "颈链", "锁骨链"],
    "ring": ["rings", "ring", "戒指", "指环"],
    "bracelet": ["bracelets", "bracelet", "bangles", "bangle", "手链", "手镯", "手环"],
    "watch": ["watches", "watch", "wristwatch", "手表", "腕表"],
}
_COLOUR_WORDS = {
    "rose gold": ["rose gold", "rose-gold", "玫瑰金"],
    "gold": ["gold-coloured", "gold-colored", "gold coloured", "golden", "gold", "金色", "金黄色", "金"],
    "silver": ["silver-coloured", "silver-colored", "silver coloured", "silver", "银色", "银白色", "银"],
    "black": ["black", "黑色", "黑"],
    "white": ["white", "白色"],
    "pink": ["pink", "粉色", "粉红色", "粉红"],
    "red": ["red", "红色"],
    "blue": ["blue", "蓝色"],
    "green": ["green", "绿色"],
    "turquoise": ["turquoise", "绿松石色"],
    "purple": ["purple", "紫色"],
    "yellow": ["yellow", "黄色"],
    "orange": ["orange", "橙色"],
    "beige": ["beige", "米色"],
    "brown": ["brown", "棕色"],
    "grey": ["grey", "gray", "灰色"],
    "transparent": ["transparent", "clear", "透明"],
}
_MATERIAL_WORDS = {
    "pearl": ["pearls", "pearly", "pearl", "珍珠"],
    "metal": ["metal", "金属"],
    "sterling silver": ["sterling silver", "925 silver", "纯银", "925银"],
    "stainless steel": ["stainless steel", "steel", "不锈钢", "钢"],
    "glass": ["glass", "玻璃"],
    "crystal": ["crystals", "crystal", "水晶"],
    "rhinestone": ["rhinestones", "rhinestone", "水钻"],
    "diamond": ["diamonds", "diamond", "钻石"],
    "stone": ["stones", "stone", "宝石", "石"],
    "plastic": ["plastic", "塑料"],
    "leather": ["leather", "皮革", "真皮"],
    "bead": ["beads", "beaded", "bead", "珠子", "串珠"],
    "wood": ["wooden", "wood", "木"],
}

_NUM = r"(\d+(?:[.,]\d+)?)"
_CUR_PRE = r"(?:[$€£¥￥]\s*)?"
_CUR_POST = r"(?:\s*(?:元|块钱|块|欧元|美元|eur|euro|euros|usd|dollars?|kr|sek|rmb|yuan))?"
_PRICE_PATTERNS: list[tuple[re.Pattern, str]] = [
    # ranges first so "between 10 and 30" is not read as two open bounds
    (re.compile(rf"between\s*{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:and|to|-)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "range"),
    (re.compile(rf"(?:from\s*)?{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:-|–|~|to|到|至)\s*{_CUR_PRE}{_NUM}{_CUR_POST}(?:\s*(?:之间|左右))?"), "range"),
    (re.compile(rf"(?:under|below|less than|cheaper than|at most|up to|max(?:imum)?|no more than|<=?)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "max"),
    (re.compile(rf"(?:低于|不超过|不到|少于|小于|便宜于|最多|以下)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "max"),
    (re.compile(rf"{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:以下|以内|之内|内)"), "max"),
    (re.compile(rf"(?:over|above|more than|at least|min(?:imum)?|from|>=?)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "min"),
    (re.compile(rf"(?:高于|超过|多于|大于|至少)\s*{_CUR_PRE}{_NUM}{_CUR_POST}"), "min"),
    (re.compile(rf"{_CUR_PRE}{_NUM}{_CUR_POST}\s*(?:以上|起)"), "min"),
]
_STOP_EN = {"with", "for", "a", "an", "the", "and", "or", "in", "of", "i", "want", "need", "looking", "some", "me", "show", "price", "priced", "cheap"}
_STOP_ZH = ["我想要", "我想买", "我要", "想要", "想买", "请给我", "给我", "帮我找", "找", "一条", "一对", "一个", "一只", "一款", "的", "和", "或者", "带", "有", "价格", "价钱", "左右"]


def _is_cjk(s: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in s)


def _build_matcher(table: dict[str, list[str]]) -> list[tuple[re.Pattern, str]]:
    pairs = [(w, canon) for canon, words in table.items() for w in words]
    pairs.sort(key=lambda p: -len(p[0]))  # longest first: "rose gold" before "gold", "金属" before "金"
    out = []
    for w, canon in pairs:
        pat = re.escape(w) if _is_cjk(w) else rf"(?<![a-z]){re.escape(w)}(?![a-z])"
        out.append((re.compile(pat), canon))
    return out


_TYPE_MATCHER = _build_matcher(_TYPE_WORDS)
_COLOUR_MATCHER = _build_matcher(_COLOUR_WORDS)
_MATERIAL_MATCHER = _build_matcher(_MATERIAL_WORDS)


@dataclass
class ParsedQuery:
    text: str
    types: list[str] = field(default_factory=list)  # canonical: earring, necklace, ring, bracelet, watch
    colours: list[str] = field(default_factory=list)  # canonical colour names (see COLOUR_TO_GROUPS)
    materials: list[str] = field(default_factory=list)
    price_min: float | None = None
    price_max: float | None = None
    remaining_text: str = ""

    @property
    def product_types(self) -> list[str]:
        """H&M product_type_name values to filter on."""
        return [pt for t in self.types for pt in TYPE_TO_PRODUCT_TYPES[t]]

    @property
    def colour_groups(self) -> list[str]:
        out: list[str] = []
        for c in self.colours:
            out += [g for g in COLOUR_TO_GROUPS.get(c, []) if g not in out]
        return out

    @property
    def is_empty(self) -> bool:
        return not (self.types or self.colours or self.materials or self.remaining_text) and self.price_min is None and self.price_max is None


def _take(text: str, matcher: list[tuple[re.Pattern, str]]) -> tuple[str, list[str]]:
    found: list[str] = []
    for pat, canon in matcher:
        if pat.search(text):
            text = pat.sub(" ", text)
            if canon not in found:
                found.append(canon)
    return text, found


def _num(s: str) -> float:
    return float(s.replace(",", "."))


def parse_query(text: str) -> ParsedQuery:
    """Split a search text into filters + remaining free text. Never raises on odd input."""
    if not isinstance(text, str):
        raise TypeError(f"query must be a string, got {type(text).__name__}")
    original = text
    s = unicodedata.normalize("NFKC", text).lower()
    price_min = price_max = None
    for pat, kind in _PRICE_PATTERNS:
        m = pat.search(s)
        if not m:
            continue
        if kind == "range":
            a, b = sorted((_num(m.group(1)), _num(m.group(2))))
            price_min, price_max = a, b
        elif kind == "max" and price_max is None:
            price_max = _num(m.group(1))
        elif kind == "min" and price_min is None:
            price_min = _num(m.group(1))
        else:
            continue
        s = s[: m.start()] + " " + s[m.end() :]
    # Materials before colours: "sterling silver" is a material, "金属" (metal) is not gold.
    s, materials = _take(s, _MATERIAL_MATCHER)
    s, colours = _take(s, _COLOUR_MATCHER)
    if "sterling silver" in materials and "silver" not in colours:
        colours.append("silver")
    s, types = _take(s, _TYPE_MATCHER)
    for w in _STOP_ZH:
        s = s.replace(w, " ")
    words = [w for w in re.split(r"[\s,.;:!?，。；：！？、]+", s) if w and w not in _STOP_EN and w not in "-–~$€£¥"]
    return ParsedQuery(
        text=original,
        types=types,
        colours=colours,
        materials=materials,
        price_min=price_min,
        price_max=price_max,
        remaining_text=" ".join(words),
    )
