// Number of nodes with one label ({{label}} is a schema label, never user input).
MATCH (n:{{label}}) RETURN count(n) AS n
