"""The database: connection (how ringwatch connects), server (the local Neo4j + GDS), schema (the model)."""
