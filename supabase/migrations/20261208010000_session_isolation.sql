-- The wall each session's sandbox was built in: `runc` (a hardened
-- container on the host's kernel) or `gvisor` (the same inside gVisor's
-- kernel), as the worker recorded it in `usage`; null when no sandbox was
-- built (a refused request). A column of its own, for the dashboard and
-- for queries, always equal to what `usage` says.

alter table public.backend_execution_sessions
  add column isolation text generated always as (usage ->> 'isolation') stored
  constraint backend_execution_sessions_isolation_check check (isolation in ('runc', 'gvisor'));

comment on column public.backend_execution_sessions.isolation is
  'The wall the session''s sandbox was built in: runc or gvisor (null: none was built). From usage.isolation.';

create or replace view public.session_overview
with (security_invoker = true)
as
select
  s.id,
  s.user_id,
  s.session_name,
  s.language,
  s.mode,
  s.status,
  s.end_reason,
  s.exit_code,
  s.error,
  s.created_at,
  s.started_at,
  s.finished_at,
  round(extract(epoch from (s.finished_at - s.started_at)) * 1000)::bigint as duration_ms,
  (s.usage -> 'run' ->> 'cpuMs')::float8 as cpu_ms,
  (s.usage -> 'run' ->> 'memoryKb')::bigint as memory_kb,
  (select count(*) from public.execution_logs l where l.session_id = s.id) as output_rows,
  s.claimed_by as worker_id,
  s.isolation
from public.backend_execution_sessions s;

comment on view public.session_overview is
  'One row per session: status, end reason, duration, output rows, CPU time and peak memory of the run, the wall it ran behind, owner. Shows what RLS lets the viewer see.';
