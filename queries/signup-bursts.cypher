// @name: signup-bursts
// Sign-up bursts: windows of `hours` hours in which a group of accounts (by claimed
// country, e-mail domain, plan, or all together) signed up far more than that group's
// average per window. Farms sign up in tight runs; so do real users after a model
// release, which is why the ring involvement is shown.
// @param since: date = 2025-01-01 -- only accounts created on or after this day
// @param hours: int = 24 -- window width; windows start at multiples of it since 1970-01-01 UTC
// @param by: string = country -- group accounts by: country, email_domain, plan or all
// @param min_accounts: int = 5 -- least sign-ups in the window
// @param min_ratio: float = 5.0 -- least ratio of the window's sign-ups to the group's mean per window
// @returns: window_start, window_end, group, accounts, expected, ratio, in_rings, rings, sample_accounts
// @writes: false
MATCH (a:Account)
WHERE a.created_at >= datetime({date: date($since)})
WITH min(a.created_at.epochSeconds) / ($hours * 3600) AS first, max(a.created_at.epochSeconds) / ($hours * 3600) AS last
WITH last - first + 1 AS windows
MATCH (a:Account)
WHERE a.created_at >= datetime({date: date($since)})
WITH windows, a.created_at.epochSeconds / ($hours * 3600) AS w,
     CASE $by WHEN 'country' THEN coalesce(a.country, '')
              WHEN 'email_domain' THEN coalesce(a.email_domain, '')
              WHEN 'plan' THEN coalesce(a.plan, '')
              ELSE 'all' END AS grp
WITH windows, grp, w, count(*) AS n
WITH windows, grp, collect({w: w, n: n}) AS ws, sum(n) AS total
WITH grp, ws, toFloat(total) / windows AS mean
UNWIND ws AS x
WITH grp, x, mean
WHERE x.n >= $min_accounts AND x.n >= $min_ratio * mean
WITH grp, x.n AS n, mean, datetime({epochSeconds: x.w * $hours * 3600}) AS start
CALL (grp, start) {
  MATCH (a:Account)
  WHERE a.created_at >= start AND a.created_at < start + duration({hours: $hours})
    AND grp = CASE $by WHEN 'country' THEN coalesce(a.country, '')
                       WHEN 'email_domain' THEN coalesce(a.email_domain, '')
                       WHEN 'plan' THEN coalesce(a.plan, '')
                       ELSE 'all' END
  OPTIONAL MATCH (a)-[:MEMBER_OF]->(r:Ring)
  WITH a, r ORDER BY a.created_at
  RETURN count(DISTINCT CASE WHEN r IS NOT NULL THEN a END) AS in_rings, collect(DISTINCT r.id) AS rings,
         collect(DISTINCT a.id)[..10] AS sample_accounts
}
RETURN start AS window_start, start + duration({hours: $hours}) AS window_end, grp AS group, n AS accounts,
       round(mean, 2) AS expected, round(n / mean, 1) AS ratio, in_rings, rings, sample_accounts
ORDER BY ratio DESC, window_start, group
