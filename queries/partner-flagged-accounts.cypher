// @name: partner-flagged-accounts
// Accounts on a partner's indicator list: accounts that use a payment method, IP address
// or prompt template a partner lab flagged (`ringwatch indicators import`), with the
// ring they are in, if any.
// @param source: string = null -- partner name given to `indicators import --source` (null: any partner)
// @returns: account_id, ring_id, ring_status, sources, flagged_entities, entities
// @writes: false
MATCH (pi:PartnerIndicator)-[:FLAGS]->(e)
WHERE $source IS NULL OR pi.source = $source
CALL (e) {
  MATCH (a:Account)-[:PAID_WITH|USED_IP|USED_TEMPLATE]->(e)
  RETURN a
  UNION
  MATCH (a:Account)
  WHERE a = e
  RETURN a
}
WITH a, pi, e, pi.kind + ':' + coalesce(e.fingerprint, e.address, e.hash, e.name, e.id) AS entity
ORDER BY pi.source, entity
WITH a, collect(DISTINCT pi.source) AS sources, collect(DISTINCT entity) AS entities
OPTIONAL MATCH (a)-[m:MEMBER_OF]->(r:Ring)
RETURN a.id AS account_id, r.id AS ring_id, coalesce(m.status, r.status) AS ring_status, sources,
       size(entities) AS flagged_entities, entities
ORDER BY flagged_entities DESC, account_id
