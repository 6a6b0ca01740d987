"""Chinese product search without a dependency: character bigrams plus unigrams in a tsvector.

Why not pg_trgm: a trigram index cannot serve a pattern shorter than three characters, and most
Chinese words are two characters (龙井, 绿茶) or one (茶); `similarity('西湖龙井绿茶', '龙井') = 0`.
Why not jieba: a dictionary segmenter misses words it does not know (brand names, new products)
and adds a 20 MB dependency to every web process.

So we index like Elasticsearch's `cjk` analyzer: each run of CJK characters becomes its
overlapping bigrams (西湖 湖龙 龙井 井绿 绿茶) plus its unigrams (西 湖 龙 井 绿 茶); latin
letters and digits become lowercase words. A query becomes the AND of its own bigrams (or the
unigram of a one-character run), so "龙井" matches 西湖龙井绿茶 and "井绿" does too (a
substring match, which is what shoppers expect from a Chinese search box).

`Product.search_text` stores "<title tokens> | <subtitle, tags, category, brand tokens>". A
generated tsvector column with a GIN index (migration 0003; its SQL is in catalog/sql.py) serves
`@@`; the two halves get the weights A and B, so ts_rank puts a title match above a subtitle or
tag match. Ties go to sales. The vector is stored, not only indexed, so ranking thousands of
matches does not re-parse each of them.

Keyword counts (hot keywords) and each member's recent searches are recorded here too.
"""

import re
import unicodedata
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import FloatField, QuerySet, Value
from django.utils import timezone

from .models import Product, SearchKeyword
from .sql import products_search_match, search_keyword_increment

# Hiragana/katakana, CJK extension A, CJK unified ideographs, hangul, compatibility ideographs.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN_RE = re.compile(f"([{_CJK}]+)|([a-z0-9]+)")
SECTION_SEPARATOR = " | "  # never produced by the tokenizer; migration 0003 splits on it
MAX_QUERY_TOKENS = 24  # bounds the cost of a pasted paragraph
KEYWORD_MAX_LENGTH = 40  # SearchKeyword.keyword
RECENT_SEARCHES_KEPT = 10
RECENT_SEARCHES_TTL_SECONDS = 90 * 24 * 3600


def _normalise(text: str) -> str:
    # NFKC folds full-width latin and digits (ＩＰｈｏｎｅ１５) into ASCII before lowercasing.
    return unicodedata.normalize("NFKC", text or "").lower()


def text_tokens(text: str) -> list[str]:
    """Index tokens of a text: bigrams then unigrams of each CJK run, and latin/digit words."""
    tokens: list[str] = []
    for cjk_run, word in _TOKEN_RE.findall(_normalise(text)):
        if cjk_run:
            tokens.extend(cjk_run[i : i + 2] for i in range(len(cjk_run) - 1))
            tokens.extend(cjk_run)
        else:
            tokens.append(word)
    return tokens


def query_tokens(query: str) -> list[str]:
    """Search terms of a query: bigrams of each CJK run (a one-character run is its unigram),
    and latin/digit words; duplicates dropped, order kept."""
    terms: list[str] = []
    for cjk_run, word in _TOKEN_RE.findall(_normalise(query)):
        if cjk_run:
            if len(cjk_run) == 1:
                terms.append(cjk_run)
            else:
                terms.extend(cjk_run[i : i + 2] for i in range(len(cjk_run) - 1))
        else:
            terms.append(word)
    return list(dict.fromkeys(terms))[:MAX_QUERY_TOKENS]


def tsquery_text(query: str) -> str:
    """`to_tsquery('simple', …)` input: terms joined by &; latin words also match as a prefix
    ("iph" finds "iphone15"). Empty when the query has no searchable characters."""
    # A CJK term is matched exactly; a latin/digit word also as a prefix.
    return " & ".join(f"{term}:*" if term.isascii() else term for term in query_tokens(query))


def search_text_build(*, title: str, subtitle: str = "", extra: Iterable[str] = ()) -> str:
    """The `search_text` of a product: the title's tokens, then the others' (weighted lower)."""
    rest: list[str] = text_tokens(subtitle)
    for text in extra:
        rest.extend(text_tokens(text))
    return " ".join(text_tokens(title)) + SECTION_SEPARATOR + " ".join(rest)


def product_search_text(product: Product) -> str:
    """`search_text` for a product: title weighted above subtitle, tags, category path and brand.

    Reads product.tags.all() (prefetch it for many products) and the category's parents
    (select_related("category__parent__parent", "brand") avoids queries).
    """
    extra: list[str] = [tag.name for tag in product.tags.all()]
    category = product.category
    depth = 0
    while category is not None and depth < 5:  # the path: 绿茶 < 茶叶 < 食品
        extra.append(category.name)
        category = category.parent
        depth += 1
    if product.brand_id is not None and product.brand is not None:
        extra.append(product.brand.name)
    return search_text_build(title=product.title, subtitle=product.subtitle, extra=extra)


def product_search_filter(queryset: QuerySet[Product], query: str) -> QuerySet[Product]:
    """Products matching every term of the query (the GIN-indexed tsvector match), annotated
    with `search_rank` (ts_rank, higher first). No searchable character (")", "!!!"): nothing,
    still with a `search_rank` to order by."""
    terms = tsquery_text(query)
    if not terms:
        return queryset.annotate(search_rank=Value(0.0, output_field=FloatField())).none()
    return products_search_match(queryset, tsquery=terms)


def search_keyword_normalise(query: str) -> str:
    """The keyword as counted and remembered: trimmed, inner whitespace collapsed, ≤ 40 chars."""
    return " ".join((query or "").split())[:KEYWORD_MAX_LENGTH].rstrip()


def search_keyword_count(*, keyword: str) -> None:
    """Count one search of `keyword` (already normalised): one upsert, exact under concurrency."""
    if not keyword:
        return
    search_keyword_increment(keyword=keyword, now=timezone.now())


def _recent_key(member_id: int) -> str:
    return f"catalog:recent-searches:{member_id}"


def search_recent_remember(*, member_id: int, keyword: str) -> None:
    """Put keyword first in the member's recent searches (deduplicated, the last 10 kept)."""
    if not keyword:
        return
    key = _recent_key(member_id)
    recent = [k for k in cache.get(key, []) if k != keyword]
    cache.set(key, [keyword, *recent][:RECENT_SEARCHES_KEPT], RECENT_SEARCHES_TTL_SECONDS)


def search_recent_list(*, member_id: int) -> list[str]:
    """The member's recent searches, newest first."""
    return list(cache.get(_recent_key(member_id), []))


def search_recent_clear(*, member_id: int) -> None:
    cache.delete(_recent_key(member_id))


def search_record(*, query: str, member_id: int | None, has_results: bool = True) -> None:
    """A shopper searched: count the keyword (when it found something, so typos and junk do
    not become hot keywords) and remember it for the member (if logged in)."""
    keyword = search_keyword_normalise(query)
    if not keyword or not query_tokens(keyword):
        return  # punctuation only: nothing worth counting
    if has_results:
        search_keyword_count(keyword=keyword)
    if member_id is not None:
        search_recent_remember(member_id=member_id, keyword=keyword)


HOT_KEYWORDS_SHOWN = 10


def search_hot_keywords() -> list[str]:
    """Keywords under the search box: pinned ones first, then the most searched; ten at most."""
    return list(
        SearchKeyword.objects.order_by("-is_pinned", "-search_count", "keyword").values_list(
            "keyword", flat=True
        )[:HOT_KEYWORDS_SHOWN]
    )
