// @name: young-account-templates
// Prompt templates used mostly by young accounts: accounts that first used the template
// within max_age_days of signing up. Farms burn fresh accounts on their templates
// (and so do benchmark-running researchers: see in_rings).
// @param max_age_days: int = 3 -- an account is young if its first use came this many days after sign-up or sooner
// @param min_accounts: int = 5 -- least number of accounts using the template
// @param min_young_share: float = 0.8 -- least share of those accounts that are young
// @returns: template_hash, capability, accounts, young_accounts, young_share, in_rings
// @writes: false
MATCH (a:Account)-[u:USED_TEMPLATE]->(t:PromptTemplate)
WITH t, a, duration.inSeconds(a.created_at, u.first_seen).seconds <= $max_age_days * 86400 AS young
WITH t, count(a) AS accounts, count(CASE WHEN young THEN 1 END) AS young_accounts
WHERE accounts >= $min_accounts AND young_accounts >= $min_young_share * accounts
RETURN t.hash AS template_hash, t.capability AS capability, accounts, young_accounts,
       round(toFloat(young_accounts) / accounts, 3) AS young_share,
       COUNT { MATCH (t)<-[:USED_TEMPLATE]-(m:Account) WHERE EXISTS { (m)-[:MEMBER_OF]->(:Ring) } } AS in_rings
ORDER BY young_share DESC, accounts DESC, template_hash
