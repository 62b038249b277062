// The largest ingest sequence number of any interaction (null when none has one yet): the next
// ingest numbers its new interactions after it.
MATCH (:User)-[r:INTERACTED]->(:Product) RETURN max(r.seq) AS seq
