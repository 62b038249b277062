// One user by id (recommend, paths, serve): is the id known?
MATCH (u:User) WHERE u.id = $user RETURN u.id AS id, u.name AS name
