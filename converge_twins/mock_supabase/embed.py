"""Resource embedding, one level deep: ``select=*,author:users(name),comments(*)``.

Relationships come from the foreign keys the project declares, as PostgREST reads them from the
schema cache. From the table holding the key the other table is to-one (an object or null), the
other way it is to-many (an array), and to-one both ways when the key columns are unique. A
relation is named by its table, by the key column or by the constraint, and disambiguated with
``!hint``; no relationship is 400 ``PGRST200``, two are 300 ``PGRST201``. Embedded rows take
their own filters, ``order``, ``limit`` and ``offset`` (``comments.order=id.desc``); ``!inner``
keeps only parents that have some, and ``comments=is.null`` only those that have none. A
nested embed is beyond the twin (400 ``PGRST127``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from converge_twins.mock_supabase.errors import PostgrestError, perhaps
from converge_twins.mock_supabase.query import SelectEmbed
from converge_twins.mock_supabase.schema import ForeignKey
from converge_twins.mock_supabase.tables import Store


@dataclass(frozen=True)
class Relationship:
    fk: ForeignKey
    origin: str
    target: str
    origin_columns: tuple[str, ...]
    target_columns: tuple[str, ...]
    cardinality: str  # many-to-one, one-to-many, one-to-one

    @property
    def to_many(self) -> bool:
        return self.cardinality == "one-to-many"

    def describe(self) -> dict[str, str]:
        origin_cols = ", ".join(self.origin_columns)
        target_cols = ", ".join(self.target_columns)
        return {
            "cardinality": self.cardinality,
            "embedding": f"{self.origin} with {self.target}",
            "relationship": f"{self.fk.name} using {self.origin}({origin_cols}) and "
            f"{self.target}({target_cols})",
        }


def _unique(store: Store, table: str, columns: tuple[str, ...]) -> bool:
    schema = store.schemas.get(table)
    return schema is not None and any(set(cols) == set(columns) for _, cols in schema.unique_keys())


def candidates(store: Store, origin: str, relation: str) -> list[Relationship]:
    found = []
    for fk in store.schemas[origin].foreign_keys if origin in store.schemas else ():
        if relation in (fk.target, fk.name) or (len(fk.columns) == 1 and relation == fk.columns[0]):
            one = "one-to-one" if _unique(store, origin, fk.columns) else "many-to-one"
            found.append(Relationship(fk, origin, fk.target, fk.columns, fk.target_columns, one))
    for schema in store.schemas.values():
        for fk in schema.foreign_keys:
            if fk.target == origin and relation in (schema.name, fk.name):
                one = "one-to-one" if _unique(store, schema.name, fk.columns) else "one-to-many"
                found.append(
                    Relationship(fk, origin, schema.name, fk.target_columns, fk.columns, one)
                )
    return found


def relationship(store: Store, origin: str, embed: SelectEmbed) -> Relationship:
    found = candidates(store, origin, embed.relation)
    if embed.hint is not None:
        found = [
            r for r in found if embed.hint in (r.fk.name, r.target) or embed.hint in r.fk.columns
        ]
    if not found:
        related = (
            {fk.target for fk in store.schemas[origin].foreign_keys}
            if (origin in store.schemas)
            else set()
        )
        related |= {
            s.name for s in store.schemas.values() for fk in s.foreign_keys if fk.target == origin
        }
        close = perhaps(embed.relation, related)
        raise PostgrestError(
            400,
            "PGRST200",
            f"Could not find a relationship between '{origin}' and '{embed.relation}' in the "
            "schema cache",
            f"Searched for a foreign key relationship between '{origin}' and "
            f"'{embed.relation}"
            + (f"' using the hint '{embed.hint}" if embed.hint else "")
            + "' in the schema 'public', but no matches were found.",
            f"Perhaps you meant '{close}' instead of '{embed.relation}'." if close else None,
        )
    if len(found) > 1:
        choices = ", ".join(f"'{embed.relation}!{r.fk.name}'" for r in found)
        raise PostgrestError(
            300,
            "PGRST201",
            f"Could not embed because more than one relationship was found for '{origin}' and "
            f"'{embed.relation}'",
            [r.describe() for r in found],
            f"Try changing '{embed.relation}' to one of the following: {choices}. Find the "
            "desired relationship in the 'details' key.",
        )
    if any(isinstance(item, SelectEmbed) for item in embed.items):
        raise PostgrestError(
            400,
            "PGRST127",
            "Feature not implemented",
            "mock-supabase embeds resources one level deep; select the deeper ones with "
            "their own query",
        )
    return found[0]


def related_rows(store: Store, rel: Relationship, row: dict[str, Any]) -> list[dict[str, Any]]:
    key = tuple(row.get(c) for c in rel.origin_columns)
    if any(v is None for v in key):
        return []
    target = store.table(rel.target)
    return [r for r in target.rows if tuple(r.get(c) for c in rel.target_columns) == key]
