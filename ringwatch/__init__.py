"""ringwatch: find fake-account rings in a Neo4j graph."""
