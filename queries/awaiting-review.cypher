// @name: awaiting-review
// Accounts awaiting review: members of a decided ring that no decision covers, because
// they joined it after it was decided. They are never on the block list until someone
// extends the ring's decision to them (the app's "extend" action, `ringwatch extend`).
// @param statuses: list = ["blocked"] -- the decided rings' statuses to look at
// @returns: account_id, ring_id, ring_score, status, joined_run, joined_at, decided_by, decided_at
// @writes: false
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring)
WHERE r.status IN $statuses AND coalesce(m.active, true) AND m.status IS NULL
RETURN a.id AS account_id, r.id AS ring_id, r.score AS ring_score, 'awaiting review' AS status,
       m.joined_run AS joined_run, toString(m.joined_at) AS joined_at, r.decided_by AS decided_by,
       toString(r.decided_at) AS decided_at
ORDER BY ring_id, account_id
