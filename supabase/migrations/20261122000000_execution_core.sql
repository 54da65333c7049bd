-- execbox core schema: sessions (the queue), their log lines and containers.
--
-- Who writes what:
--   * a signed-in user (role `authenticated`) inserts pending sessions for
--     themself, reads their own rows and may request a cancel;
--   * the worker (service role, or the database owner it connects as) claims
--     sessions and writes status, logs and containers;
--   * anon can do nothing.

-- ---------------------------------------------------------------------------
-- Sessions
-- ---------------------------------------------------------------------------
create table public.backend_execution_sessions (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  room_id uuid,
  session_name text,
  language text not null,
  code text not null,
  stdin text,
  timeout_ms integer,
  memory_limit_mb integer,
  status text not null default 'pending',
  exit_code integer,
  error text,
  cancel_requested_at timestamptz,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  -- Worker bookkeeping: which claim (attempt) owns the run, by whom, until when.
  attempt integer not null default 0,
  claimed_by text,
  lease_expires_at timestamptz,

  constraint backend_execution_sessions_status_check check (
    status in ('pending', 'running', 'completed', 'failed', 'timeout', 'cancelled', 'error')
  ),
  -- Hard sanity bounds; the worker enforces its own (lower) configured maxima
  -- and refuses a request above them with a clear error.
  constraint backend_execution_sessions_language_length check (char_length(language) between 1 and 64),
  constraint backend_execution_sessions_session_name_length check (char_length(session_name) <= 200),
  constraint backend_execution_sessions_code_size check (octet_length(code) <= 1048576),
  constraint backend_execution_sessions_stdin_size check (octet_length(stdin) <= 1048576),
  constraint backend_execution_sessions_timeout_positive check (timeout_ms > 0),
  constraint backend_execution_sessions_memory_positive check (memory_limit_mb > 0)
);

comment on table public.backend_execution_sessions is
  'One requested run of untrusted code. Insert a pending row to run code; execbox workers claim it.';
comment on column public.backend_execution_sessions.attempt is
  'Incremented by every claim; a worker''s writes are fenced on (id, attempt).';

create index backend_execution_sessions_pending_idx
  on public.backend_execution_sessions (created_at)
  where status = 'pending';
create index backend_execution_sessions_lease_idx
  on public.backend_execution_sessions (lease_expires_at)
  where status = 'running';
create index backend_execution_sessions_user_idx
  on public.backend_execution_sessions (user_id, created_at desc);

-- ---------------------------------------------------------------------------
-- Log lines
-- ---------------------------------------------------------------------------
create table public.execution_logs (
  id bigint generated always as identity primary key,
  session_id uuid not null references public.backend_execution_sessions (id) on delete cascade,
  -- Copied from the session by the worker so that the RLS check Realtime runs
  -- for every subscriber and every row is a column comparison, not a join.
  user_id uuid not null,
  seq integer not null,
  stream text not null,
  level text not null,
  message text not null,
  created_at timestamptz not null default now(),
  constraint execution_logs_session_seq_key unique (session_id, seq),
  constraint execution_logs_seq_positive check (seq >= 1),
  constraint execution_logs_stream_check check (stream in ('stdout', 'stderr', 'system')),
  constraint execution_logs_level_check check (level in ('debug', 'info', 'warn', 'error'))
);

-- ---------------------------------------------------------------------------
-- Containers
-- ---------------------------------------------------------------------------
create table public.container_instances (
  id uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.backend_execution_sessions (id) on delete cascade,
  attempt integer not null,
  worker_id text not null,
  container_id text,
  image text not null,
  status text not null default 'creating',
  exit_code integer,
  oom_killed boolean,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  removed_at timestamptz,
  constraint container_instances_status_check check (
    status in ('creating', 'created', 'running', 'exited', 'removed', 'failed')
  )
);

create index container_instances_session_idx on public.container_instances (session_id);

-- ---------------------------------------------------------------------------
-- Triggers: wake workers, and make cancel requests safe
-- ---------------------------------------------------------------------------

-- NOTIFY the row's id on the channel named by the trigger's argument. The
-- payload is only the id: NOTIFY is a hint, the table is the truth.
create function public.execbox_notify_id() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify(tg_argv[0], new.id::text);
  return null;
end
$$;

-- A new pending session wakes the workers.
create trigger execbox_session_inserted
  after insert on public.backend_execution_sessions
  for each row when (new.status = 'pending')
  execute function public.execbox_notify_id('execbox_session');

-- A cancel request is stamped with the database clock, cannot be withdrawn,
-- and cancels a still-pending session on the spot (no worker needed).
create function public.execbox_cancel_request() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.cancel_requested_at is not null then
    new.cancel_requested_at := old.cancel_requested_at;
  elsif new.cancel_requested_at is not null then
    new.cancel_requested_at := now();
    if old.status = 'pending' then
      new.status := 'cancelled';
      new.error := 'cancelled by the owner before it started';
      new.finished_at := now();
    end if;
  end if;
  return new;
end
$$;

create trigger execbox_cancel_requested
  before update of cancel_requested_at on public.backend_execution_sessions
  for each row
  execute function public.execbox_cancel_request();

-- Running sessions: tell the workers to kill the container now.
create trigger execbox_cancel_notified
  after update of cancel_requested_at on public.backend_execution_sessions
  for each row
  when (old.cancel_requested_at is null and new.cancel_requested_at is not null and new.status = 'running')
  execute function public.execbox_notify_id('execbox_cancel');

-- ---------------------------------------------------------------------------
-- Row-level security and grants
-- ---------------------------------------------------------------------------
alter table public.backend_execution_sessions enable row level security;
alter table public.execution_logs enable row level security;
alter table public.container_instances enable row level security;

revoke all on public.backend_execution_sessions, public.execution_logs, public.container_instances
  from anon, authenticated;

-- Users: request columns only; status, results and bookkeeping are the worker's.
grant select on public.backend_execution_sessions to authenticated;
grant insert (id, user_id, room_id, session_name, language, code, stdin, timeout_ms, memory_limit_mb)
  on public.backend_execution_sessions to authenticated;
grant update (cancel_requested_at) on public.backend_execution_sessions to authenticated;
grant select on public.execution_logs to authenticated;
grant select on public.container_instances to authenticated;

grant all on public.backend_execution_sessions, public.execution_logs, public.container_instances
  to service_role;

create policy "owners read their sessions"
  on public.backend_execution_sessions for select to authenticated
  using (user_id = (select auth.uid()));

create policy "users create pending sessions for themselves"
  on public.backend_execution_sessions for insert to authenticated
  with check (user_id = (select auth.uid()) and status = 'pending');

create policy "owners request a cancel of unfinished sessions"
  on public.backend_execution_sessions for update to authenticated
  using (user_id = (select auth.uid()) and status in ('pending', 'running'))
  with check (user_id = (select auth.uid()));

create policy "owners read their logs"
  on public.execution_logs for select to authenticated
  using (user_id = (select auth.uid()));

create policy "owners read their containers"
  on public.container_instances for select to authenticated
  using (
    exists (
      select 1 from public.backend_execution_sessions s
      where s.id = session_id and s.user_id = (select auth.uid())
    )
  );

-- ---------------------------------------------------------------------------
-- Realtime: browsers follow logs and status changes (RLS decides who sees what)
-- ---------------------------------------------------------------------------
alter publication supabase_realtime add table public.execution_logs, public.backend_execution_sessions;
