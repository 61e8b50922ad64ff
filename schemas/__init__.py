"""Message and storage contracts: everything that crosses Kafka or lands in DuckDB.

Every envelope carries `schema` and `version`; `schemas.envelope` parses any of them
through one discriminated union that rejects unknown (schema, version) pairs.
"""
