// @name: within-k-hops
// Everything linked to an account within k hops (any relationship, either direction):
// its cards, addresses and templates, the accounts sharing them, their rings, and so on.
// Each node is listed once, at its shortest distance. Cypher cannot take a path bound as
// a parameter, so the search is unrolled to 4 hops and each hop runs only when k reaches
// it (k above 4 acts as 4). A node linked to more than max_fanout others (a VPN exit, a
// public template, a big ASN) is listed but not expanded through.
// @param account_id: string -- the account to start from
// @param k: int = 2 -- hops, 1 to 4
// @param max_fanout: int = 200 -- do not expand through nodes with more relationships than this
// @returns: hops, kind, key, degree, expanded, detail
// @writes: false
MATCH (start:Account {id: $account_id})
CALL (start) {
  MATCH (start)--(n)
  WHERE $k >= 1
  WITH DISTINCT n
  RETURN collect(n) AS walk1
}
CALL (walk1) {
  UNWIND walk1 AS f
  WITH f
  WHERE $k >= 2 AND COUNT { (f)--() } <= $max_fanout
  MATCH (f)--(n)
  WITH DISTINCT n
  RETURN collect(n) AS walk2
}
CALL (walk2) {
  UNWIND walk2 AS f
  WITH f
  WHERE $k >= 3 AND COUNT { (f)--() } <= $max_fanout
  MATCH (f)--(n)
  WITH DISTINCT n
  RETURN collect(n) AS walk3
}
CALL (walk3) {
  UNWIND walk3 AS f
  WITH f
  WHERE $k >= 4 AND COUNT { (f)--() } <= $max_fanout
  MATCH (f)--(n)
  WITH DISTINCT n
  RETURN collect(n) AS walk4
}
UNWIND [x IN walk1 | {n: x, hops: 1}] + [x IN walk2 | {n: x, hops: 2}] + [x IN walk3 | {n: x, hops: 3}]
       + [x IN walk4 | {n: x, hops: 4}] AS reached
WITH start, reached.n AS n, min(reached.hops) AS hops
WHERE n <> start
WITH n, hops, labels(n)[0] AS kind, COUNT { (n)--() } AS degree
RETURN hops, kind,
       coalesce(n.id, n.fingerprint, n.address, n.hash, n.name, toString(n.number), n.key, elementId(n)) AS key,
       degree, hops < $k AND hops < 4 AND degree <= $max_fanout AS expanded,
       CASE kind
         WHEN 'Account' THEN 'created ' + toString(date(n.created_at)) + coalesce(', ' + n.country, '')
         WHEN 'Ring' THEN n.status + ', score ' + toString(round(n.score, 2)) + ', ' + toString(n.size) + ' members'
         WHEN 'IP' THEN coalesce(n.ip_type, '?') + coalesce(', ' + n.proxy_provider, '') + coalesce(', ' + n.as_org, '')
         WHEN 'PaymentMethod' THEN coalesce(n.method_type, '?') + coalesce(', BIN ' + n.bin, '')
         WHEN 'PromptTemplate' THEN coalesce(n.capability, '?')
         WHEN 'Decision' THEN n.status + ' by ' + n.actor
         ELSE null
       END AS detail
ORDER BY hops, kind, key
