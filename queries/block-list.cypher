// @name: block-list
// The block list: accounts of decided rings, as enforcement consumes it.
// An account is listed when its ring has one of the statuses (and the account itself
// was not given another status), or when the account alone was given that status by a
// member decision (MEMBER_OF.status). Decided by / at are those of the ring's latest
// decision, or of the member's own. `ringwatch export` and the app run this same query.
// @param statuses: list = ["blocked"] -- ring or member statuses to list
// @param min_score: float = null -- only rings scoring at least this much (null: any)
// @returns: account_id, ring_id, ring_score, status, reason, decided_by, decided_at, is_new
// @writes: false
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring)
WITH a, m, r, coalesce(m.status, r.status) AS status
WHERE status IN $statuses AND ($min_score IS NULL OR r.score >= $min_score)
OPTIONAL CALL (r, m) {
  MATCH (d:Decision)-[:ON]->(r)
  WHERE d.members IS NULL OR (m.status IS NOT NULL AND d.status = m.status)
  RETURN d ORDER BY d.at DESC LIMIT 1
}
RETURN a.id AS account_id, r.id AS ring_id, r.score AS ring_score, status, r.reason AS reason,
       d.analyst AS decided_by, toString(d.at) AS decided_at, coalesce(m.is_new, false) AS is_new
ORDER BY ring_id, account_id
