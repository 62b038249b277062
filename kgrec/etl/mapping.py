"""The YAML mapping file of ``kgctl ingest table``: which column of a table means what.

Example (the shipped ``kgrec/etl/mappings/womens_clothing.yaml`` is a complete one)::

    format: csv                   # csv, tsv, parquet or jsonl; default: from the file name
    source: my-shop               # stored on Product.source
    columns:                      # role: column name in the file (every role is optional but item)
      user: customer_id
      item: sku
      rating: stars
      timestamp: ts               # Unix seconds, or ISO dates with timestamp_format: iso
      behavior: event             # e.g. view / cart / buy
      title: name
      description: text
      year: year
      price: price
      category_path: category     # "Clothing > Dresses > Maxi", or a list of columns root..leaf
      brand: brand
      shop: seller
      tags: tags                  # several tags in one cell, split on tags_separator
      image: image                # a path (relative to image_root) or an http(s) URL
    category_separator: " > "
    tags_separator: "|"
    timestamp_format: unix        # unix or iso
    image_root: images/           # relative to the mapping file; default: the table's folder
    rating_range: [1, 5]
    timestamp_range: [0, null]    # null: up to a day from now
    behaviors: [view, cart, buy]  # allowed behaviour values (default: any)
    user_properties: {age: age}   # User property: column
    anonymous_users: review-      # no user column: each row is its own user, id PREFIX + line
    description_aggregate: first  # first, or join (several rows of one item: their texts joined)
    description_max_chars: 2000
    known_products_only: false    # true: items must already be in the graph (load the catalogue first)
    item_prefix: "shop-"          # prepended to item ids (ids are global: the same id is the same node,
    user_prefix: "shop-"          #  so prefixes keep unrelated data sets apart in one graph)

Rows with a user (or ``anonymous_users``) are interactions; without, each row describes a product.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from kgrec.errors import ConfigError

ROLES = ("user", "item", "rating", "timestamp", "behavior", "title", "description", "year", "price",
         "category_path", "brand", "shop", "tags", "image")
USER_PROPERTIES = ("name", "age", "gender", "occupation", "zip", "extra")
SHIPPED = Path(__file__).resolve().parent / "mappings"


@dataclasses.dataclass
class Mapping:
    columns: dict[str, Any]
    format: str | None = None
    delimiter: str | None = None
    source: str | None = None
    category_separator: str = " > "
    tags_separator: str = "|"
    timestamp_format: str = "unix"
    image_root: str | None = None
    rating_range: tuple[float, float] | None = None
    timestamp_range: tuple[int | None, int | None] | None = None
    behaviors: list[str] | None = None
    user_properties: dict[str, str] = dataclasses.field(default_factory=dict)
    anonymous_users: str | None = None
    description_aggregate: str = "first"
    description_max_chars: int = 2000
    known_products_only: bool = False
    item_prefix: str = ""
    user_prefix: str = ""
    path: Path | None = None

    def column(self, role: str) -> Any:
        return self.columns.get(role)

    @property
    def has_users(self) -> bool:
        return bool(self.columns.get("user")) or self.anonymous_users is not None

    def needed_columns(self) -> list[str]:
        names: list[str] = []
        for value in self.columns.values():
            names.extend(value if isinstance(value, list) else [value])
        names.extend(self.user_properties.values())
        return [n for n in names if n]


def load_mapping(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"no mapping file {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {exc}") from None
    return parse_mapping(data, path)


def parse_mapping(data: dict, path: Path | None = None) -> Mapping:
    where = str(path) if path else "mapping"
    if not isinstance(data, dict) or not isinstance(data.get("columns"), dict):
        raise ConfigError(f"{where}: needs a 'columns:' section naming at least the item column")
    columns = dict(data["columns"])
    unknown = [k for k in columns if k not in ROLES]
    if unknown:
        raise ConfigError(f"{where}: unknown column roles {unknown}", f"known: {', '.join(ROLES)}")
    if not columns.get("item"):
        raise ConfigError(f"{where}: columns.item (the product id column) is required")
    known = {f.name for f in dataclasses.fields(Mapping)} - {"columns", "path"}
    extra = [k for k in data if k not in known and k != "columns"]
    if extra:
        raise ConfigError(f"{where}: unknown keys {extra}", f"known: {', '.join(sorted(known))}")
    kwargs = {k: v for k, v in data.items() if k in known and v is not None}
    for key in ("rating_range", "timestamp_range"):
        if key in kwargs:
            value = kwargs[key]
            if not isinstance(value, (list, tuple)) or len(value) != 2:
                raise ConfigError(f"{where}: {key} must be [low, high]")
            kwargs[key] = tuple(value)
    bad_props = [k for k in kwargs.get("user_properties", {}) if k not in USER_PROPERTIES]
    if bad_props:
        raise ConfigError(
            f"{where}: user_properties {bad_props} are not User properties", f"known: {', '.join(USER_PROPERTIES)}"
        )
    if kwargs.get("timestamp_format", "unix") not in ("unix", "iso"):
        raise ConfigError(f"{where}: timestamp_format must be unix or iso")
    if kwargs.get("description_aggregate", "first") not in ("first", "join"):
        raise ConfigError(f"{where}: description_aggregate must be first or join")
    if kwargs.get("anonymous_users") is not None and columns.get("user"):
        raise ConfigError(f"{where}: give either columns.user or anonymous_users, not both")
    return Mapping(columns=columns, path=path, **kwargs)


def shipped_mapping(name: str) -> Path:
    path = SHIPPED / f"{name}.yaml"
    if not path.exists():
        known = ", ".join(p.stem for p in SHIPPED.glob("*.yaml"))
        raise ConfigError(f"no shipped mapping {name!r}", f"known: {known}")
    return path
