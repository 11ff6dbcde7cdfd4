"""SAP knowledge base: OData EDMX schemas, field mappings, transformations, business rules, MongoDB
storage and a vector index over all of it. Pure domain code: no dagster import in this package."""
