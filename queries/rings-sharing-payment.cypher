// @name: rings-sharing-payment
// Pairs of rings whose members pay with the same payment instrument (equal fingerprint):
// one operator behind two farms, or one farm that detection split in two.
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- statuses of the rings to compare
// @param min_shared: int = 1 -- least number of shared payment methods for a pair to be listed
// @returns: ring_a, status_a, ring_b, status_b, shared_methods, fingerprints
// @writes: false
MATCH (r:Ring)<-[:MEMBER_OF]-(:Account)-[:PAID_WITH]->(p:PaymentMethod)
WHERE r.status IN $statuses
WITH p, collect(DISTINCT r) AS rings
WHERE size(rings) >= 2
UNWIND rings AS ra
UNWIND rings AS rb
WITH p, ra, rb
WHERE ra.id < rb.id
WITH ra, rb, p.fingerprint AS fingerprint
ORDER BY fingerprint
WITH ra, rb, collect(fingerprint) AS fingerprints
WHERE size(fingerprints) >= $min_shared
RETURN ra.id AS ring_a, ra.status AS status_a, rb.id AS ring_b, rb.status AS status_b,
       size(fingerprints) AS shared_methods, fingerprints
ORDER BY shared_methods DESC, ring_a, ring_b
