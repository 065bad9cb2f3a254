// @name: new-ring-members
// Accounts newly joining known rings: members that a detection run added to a ring
// detected in an earlier run (joined after the ring's first detection), since a date.
// A blocked farm that grows back shows up here.
// @param since: date = 2026-01-01 -- joined on or after this day (UTC)
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- statuses of the rings
// @returns: ring_id, ring_status, account_id, created_at, joined_at, joined_run, evidence
// @writes: false
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring)
WHERE r.status IN $statuses
  AND m.joined_at >= datetime({date: date($since)})
  AND m.joined_at > r.first_detected
RETURN r.id AS ring_id, r.status AS ring_status, a.id AS account_id, a.created_at AS created_at,
       m.joined_at AS joined_at, m.joined_run AS joined_run, m.evidence AS evidence
ORDER BY joined_at DESC, ring_id, account_id
