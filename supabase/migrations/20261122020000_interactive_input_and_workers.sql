-- Interactive sessions, extra files and arguments, exact output
-- reconstruction, and the workers' presence.

-- ---------------------------------------------------------------------------
-- Sessions: program arguments, extra files, interactive stdin
-- ---------------------------------------------------------------------------
alter table public.backend_execution_sessions
  add column args text[] not null default '{}',
  -- Extra files beside `code`: [{"name": "util.py", "content": "...", "encoding": "utf8"|"base64"|"hex"}].
  add column files jsonb,
  -- Interactive: stdin stays open and is fed through session_input rows
  -- (the `stdin` column, if any, is written first).
  add column interactive boolean not null default false,
  add constraint backend_execution_sessions_args_bounds check (
    cardinality(args) <= 128 and octet_length(array_to_string(args, '')) <= 65536
  ),
  add constraint backend_execution_sessions_files_bounds check (
    files is null or (jsonb_typeof(files) = 'array' and jsonb_array_length(files) <= 64
                      and octet_length(files::text) <= 4194304)
  );

grant insert (args, files, interactive) on public.backend_execution_sessions to authenticated;

-- ---------------------------------------------------------------------------
-- Log rows: did the line end with a newline? (false for a last line without
-- one, and for the pieces of a split long line) -- so that clients can rebuild
-- the exact output text.
-- ---------------------------------------------------------------------------
alter table public.execution_logs add column newline boolean not null default true;

-- ---------------------------------------------------------------------------
-- Input to interactive sessions: stdin text, end of input, signals.
-- ---------------------------------------------------------------------------
create table public.session_input (
  id bigint generated always as identity primary key,
  session_id uuid not null references public.backend_execution_sessions (id) on delete cascade,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  kind text not null,
  data text,
  created_at timestamptz not null default now(),
  constraint session_input_kind_check check (kind in ('stdin', 'eof', 'signal')),
  constraint session_input_data_check check (
    (kind = 'stdin' and data is not null and octet_length(data) <= 1048576)
    or (kind = 'eof' and data is null)
    or (kind = 'signal' and data in ('SIGKILL', 'SIGTERM', 'SIGINT', 'SIGQUIT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'))
  )
);

create index session_input_session_idx on public.session_input (session_id, id);

alter table public.session_input enable row level security;
revoke all on public.session_input from anon, authenticated;
grant select, insert (session_id, user_id, kind, data) on public.session_input to authenticated;
grant all on public.session_input to service_role;

create policy "owners read their input"
  on public.session_input for select to authenticated
  using (user_id = (select auth.uid()));

create policy "owners feed their unfinished interactive sessions"
  on public.session_input for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and exists (
      select 1 from public.backend_execution_sessions s
      where s.id = session_id and s.user_id = (select auth.uid())
        and s.interactive and s.status in ('pending', 'running')
    )
  );

create trigger execbox_input_inserted
  after insert on public.session_input
  referencing new table as new_rows
  for each statement
  execute function public.execbox_notify_session_rows('execbox_input');

-- ---------------------------------------------------------------------------
-- Workers: who is alive and whether its Docker engine answers (for /health
-- on API-only nodes, and for operators). Service side only.
-- ---------------------------------------------------------------------------
create table public.execbox_workers (
  id text primary key,
  hostname text not null,
  version text not null,
  started_at timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  docker_ok boolean not null,
  running integer not null default 0,
  max_runs integer not null
);

alter table public.execbox_workers enable row level security;
revoke all on public.execbox_workers from anon, authenticated;
grant all on public.execbox_workers to service_role;

-- Recent sessions by time (metrics, dashboards).
create index backend_execution_sessions_created_idx on public.backend_execution_sessions (created_at);
