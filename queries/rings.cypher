// @name: rings
// Rings by status and score, with their size, new members and latest decision.
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- ring statuses to list (also: watch, dismissed)
// @param min_score: float = 0.0 -- only rings scoring at least this much
// @returns: ring_id, status, score, size, new_members, first_detected, decided_by, decided_at, reason
// @writes: false
MATCH (r:Ring)
WHERE r.status IN $statuses AND r.score >= $min_score
OPTIONAL CALL (r) {
  MATCH (d:Decision)-[:ON]->(r)
  RETURN d ORDER BY d.at DESC LIMIT 1
}
RETURN r.id AS ring_id, r.status AS status, round(r.score, 3) AS score, r.size AS size,
       coalesce(r.new_members, 0) AS new_members, r.first_detected AS first_detected,
       d.analyst AS decided_by, d.at AS decided_at, r.reason AS reason
ORDER BY score DESC, ring_id
