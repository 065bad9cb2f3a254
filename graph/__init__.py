"""Everything that talks to Neo4j: connection, local server, schema, detection, scoring."""
