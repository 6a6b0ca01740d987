"""The product list's hand-written query parse gives what ProductListQuerySerializer gives."""

from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from catalog.api.serializers import ProductListQuerySerializer, product_list_query

QUERIES = [
    {},
    {"page_size": "20"},
    {"page_size": "20", "ordering": "sales"},
    {"q": "茶"},
    {"q": "  红茶 绿茶  "},
    {"q": "   "},
    {"q": "长" * 150},
    {"q": ""},
    {"q": "a\x00b"},
    {"category": "3", "min_price": "0", "max_price": "0099", "page": "2"},
    {"category": "0"},
    {"category": "-1"},
    {"category": "1.0"},
    {"category": " 7 "},
    {"category": "１２"},
    {"category": ""},
    {"category": "x"},
    {"min_price": "-0"},
    {"page": "0"},
    {"page_size": "9" * 30},
    {"tag": " 新品 "},
    {"tag": "标" * 20},
    {"tag": "标" * 21},
    {"tag": ""},
    {"in_stock": "true"},
    {"in_stock": "True"},
    {"in_stock": "1"},
    {"in_stock": "no"},
    {"in_stock": "OFF"},
    {"in_stock": "maybe"},
    {"in_stock": ""},
    {"in_stock": "null"},
    {"ordering": "-price"},
    {"ordering": "price "},
    {"ordering": "nonsense"},
    {"ordering": ""},
    {"unknown": "1", "q": "茶"},
]


def _serializer_result(query_params):
    serializer = ProductListQuerySerializer(data=query_params)
    if serializer.is_valid():
        return dict(serializer.validated_data)
    return ValidationError(serializer.errors).detail


def _parsed_result(query_params):
    try:
        return product_list_query(query_params)
    except ValidationError as exc:
        return exc.detail


@pytest.mark.parametrize("params", QUERIES, ids=range(len(QUERIES)))
def test_parse_is_the_serializers(params):
    query_params = QueryDict(urlencode(params))
    assert _parsed_result(query_params) == _serializer_result(query_params)


def test_the_last_of_repeated_values_counts():
    query_params = QueryDict("page=0&page=2&ordering=x&ordering=sales")
    assert product_list_query(query_params) == _serializer_result(query_params)
    assert product_list_query(query_params)["page"] == 2
