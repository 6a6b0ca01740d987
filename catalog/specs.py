"""Spec dimensions, canonical spec keys and the spec matrix the mini-program's picker draws.

Pure functions over SKU specs ({"颜色": "红", "尺码": "M"}), shared by services (which store
spec_key and spec_dimensions) and selectors (which build the matrix from live stock).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mall.errors import SpecDuplicate, SpecInconsistent, SpecInvalid

SEPARATORS = frozenset({":", "|"})  # the spec_key's own punctuation


def specs_of(specs: object) -> dict[str, str]:
    return specs if isinstance(specs, dict) else {}


def dimension_names(spec_dimensions: object) -> list[str]:
    """The names of a product's stored spec_dimensions ([{"name", "values"}]), in order."""
    if not isinstance(spec_dimensions, list):
        return []
    return [
        entry["name"]
        for entry in spec_dimensions
        if isinstance(entry, dict) and isinstance(entry.get("name"), str)
    ]


def spec_dimension_order(specs_list: Iterable[object], preferred: Sequence[str] = ()) -> list[str]:
    """Dimension names of the SKUs: those in `preferred` first (in its order), then the others
    in the order they first appear (pass SKUs ordered by id).

    PostgreSQL's jsonb does not keep the key order of `Sku.specs` ({"颜色", "尺码"} comes back
    as {"尺码", "颜色"}), so the order the merchant chose is kept on the product
    (Product.spec_dimensions) and passed here as `preferred`.
    """
    found: dict[str, None] = {}
    for specs in specs_list:
        for name in specs_of(specs):
            found.setdefault(name, None)
    ordered = [name for name in dict.fromkeys(preferred) if name in found]
    return ordered + [name for name in found if name not in ordered]


def sku_spec_key(specs: object, dimension_order: Sequence[str]) -> str:
    """Canonical "颜色:红|尺码:M" in the product's dimension order; "" for a SKU without specs."""
    values = specs_of(specs)
    ordered = [name for name in dimension_order if name in values]
    ordered += [name for name in values if name not in ordered]
    return "|".join(f"{name}:{values[name]}" for name in ordered)


def _well_formed(specs: object) -> bool:
    return isinstance(specs, dict) and all(
        isinstance(name, str)
        and isinstance(value, str)
        and name.strip()
        and value.strip()
        and not SEPARATORS & set(name + value)
        for name, value in specs.items()
    )


def sku_specs_validate(*, specs_list: Sequence[object]) -> None:
    """Check the specs of one product's active SKUs: well-formed, the same dimension names on
    every SKU, no two SKUs with the same values.

    Raises: SpecInvalid, SpecInconsistent, SpecDuplicate.
    """
    for specs in specs_list:
        if not _well_formed(specs):
            raise SpecInvalid(specs=specs)
    if not specs_list:
        return
    expected = set(specs_of(specs_list[0]))
    for specs in specs_list[1:]:
        if set(specs_of(specs)) != expected:
            raise SpecInconsistent(
                expected=sorted(expected), found=sorted(specs_of(specs)), specs=specs
            )
    order = spec_dimension_order(specs_list)
    seen: set[str] = set()
    for specs in specs_list:
        key = sku_spec_key(specs, order)
        if key in seen:
            raise SpecDuplicate(spec_key=key)
        seen.add(key)


def spec_dimensions(
    specs_list: Sequence[object], preferred: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """[{"name", "values"}]: names as spec_dimension_order, values in first-appearance order."""
    order = spec_dimension_order(specs_list, preferred)
    values: dict[str, dict[str, None]] = {name: {} for name in order}
    for specs in specs_list:
        for name, value in specs_of(specs).items():
            values[name].setdefault(value, None)
    return [{"name": name, "values": list(values[name])} for name in order]


def spec_matrix(
    skus: Sequence[Mapping[str, Any]], dimension_order: Sequence[str] = ()
) -> dict[str, Any]:
    """The spec picker's data from active SKUs (dicts with id, specs, stock, price_fen; by id),
    dimensions in the product's order.

    {"dimensions": [{"name", "values": [{"value", "available"}]}],
     "combinations": {"颜色:红|尺码:M": {"sku_id", "stock", "price_fen"}}}
    A value is available when some SKU with it has stock; a combination that is missing has no
    key, one sold out has stock 0.
    """
    order = spec_dimension_order([sku["specs"] for sku in skus], dimension_order)
    available: dict[str, dict[str, bool]] = {name: {} for name in order}
    combinations: dict[str, dict[str, int]] = {}
    for sku in skus:
        specs = specs_of(sku["specs"])
        in_stock = sku["stock"] > 0
        for name in order:
            if name in specs:
                seen = available[name]
                seen[specs[name]] = seen.get(specs[name], False) or in_stock
        combinations[sku_spec_key(specs, order)] = {
            "sku_id": sku["id"],
            "stock": sku["stock"],
            "price_fen": sku["price_fen"],
        }
    return {
        "dimensions": [
            {
                "name": name,
                "values": [
                    {"value": value, "available": is_available}
                    for value, is_available in available[name].items()
                ],
            }
            for name in order
        ],
        "combinations": combinations,
    }
