// @name: block-list
// The block list: every account a decision names, as enforcement consumes it.
// An account is listed only when a decision covers it: a decision on its whole ring (the
// members the ring had when it was decided) or a member decision naming it, recorded on
// its membership (MEMBER_OF.status and .decision). Decided by / at are those of *that*
// decision; approved_by names the second person when the block needed approval. Accounts
// that joined a decided ring later are not here: see awaiting-review.
// `ringwatch export` and the app run this same query.
// @param statuses: list = ["blocked"] -- statuses to list
// @param min_score: float = null -- only rings scoring at least this much (null: any)
// @returns: account_id, ring_id, ring_score, status, reason, decided_by, decided_at, decision_id, approved_by
// @writes: false
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring)
WHERE m.status IN $statuses AND ($min_score IS NULL OR r.score >= $min_score)
OPTIONAL MATCH (d:Decision {id: m.decision})
OPTIONAL MATCH (ap:Decision {id: m.approval})
RETURN a.id AS account_id, r.id AS ring_id, r.score AS ring_score, m.status AS status, d.reason AS reason,
       d.actor AS decided_by, toString(d.at) AS decided_at, m.decision AS decision_id, ap.actor AS approved_by
ORDER BY ring_id, account_id
