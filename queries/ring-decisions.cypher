// @name: ring-decisions
// The analyst decisions taken on rings, newest first: who, when, from which status to
// which, on the whole ring or on some members, and why.
// @param ring_id: string = null -- one ring (null: every ring)
// @param since: datetime = 2000-01-01T00:00:00Z -- decisions at or after this time
// @returns: at, ring_id, analyst, previous_status, status, members, reason
// @writes: false
MATCH (d:Decision)-[:ON]->(r:Ring)
WHERE ($ring_id IS NULL OR r.id = $ring_id) AND d.at >= $since
RETURN d.at AS at, r.id AS ring_id, d.analyst AS analyst, d.previous_status AS previous_status,
       d.status AS status, d.members AS members, d.reason AS reason
ORDER BY at DESC, ring_id
