// Number of relationships of one type ({{rel_type}} is a schema type, never user input).
MATCH ()-[r:{{rel_type}}]->() RETURN count(r) AS n
