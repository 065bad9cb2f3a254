// @name: bins-behind-rings
// Payment BINs (issuer prefixes) behind many rings: an issuer of prepaid or virtual
// cards that farms keep buying from.
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- statuses of the rings
// @param min_rings: int = 2 -- least number of rings paying with cards of the BIN
// @returns: bin, ring_count, rings, cards, accounts, method_types, issuer_countries
// @writes: false
MATCH (r:Ring)<-[:MEMBER_OF]-(a:Account)-[:PAID_WITH]->(p:PaymentMethod)
WHERE r.status IN $statuses AND p.bin IS NOT NULL
WITH p.bin AS bin, r, a, p
ORDER BY r.id
WITH bin, collect(DISTINCT r.id) AS rings, count(DISTINCT p) AS cards, count(DISTINCT a) AS accounts,
     collect(DISTINCT p.method_type) AS method_types, collect(DISTINCT p.issuer_country) AS issuer_countries
WHERE size(rings) >= $min_rings
RETURN bin, size(rings) AS ring_count, rings, cards, accounts, method_types, issuer_countries
ORDER BY ring_count DESC, bin
