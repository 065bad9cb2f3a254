// @name: ring-decisions
// The decisions taken on rings, newest first: who (the logged-in identity, its role and
// channel), when, what (decide, extend, approve, undo), from which status to which, on
// how many accounts (with the SHA-256 of their sorted ids), and why.
// @param ring_id: string = null -- one ring (null: every ring)
// @param since: datetime = 2000-01-01T00:00:00Z -- decisions at or after this time
// @returns: at, ring_id, actor, role, channel, action, previous_status, status, scope, member_count, members_sha256, pending, reason
// @writes: false
MATCH (d:Decision)-[:ON]->(r:Ring)
WHERE ($ring_id IS NULL OR r.id = $ring_id) AND d.at >= $since
RETURN d.at AS at, r.id AS ring_id, d.actor AS actor, d.role AS role, d.channel AS channel, d.action AS action,
       d.previous_status AS previous_status, d.status AS status, d.scope AS scope, d.member_count AS member_count,
       d.members_sha256 AS members_sha256, coalesce(d.pending, false) AS pending, d.reason AS reason
ORDER BY at DESC, ring_id
