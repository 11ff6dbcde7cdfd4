"""Typed model of an OData ``$metadata`` document, the same shape for V2 (EDMX 1.0) and V4 (EDMX 4.0).

One model for both versions lets mappings, the MongoDB store and the vector index ignore which
protocol version a service speaks. Fields that only one version has (``sap:`` capabilities in V2,
``Partner`` in V4) are optional.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Property(_Model):
    name: str
    type: str
    nullable: bool = True
    max_length: str | None = None  # "max" is legal in V4, so not an int
    precision: int | None = None
    scale: str | None = None  # "variable" / "floating" are legal in V4
    label: str | None = None
    quickinfo: str | None = None
    heading: str | None = None
    documentation: str | None = None
    creatable: bool = True
    updatable: bool = True
    filterable: bool = True
    sortable: bool = True
    unit: str | None = None  # sap:unit: the property that carries this amount's currency / unit
    semantics: str | None = None

    def text(self) -> str:
        """Name, label and documentation in one string: what embeddings and search see."""
        parts = [self.name, self.label or "", self.quickinfo or "", self.documentation or ""]
        return " | ".join(p for p in parts if p)


class NavigationProperty(_Model):
    name: str
    target_type: str | None = None  # qualified name of the target entity type, resolved when possible
    collection: bool = False
    relationship: str | None = None  # V2: the association
    from_role: str | None = None
    to_role: str | None = None
    partner: str | None = None  # V4


class EntityType(_Model):
    name: str
    namespace: str
    keys: list[str] = Field(default_factory=list)
    properties: list[Property] = Field(default_factory=list)
    navigation_properties: list[NavigationProperty] = Field(default_factory=list)
    base_type: str | None = None
    label: str | None = None
    documentation: str | None = None

    @property
    def qualified_name(self) -> str:
        return f"{self.namespace}.{self.name}"

    def property(self, name: str) -> Property | None:
        return next((p for p in self.properties if p.name == name), None)


class ComplexType(_Model):
    name: str
    namespace: str
    properties: list[Property] = Field(default_factory=list)


class AssociationEnd(_Model):
    role: str
    type: str
    multiplicity: str


class Association(_Model):
    name: str
    namespace: str
    ends: list[AssociationEnd] = Field(default_factory=list)
    principal_role: str | None = None
    principal_properties: list[str] = Field(default_factory=list)
    dependent_role: str | None = None
    dependent_properties: list[str] = Field(default_factory=list)


class EntitySet(_Model):
    name: str
    entity_type: str
    label: str | None = None
    creatable: bool = True
    updatable: bool = True
    deletable: bool = True
    searchable: bool = False


class Parameter(_Model):
    name: str
    type: str
    mode: str | None = None
    nullable: bool = True


class FunctionImport(_Model):
    name: str
    return_type: str | None = None
    entity_set: str | None = None
    http_method: str | None = None
    kind: str = "function"  # function | action (V4 ActionImport)
    parameters: list[Parameter] = Field(default_factory=list)


class Schema(_Model):
    namespace: str
    alias: str | None = None
    entity_types: list[EntityType] = Field(default_factory=list)
    complex_types: list[ComplexType] = Field(default_factory=list)
    associations: list[Association] = Field(default_factory=list)
    entity_sets: list[EntitySet] = Field(default_factory=list)
    function_imports: list[FunctionImport] = Field(default_factory=list)
    container: str | None = None


class EdmxDocument(_Model):
    """One service's metadata. ``version`` is the content hash: the key MongoDB upserts by."""

    api: str
    source: str
    odata_version: str  # "2.0" | "4.0"
    edmx_version: str
    version: str
    sha256: str
    schemas: list[Schema] = Field(default_factory=list)

    # convenience -------------------------------------------------------------------------------
    def entity_types(self) -> list[EntityType]:
        return [et for s in self.schemas for et in s.entity_types]

    def entity_sets(self) -> list[EntitySet]:
        return [es for s in self.schemas for es in s.entity_sets]

    def function_imports(self) -> list[FunctionImport]:
        return [fi for s in self.schemas for fi in s.function_imports]

    def entity_type(self, name: str) -> EntityType | None:
        """Find an entity type by simple or qualified name, or by an entity set's name."""
        simple = name.rsplit(".", 1)[-1]
        for et in self.entity_types():
            if et.name == simple or et.qualified_name == name:
                return et
        for es in self.entity_sets():
            if es.name == simple:
                return self.entity_type(es.entity_type)
        return None

    def counts(self) -> dict[str, int]:
        ets = self.entity_types()
        return {
            "entity_types": len(ets),
            "properties": sum(len(e.properties) for e in ets),
            "navigation_properties": sum(len(e.navigation_properties) for e in ets),
            "associations": sum(len(s.associations) for s in self.schemas),
            "entity_sets": len(self.entity_sets()),
            "function_imports": len(self.function_imports()),
        }
