-- API keys for clients that cannot hold a Supabase session (CLIs, Judge0
-- and Piston client libraries, servers): a key acts as its owner, under the
-- owner's RLS, until it is revoked. Only a hash is stored; the key itself is
-- shown once, when it is made.

create table public.execbox_api_keys (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  name text not null,
  -- The key's first characters, to tell keys apart in a list.
  prefix text not null,
  -- sha256 of the key, hex.
  key_hash text not null unique,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz,
  constraint execbox_api_keys_name_length check (char_length(name) between 1 and 100)
);

comment on table public.execbox_api_keys is
  'API keys: each acts as its owner (RLS applies as for the owner''s access token) until revoked. Made by create_api_key().';
comment on column public.execbox_api_keys.id is 'The key''s id (to list and revoke it).';
comment on column public.execbox_api_keys.user_id is 'The owner the key acts as.';
comment on column public.execbox_api_keys.name is 'What the owner called it.';
comment on column public.execbox_api_keys.prefix is 'The key''s first characters, to tell keys apart.';
comment on column public.execbox_api_keys.key_hash is 'sha256 of the key (hex); the key itself is never stored.';
comment on column public.execbox_api_keys.created_at is 'When it was made.';
comment on column public.execbox_api_keys.last_used_at is 'When it last authenticated a request (to the minute).';
comment on column public.execbox_api_keys.revoked_at is 'When the owner revoked it; a revoked key is refused at once.';

create index execbox_api_keys_user_idx on public.execbox_api_keys (user_id, created_at desc);

alter table public.execbox_api_keys enable row level security;
revoke all on public.execbox_api_keys from anon, authenticated;
grant select (id, user_id, name, prefix, created_at, last_used_at, revoked_at) on public.execbox_api_keys to authenticated;
grant update (revoked_at) on public.execbox_api_keys to authenticated;
grant all on public.execbox_api_keys to service_role;

create policy "owners see their keys"
  on public.execbox_api_keys for select to authenticated
  using (user_id = (select auth.uid()));

create policy "owners revoke their keys"
  on public.execbox_api_keys for update to authenticated
  using (user_id = (select auth.uid()))
  with check (user_id = (select auth.uid()) and revoked_at is not null);

-- A revocation is stamped by the database and cannot be withdrawn.
create function public.execbox_api_key_revoke() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.revoked_at is not null then
    new.revoked_at := old.revoked_at;
  elsif new.revoked_at is not null then
    new.revoked_at := now();
  end if;
  return new;
end
$$;

create trigger execbox_api_key_revoked
  before update of revoked_at on public.execbox_api_keys
  for each row
  execute function public.execbox_api_key_revoke();

-- Makes a key for the signed-in user (callable through the Supabase client:
-- `supabase.rpc('create_api_key', {name})`); returns the key, once.
create function public.create_api_key(name text) returns text
language plpgsql
security definer
set search_path = ''
as $$
declare
  owner uuid := auth.uid();
  key text;
begin
  if owner is null then
    raise exception 'create_api_key needs a signed-in user' using errcode = '42501';
  end if;
  key := 'exb_' || encode(extensions.gen_random_bytes(32), 'hex');
  insert into public.execbox_api_keys (user_id, name, prefix, key_hash)
  values (owner, name, left(key, 12), encode(extensions.digest(key, 'sha256'), 'hex'));
  return key;
end
$$;

comment on function public.create_api_key(text) is
  'Makes an API key for the signed-in user and returns it; only its hash is kept, so it is shown this once.';

revoke all on function public.create_api_key(text) from public, anon;
grant execute on function public.create_api_key(text) to authenticated;
