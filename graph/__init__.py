"""Everything that talks to Neo4j, by concern: db, detection, investigate, review, library, sharing.

vocabulary holds the words all of them use; imports run app/CLI -> ingest -> graph -> vocabulary.
"""
