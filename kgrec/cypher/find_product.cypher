// One product by id (empty when there is none): id and title.
MATCH (p:Product {id: $id}) RETURN p.id AS id, p.title AS title
