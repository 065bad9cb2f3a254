// @name: ring-members
// Members of one ring with the evidence that put each of them there: the bound cards,
// templates and addresses it holds (MEMBER_OF.evidence), its strength, whether it joined
// after the ring was first detected, and how much it links to.
// @param ring_id: string -- the ring, e.g. R-000042
// @returns: account_id, created_at, status, is_new, strength, evidence, payment_methods, ips, templates, partner_flags
// @writes: false
MATCH (a:Account)-[m:MEMBER_OF]->(r:Ring {id: $ring_id})
RETURN a.id AS account_id, a.created_at AS created_at, coalesce(m.status, r.status) AS status,
       coalesce(m.is_new, false) AS is_new, m.strength AS strength, m.evidence AS evidence,
       COUNT { (a)-[:PAID_WITH]->() } AS payment_methods,
       COUNT { (a)-[:USED_IP]->() } AS ips,
       COUNT { (a)-[:USED_TEMPLATE]->() } AS templates,
       a.partner_flags AS partner_flags
ORDER BY strength DESC, account_id
