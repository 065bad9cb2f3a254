// @name: rings
// Rings by status and score, with their size, new members, members awaiting review and
// latest decision on the whole ring.
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- ring statuses to list (also: watch, dismissed, retired)
// @param min_score: float = 0.0 -- only rings scoring at least this much
// @returns: ring_id, status, score, size, new_members, awaiting, needs_review, first_detected, decided_by, decided_at, reason
// @writes: false
MATCH (r:Ring)
WHERE r.status IN $statuses AND r.score >= $min_score
RETURN r.id AS ring_id, r.status AS status, round(r.score, 3) AS score, r.size AS size,
       coalesce(r.new_members, 0) AS new_members, coalesce(r.awaiting, 0) AS awaiting,
       coalesce(r.needs_review, false) AS needs_review, r.first_detected AS first_detected,
       r.decided_by AS decided_by, r.decided_at AS decided_at, r.reason AS reason
ORDER BY score DESC, ring_id
