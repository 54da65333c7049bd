-- Least privilege, and nothing for Supabase's advisor to warn about.
--
-- * Two NOLOGIN roles hold what execbox's processes may do: execbox_worker
--   (claim, heartbeat, finish, logs, containers, presence) and execbox_api
--   (what an API node reads and writes outside a user's own RLS context,
--   and the right to act as `authenticated` for users' writes). A deployer
--   makes a login role that inherits one (README: "Roles"); only
--   `execbox migrate` needs the owner.
-- * SECURITY DEFINER functions move to the schema execbox_private, which
--   the Data API does not expose; trigger functions are executable by
--   nobody; create_api_key runs as its caller, over RLS.
-- * Every table with RLS has a policy; foreign keys have indexes.
--
-- Rolling upgrade: a worker or API node of the previous version keeps
-- working while this applies (it connects as the owner; the functions it
-- calls, public.execbox_admit and public.create_api_key, keep their
-- signatures).

-- ---------------------------------------------------------------------------
-- Roles
-- ---------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_roles where rolname = 'execbox_worker') then
    create role execbox_worker nologin;
  end if;
  -- NOINHERIT: a login role of the API gets execbox_api's grants, not
  -- authenticated's; it becomes authenticated only by SET LOCAL ROLE, in
  -- a user's transaction.
  if not exists (select from pg_roles where rolname = 'execbox_api') then
    create role execbox_api nologin noinherit;
  end if;
end
$$;
comment on role execbox_worker is
  'execbox workers: claim sessions, write their logs, outcome and containers, keep presence. Grant it to a login role.';
comment on role execbox_api is
  'execbox API nodes: read sessions for their owners, check API keys and limits, write as a user by SET LOCAL ROLE authenticated. Grant it to a login role.';

-- On PostgreSQL 16 and later granting a role needs its ADMIN OPTION; where
-- the migrating role lacks it, this says what to run instead.
do $$
begin
  grant authenticated to execbox_api;
exception when insufficient_privilege then
  raise warning 'cannot grant authenticated to execbox_api (%): run `grant authenticated to execbox_api` as a role that may; `execbox doctor` checks it', sqlerrm;
end
$$;

grant usage on schema public to execbox_worker, execbox_api;
-- API keys are hashed in SQL (pgcrypto's digest, in `extensions` as on
-- Supabase).
do $$
begin
  if exists (select from pg_namespace where nspname = 'extensions') then
    grant usage on schema extensions to execbox_api;
  end if;
end
$$;

-- Both may read which migrations a database has (`execbox doctor`).
do $$
begin
  if to_regclass('supabase_migrations.schema_migrations') is not null then
    grant usage on schema supabase_migrations to execbox_worker, execbox_api;
    grant select on supabase_migrations.schema_migrations to execbox_worker, execbox_api;
  end if;
end
$$;

-- The worker.
grant select on public.backend_execution_sessions to execbox_worker;
grant update (status, attempt, claimed_by, started_at, lease_expires_at, end_reason, exit_code, error, result, usage,
              finished_at)
  on public.backend_execution_sessions to execbox_worker;
grant select, insert on public.execution_logs to execbox_worker;
grant select, insert, update on public.container_instances to execbox_worker;
grant select on public.session_input to execbox_worker;
grant select, insert, update, delete on public.execbox_workers to execbox_worker;

create policy "execbox workers run every session" on public.backend_execution_sessions
  for all to execbox_worker using (true) with check (true);
create policy "execbox workers write every session's logs" on public.execution_logs
  for all to execbox_worker using (true) with check (true);
create policy "execbox workers keep every container" on public.container_instances
  for all to execbox_worker using (true) with check (true);
create policy "execbox workers read every session's input" on public.session_input
  for select to execbox_worker using (true);
create policy "execbox workers keep their presence" on public.execbox_workers
  for all to execbox_worker using (true) with check (true);

-- The API node. Its reads name the owner in every statement (db::sessions,
-- db::follow); users' writes go through SET LOCAL ROLE authenticated.
grant select on public.backend_execution_sessions, public.execution_logs, public.container_instances,
                public.execbox_workers, public.judge0_submissions
  to execbox_api;
grant select (id, user_id, key_hash, revoked_at, last_used_at), update (last_used_at)
  on public.execbox_api_keys to execbox_api;
grant select, insert, update, delete on public.execbox_rate_buckets to execbox_api;
grant select, insert on public.execbox_session_clients to execbox_api;
grant execute on function public.execbox_admit(text, double precision, uuid, text, bigint) to execbox_api;

create policy "execbox API nodes read every session" on public.backend_execution_sessions
  for select to execbox_api using (true);
create policy "execbox API nodes read every session's logs" on public.execution_logs
  for select to execbox_api using (true);
create policy "execbox API nodes read every container" on public.container_instances
  for select to execbox_api using (true);
create policy "execbox API nodes read workers' presence" on public.execbox_workers
  for select to execbox_api using (true);
create policy "execbox API nodes read every Judge0 token" on public.judge0_submissions
  for select to execbox_api using (true);
create policy "execbox API nodes check keys and note their use" on public.execbox_api_keys
  for all to execbox_api using (true) with check (true);
create policy "execbox API nodes keep the rate limits" on public.execbox_rate_buckets
  for all to execbox_api using (true) with check (true);
create policy "execbox API nodes count sessions per client address" on public.execbox_session_clients
  for all to execbox_api using (true) with check (true);

-- ---------------------------------------------------------------------------
-- SECURITY DEFINER functions out of the Data API's reach
-- ---------------------------------------------------------------------------
create schema if not exists execbox_private;
comment on schema execbox_private is
  'execbox''s SECURITY DEFINER helpers (RLS policies, triggers, open Piston mode); never exposed through the Data API.';
revoke all on schema execbox_private from public;
grant usage on schema execbox_private to authenticated, execbox_api;

-- Broadcasts: the functions of 20261202000000 and 20261202040000, in the
-- private schema; their triggers follow them.
create function execbox_private.broadcast_logs() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  chunk record;
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    return null;
  end if;
  for chunk in
    select session_id,
           jsonb_agg(
             jsonb_build_object('seq', seq, 'stream', stream, 'stage', stage, 'message', message, 'newline', newline)
               || case when case_index is null then '{}'::jsonb else jsonb_build_object('case', case_index) end
             order by seq
           ) as lines
    from (
      select r.session_id, r.seq, r.stream, r.stage, r.message, r.newline, r.case_index,
             (sum(octet_length(r.message) + 80) over w - octet_length(r.message) - 80) / 200000 as by_size,
             (row_number() over w - 1) / 1000 as by_count
      from new_rows r
      window w as (partition by r.session_id order by r.seq)
    ) numbered
    group by session_id, by_size, by_count
    order by session_id, min(seq)
  loop
    perform realtime.send(
      jsonb_build_object('lines', chunk.lines), 'logs', 'session:' || chunk.session_id::text, true
    );
  end loop;
  return null;
end
$$;
comment on function execbox_private.broadcast_logs() is
  'Broadcasts each batch of new execution_logs rows on the private topic session:<id>, in chunks below the payload limit.';

create function execbox_private.broadcast_status() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    return null;
  end if;
  perform realtime.send(
    jsonb_build_object(
      'status', new.status,
      'exit_code', new.exit_code,
      'end_reason', new.end_reason,
      'error', new.error,
      'usage', new.usage
    ),
    'status',
    'session:' || new.id::text,
    true
  );
  return null;
end
$$;
comment on function execbox_private.broadcast_status() is
  'Broadcasts a session''s status changes (running, then its terminal status with exit code, end reason and error) on session:<id>.';

drop trigger execbox_logs_broadcast on public.execution_logs;
create trigger execbox_logs_broadcast
  after insert on public.execution_logs
  referencing new table as new_rows
  for each statement
  execute function execbox_private.broadcast_logs();
drop trigger execbox_session_status_broadcast on public.backend_execution_sessions;
create trigger execbox_session_status_broadcast
  after update of status on public.backend_execution_sessions
  for each row
  when (old.status is distinct from new.status)
  execute function execbox_private.broadcast_status();
drop function public.execbox_broadcast_logs();
drop function public.execbox_broadcast_status();

-- Who may receive on a session topic: called by Realtime's join check, as
-- the joining user, from the policy on realtime.messages.
create function execbox_private.may_receive(topic text) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select s.user_id = auth.uid()
     from public.backend_execution_sessions s
     where s.id = public.execbox_topic_session(topic)),
    public.execbox_topic_session(topic) is not null and auth.uid() is not null
  )
$$;
comment on function execbox_private.may_receive(text) is
  'Whether the calling user may receive on a Realtime topic: their own session''s, or an id nobody has used yet.';

do $$
begin
  if to_regclass('realtime.messages') is not null then
    execute $policy$
      drop policy "execbox: owners receive their sessions' broadcasts" on realtime.messages
    $policy$;
    execute $policy$
      create policy "execbox: owners receive their sessions' broadcasts"
        on realtime.messages for select to authenticated
        using (
          realtime.messages.extension = 'broadcast'
          and realtime.messages.topic = (select realtime.topic())
          and (select execbox_private.may_receive(realtime.topic()))
        )
    $policy$;
  end if;
end
$$;
drop function public.execbox_may_receive(text);

-- Open Piston mode's anonymous user, created by an API node in auth.users
-- (which the API's role may not write).
create function execbox_private.ensure_anonymous_user(p_id uuid) returns void
language sql
security definer
set search_path = ''
as $$
  insert into auth.users (instance_id, id, aud, role, is_anonymous, raw_app_meta_data, raw_user_meta_data)
  values ('00000000-0000-0000-0000-000000000000', p_id, 'authenticated', 'authenticated', true,
          '{"provider": "anonymous", "providers": ["anonymous"]}', '{"execbox": "open Piston mode"}')
  on conflict (id) do nothing
$$;
comment on function execbox_private.ensure_anonymous_user(uuid) is
  'Creates open Piston mode''s anonymous user (as Supabase Auth marks one) unless it exists; for execbox API nodes.';

-- Executable only by whom must call them (functions are executable by
-- PUBLIC unless revoked; on Supabase default privileges may also grant
-- anon and authenticated directly).
revoke all on all functions in schema execbox_private from public, anon, authenticated, service_role;
grant execute on function execbox_private.may_receive(text) to authenticated;
grant execute on function execbox_private.ensure_anonymous_user(uuid) to execbox_api;

-- Trigger functions run as triggers only: nobody executes them.
revoke all on function public.execbox_notify_id(), public.execbox_cancel_request(),
                       public.execbox_notify_session_rows(), public.execbox_api_key_revoke()
  from public, anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- create_api_key: as its caller, over RLS
-- ---------------------------------------------------------------------------
-- A signed-in user may insert a key row of their own (only the columns a
-- key is made of); the function makes the key, so the row it inserts is
-- the caller's under RLS. Inserting a hash directly gains a user nothing
-- create_api_key does not give them.
grant insert (user_id, name, prefix, key_hash) on public.execbox_api_keys to authenticated;
create policy "users make keys for themselves" on public.execbox_api_keys
  for insert to authenticated
  with check (user_id = (select auth.uid()) and revoked_at is null and last_used_at is null);

create or replace function public.create_api_key(name text) returns text
language plpgsql
security invoker
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
revoke all on function public.create_api_key(text) from public, anon;
grant execute on function public.create_api_key(text) to authenticated;

-- ---------------------------------------------------------------------------
-- Indexes for the foreign keys the advisor found bare
-- ---------------------------------------------------------------------------
create index if not exists judge0_submissions_user_id_idx on public.judge0_submissions (user_id);
create index if not exists session_input_user_id_idx on public.session_input (user_id);
