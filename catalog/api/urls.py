from django.urls import path

from . import views

urlpatterns = [
    path("categories", views.CategoryTreeApi.as_view(), name="category-tree"),
    path("products", views.ProductListApi.as_view(), name="product-list"),
    path("products/<int:product_id>", views.ProductDetailApi.as_view(), name="product-detail"),
    path("search/hot", views.SearchHotApi.as_view(), name="search-hot"),
    path("search/recent", views.SearchRecentApi.as_view(), name="search-recent"),
]
