import pytest
from django.db import connection

from catalog.models import SearchKeyword
from catalog.search import (
    query_tokens,
    search_keyword_count,
    text_tokens,
    tsquery_text,
)
from catalog.services import product_refresh_derived

from .factories import BrandFactory, CategoryFactory, product_with_skus

pytestmark = pytest.mark.django_db


def _search(api_client, q, **params):
    response = api_client.get("/api/v1/products", {"q": q, **params})
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


def test_text_tokens_are_bigrams_unigrams_and_lowercase_words():
    # when
    tokens = text_tokens("龙井绿茶 iPhone15 ＰＲＯ")
    # then
    assert tokens == ["龙井", "井绿", "绿茶", "龙", "井", "绿", "茶", "iphone15", "pro"]


def test_query_tokens_use_bigrams_or_the_unigram_of_a_one_character_run():
    assert query_tokens("西湖龙井") == ["西湖", "湖龙", "龙井"]
    assert query_tokens("茶") == ["茶"]
    assert query_tokens("茶 iPhone 茶") == ["茶", "iphone"]
    assert tsquery_text("绿茶 iph") == "绿茶 & iph:*"
    assert tsquery_text("!!! 。") == ""


def test_the_search_vector_is_generated_and_gin_indexed_on_postgresql():
    # given
    product = product_with_skus(title="西湖龙井", subtitle="绿茶", skus=[{"price_fen": 100}])
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        # when
        cursor.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'product_search_gin'")
        (definition,) = cursor.fetchone()
        cursor.execute(
            "SELECT search_vector::text FROM catalog_product WHERE id = %s", [product.pk]
        )
        (vector,) = cursor.fetchone()
    # then
    assert "gin (search_vector)" in definition
    assert "'龙井':3A" in vector
    assert "'绿茶':8B" in vector


@pytest.mark.parametrize("q", ["茶", "龙井", "绿茶", "西湖龙井", "西湖龙井绿茶", "井绿"])
def test_search_finds_chinese_substrings_of_the_title(api_client, q):
    # given
    product_with_skus(title="西湖龙井绿茶", skus=[{"price_fen": 6800}])
    product_with_skus(title="云南普洱", skus=[{"price_fen": 9900}])
    # when
    titles = _search(api_client, q)
    # then
    assert titles == ["西湖龙井绿茶"]


def test_search_does_not_match_characters_out_of_order(api_client):
    # given
    product_with_skus(title="西湖龙井绿茶", skus=[{"price_fen": 6800}])
    # when / then: 茶绿 is not a substring although both characters occur
    assert _search(api_client, "茶绿") == []


def test_title_match_ranks_above_subtitle_or_tag_match(api_client):
    # given: the subtitle/tag match sells far more, the title match should still come first
    product_with_skus(
        title="精选礼盒",
        subtitle="内含龙井绿茶",
        tags=("绿茶",),
        skus=[{"price_fen": 19900}],
        sales_count=5000,
    )
    product_with_skus(title="明前绿茶", skus=[{"price_fen": 6800}], sales_count=3)
    # when
    titles = _search(api_client, "绿茶")
    # then
    assert titles == ["明前绿茶", "精选礼盒"]


def test_equal_relevance_ranks_by_sales(api_client):
    # given
    product_with_skus(title="龙井 A", skus=[{"price_fen": 100}], sales_count=10)
    product_with_skus(title="龙井 B", skus=[{"price_fen": 100}], sales_count=90)
    # when / then
    assert _search(api_client, "龙井") == ["龙井 B", "龙井 A"]


def test_search_covers_tags_category_and_brand(api_client):
    # given
    tea = CategoryFactory(name="茶叶")
    product_with_skus(title="礼品一号", tags=("送礼佳品",), skus=[{"price_fen": 100}])
    product_with_skus(title="礼品二号", category=tea, skus=[{"price_fen": 100}])
    product_with_skus(title="礼品三号", brand=BrandFactory(name="Apple"), skus=[{"price_fen": 100}])
    # when / then
    assert _search(api_client, "送礼") == ["礼品一号"]
    assert _search(api_client, "茶叶") == ["礼品二号"]
    assert _search(api_client, "app") == ["礼品三号"]  # latin words match as a prefix


def test_search_combines_with_filters_and_explicit_ordering(api_client):
    # given
    product_with_skus(title="绿茶 贵", skus=[{"price_fen": 9000}])
    product_with_skus(title="绿茶 便宜", skus=[{"price_fen": 1000}])
    product_with_skus(title="绿茶 中等", skus=[{"price_fen": 5000}])
    # when
    titles = _search(api_client, "绿茶", max_price=6000, ordering="price")
    # then
    assert titles == ["绿茶 便宜", "绿茶 中等"]


def test_search_text_is_refreshed_when_the_title_changes(api_client):
    # given
    product = product_with_skus(title="红茶", skus=[{"price_fen": 100}])
    product.title = "乌龙茶"
    product.save()
    # when
    product_refresh_derived(product_id=product.pk)
    # then
    assert _search(api_client, "乌龙") == ["乌龙茶"]
    assert _search(api_client, "红茶") == []


def test_keyword_count_inserts_then_increments():
    # when
    search_keyword_count(keyword="龙井")
    search_keyword_count(keyword="龙井")
    search_keyword_count(keyword="普洱")
    # then
    assert dict(SearchKeyword.objects.values_list("keyword", "search_count")) == {
        "龙井": 2,
        "普洱": 1,
    }


def test_searching_counts_keywords_on_the_first_page_only(api_client):
    # given
    for n in range(3):
        product_with_skus(title=f"绿茶{n}", skus=[{"price_fen": 100}])
    # when
    api_client.get("/api/v1/products", {"q": " 绿茶 "})
    api_client.get("/api/v1/products", {"q": "绿茶"})
    api_client.get("/api/v1/products", {"q": "绿茶", "page": 2, "page_size": 2})
    api_client.get("/api/v1/products", {"q": "!!!"})
    api_client.get("/api/v1/products", {"q": "没有的东西"})  # no results: not a hot keyword
    # then
    assert dict(SearchKeyword.objects.values_list("keyword", "search_count")) == {"绿茶": 2}


def test_hot_keywords_put_pinned_first_then_by_count(api_client):
    # given
    SearchKeyword.objects.create(keyword="普洱", search_count=5)
    SearchKeyword.objects.create(keyword="龙井", search_count=50)
    SearchKeyword.objects.create(keyword="新品", search_count=1, is_pinned=True)
    for n in range(12):
        SearchKeyword.objects.create(keyword=f"词{n:02d}", search_count=2)
    # when
    response = api_client.get("/api/v1/search/hot")
    # then
    assert response.status_code == 200
    keywords = response.json()["keywords"]
    assert keywords[:3] == ["新品", "龙井", "普洱"]
    assert len(keywords) == 10


def test_recent_searches_are_per_member_deduplicated_newest_first(member_login):
    # given
    _, shopper = member_login("o-recent-1")
    _, other = member_login("o-recent-2")
    for q in ["龙井", "普洱", *[f"词{n}" for n in range(10)], "龙井"]:
        shopper.get("/api/v1/products", {"q": q})
    # when
    recent = shopper.get("/api/v1/search/recent").json()["keywords"]
    # then
    assert recent[0] == "龙井"
    assert len(recent) == 10
    assert recent.count("龙井") == 1
    assert "普洱" not in recent  # pushed out: only the last ten are kept
    assert other.get("/api/v1/search/recent").json()["keywords"] == []


def test_recent_searches_can_be_cleared(member_login):
    # given
    _, shopper = member_login()
    shopper.get("/api/v1/products", {"q": "龙井"})
    # when
    response = shopper.delete("/api/v1/search/recent")
    # then
    assert response.status_code == 204
    assert shopper.get("/api/v1/search/recent").json()["keywords"] == []


def test_recent_searches_need_a_login(api_client):
    response = api_client.get("/api/v1/search/recent")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# (query, whether it finds 西湖龙井茶): punctuation, quotes, LIKE and tsquery syntax, emoji, a
# pasted paragraph, nothing at all. Each is an ordinary search: 200, never a 5xx.
ODD_QUERIES = [
    (")", False),
    ("(", False),
    ("'", False),
    ('"', False),
    ("%", False),
    ("_", False),
    ("\\", False),
    ("&", False),
    ("|", False),
    ("!", False),
    (":*", False),
    ("<->", False),
    ("茶)", True),
    ("'龙井'", True),
    ("茶' OR 1=1 --", False),  # every term must match: "or" and "1" do not
    ("🍵", False),
    ("🍵茶😀", True),
    (("龙井 )'%\\&! " * 100)[:1000], True),
    ("", False),
    (" ", False),
    ("   \t  ", False),
]


@pytest.mark.parametrize(("q", "found"), ODD_QUERIES)
def test_every_search_string_answers_200(api_client, q, found):
    # given: something to find, so a query with searchable characters runs the full search
    product_with_skus(title="西湖龙井茶", skus=[{"price_fen": 100}])
    # when
    response = api_client.get("/api/v1/products", {"q": q})
    # then
    assert response.status_code == 200, response.content
    titles = [item["title"] for item in response.json()["results"]]
    assert titles == (["西湖龙井茶"] if found or not q.strip() else [])


def test_every_search_string_answers_200_for_a_member_too(member_login):
    # given: a member's searches are also counted and remembered
    product_with_skus(title="西湖龙井茶", skus=[{"price_fen": 100}])
    _, shopper = member_login()
    for q, _found in ODD_QUERIES:
        # when
        response = shopper.get("/api/v1/products", {"q": q})
        # then
        assert response.status_code == 200, (q, response.content)
    assert (
        shopper.get("/api/v1/search/recent").json()["keywords"][0]
        == ("龙井 )'%\\&! " * 100)[:40].strip()
    )


def test_a_nul_character_in_the_search_is_refused_as_invalid(api_client):
    response = api_client.get("/api/v1/products", {"q": "龙井\x00"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
