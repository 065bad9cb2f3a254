// @name: ring-capability-mix
// What each ring asks the model for: per ring and capability, the members using it, their
// requests and the share of the ring's template traffic. Distillers lean on reasoning,
// coding, tool use, agentic and extraction.
// @param statuses: list = ["suspected", "confirmed", "blocked"] -- statuses of the rings
// @returns: ring_id, status, score, capability, accounts, requests, share
// @writes: false
MATCH (r:Ring)
WHERE r.status IN $statuses
MATCH (r)<-[:MEMBER_OF]-(a:Account)-[u:USED_TEMPLATE]->(t:PromptTemplate)
WITH r, coalesce(u.capability, t.capability, 'unknown') AS capability, count(DISTINCT a) AS accounts,
     sum(u.requests) AS requests
WITH r, collect({capability: capability, accounts: accounts, requests: requests}) AS caps, sum(requests) AS total
UNWIND caps AS c
RETURN r.id AS ring_id, r.status AS status, round(r.score, 3) AS score, c.capability AS capability,
       c.accounts AS accounts, c.requests AS requests, round(toFloat(c.requests) / total, 4) AS share
ORDER BY score DESC, ring_id, requests DESC, capability
