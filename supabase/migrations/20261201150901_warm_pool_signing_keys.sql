-- A warm-pool unit's machine holds the skill signing public keys of the moment it was built
-- (SKILL_SIGNING_PUBLIC_KEYS in its env). After a rotation those units lack the new key, so skills
-- signed with it would fail to verify on them: the refill retires units whose key-list digest is not
-- the current one. Units made before this column existed have '' and are retired once.
alter table public.warm_pool add column signing_keys_digest text not null default '';
