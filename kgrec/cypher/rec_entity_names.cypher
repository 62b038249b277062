// Entity names by id for explanations; a missing name falls back to the id.
MATCH (e:Entity) WHERE e.id IN $ids RETURN e.id AS id, e.name AS name
