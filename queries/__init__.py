"""The query library: named Cypher investigations, shipped as package data (see graph.library.catalog)."""
