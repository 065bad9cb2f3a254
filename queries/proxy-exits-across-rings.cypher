// @name: proxy-exits-across-rings
// Exit addresses of proxy and VPN services that members of several rings send traffic
// from: a proxy pool shared by farms (or a popular exit that says little; see accounts
// and all_accounts).
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- statuses of the rings
// @param min_rings: int = 2 -- least number of rings using the exit
// @returns: proxy, address, ip_type, ring_count, rings, accounts, all_accounts
// @writes: false
MATCH (r:Ring)<-[:MEMBER_OF]-(a:Account)-[:USED_IP]->(i:IP)-[:EXIT_OF]->(x:Proxy)
WHERE r.status IN $statuses
WITH x, i, r, count(DISTINCT a) AS members
ORDER BY r.id
WITH x, i, collect(r.id) AS rings, sum(members) AS accounts
WHERE size(rings) >= $min_rings
RETURN x.name AS proxy, i.address AS address, i.ip_type AS ip_type, size(rings) AS ring_count, rings,
       accounts, COUNT { (i)<-[:USED_IP]-(:Account) } AS all_accounts
ORDER BY ring_count DESC, proxy, address
