// Products by id with their titles (explanations, path labels, id checks).
MATCH (p:Product) WHERE p.id IN $ids RETURN p.id AS id, p.title AS title
