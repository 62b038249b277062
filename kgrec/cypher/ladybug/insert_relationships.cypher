// Bulk-copy new relationships from the Arrow table bound to _rows (src, dst, then every property).
COPY {{rel_type}} FROM _rows
