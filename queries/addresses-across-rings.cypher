// @name: addresses-across-rings
// IP addresses (of any kind: residential, datacenter, proxy exits...) reused by members
// of several rings.
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- statuses of the rings
// @param min_rings: int = 2 -- least number of rings using the address
// @param ip_types: list = null -- only these ip_type values (null: all)
// @returns: address, ip_type, proxy, as_org, ring_count, rings, accounts, all_accounts
// @writes: false
MATCH (r:Ring)<-[:MEMBER_OF]-(a:Account)-[:USED_IP]->(i:IP)
WHERE r.status IN $statuses AND ($ip_types IS NULL OR i.ip_type IN $ip_types)
WITH i, r, count(DISTINCT a) AS members
ORDER BY r.id
WITH i, collect(r.id) AS rings, sum(members) AS accounts
WHERE size(rings) >= $min_rings
RETURN i.address AS address, i.ip_type AS ip_type, i.proxy_provider AS proxy, i.as_org AS as_org,
       size(rings) AS ring_count, rings, accounts, COUNT { (i)<-[:USED_IP]-(:Account) } AS all_accounts
ORDER BY ring_count DESC, address
