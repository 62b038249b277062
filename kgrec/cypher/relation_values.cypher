// Distinct values of the relation property of one relationship type (e.g. the film.* relations of RELATED_TO).
MATCH (:{{src_label}})-[r:{{rel_type}}]->(:{{dst_label}}) RETURN DISTINCT r.relation AS relation ORDER BY relation
