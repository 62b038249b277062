// Hub entities: more RELATED_TO edges than $max_degree (a genre, a country): paths through them
// explain little and multiply the search, so candidate and path queries skip them.
MATCH (e:Entity)-[r:RELATED_TO]-(:Entity)
WITH e, count(r) AS degree
WHERE degree > $max_degree
RETURN e.id AS id, degree
