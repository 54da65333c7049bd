-- What the dashboard's table editor shows: every execbox table and column
-- says what it is, and one view summarizes sessions.

-- ---------------------------------------------------------------------------
-- backend_execution_sessions
-- ---------------------------------------------------------------------------
comment on column public.backend_execution_sessions.id is 'The session; clients may choose it (to subscribe before inserting).';
comment on column public.backend_execution_sessions.user_id is 'The owner: auth.uid() of the inserting user (RLS).';
comment on column public.backend_execution_sessions.room_id is 'Free for the client: a room or workspace the session belongs to.';
comment on column public.backend_execution_sessions.session_name is 'Free for the client: a label (at most 200 characters).';
comment on column public.backend_execution_sessions.language is 'A language or alias of the runtime table (python, node, cpp, ...).';
comment on column public.backend_execution_sessions.code is 'The program (the main file), at most 1 MiB.';
comment on column public.backend_execution_sessions.stdin is 'The program''s standard input, at most 1 MiB; then end of input (unless interactive).';
comment on column public.backend_execution_sessions.timeout_ms is 'Wall-clock limit of the run stage; null: the server''s default. Above the server''s maximum: refused.';
comment on column public.backend_execution_sessions.memory_limit_mb is 'Memory limit of the run stage; null: the server''s default.';
comment on column public.backend_execution_sessions.status is 'pending, running, completed, failed, timeout, cancelled or error (see end_reason).';
comment on column public.backend_execution_sessions.exit_code is 'The program''s exit code, or 128 + the signal that killed it (end_reason says which).';
comment on column public.backend_execution_sessions.error is 'Why the session did not complete, in one sentence (also its last system log row).';
comment on column public.backend_execution_sessions.cancel_requested_at is 'Set by the owner to cancel; stamped by the database, cannot be withdrawn.';
comment on column public.backend_execution_sessions.created_at is 'When the session was inserted (database clock).';
comment on column public.backend_execution_sessions.started_at is 'When a worker claimed it.';
comment on column public.backend_execution_sessions.finished_at is 'When it reached its terminal status.';
comment on column public.backend_execution_sessions.claimed_by is 'The worker that claimed it (its id).';
comment on column public.backend_execution_sessions.lease_expires_at is 'The claim''s lease; a worker that stops renewing it loses the session (worker_lost).';
comment on column public.backend_execution_sessions.args is 'Program arguments (at most 128).';
comment on column public.backend_execution_sessions.files is 'Extra files beside code: [{"name", "content", "encoding": "utf8"|"base64"|"hex"}].';
comment on column public.backend_execution_sessions.interactive is 'Stdin stays open and is fed through session_input rows.';
comment on column public.backend_execution_sessions.compile_timeout_ms is 'Wall-clock limit of the compile stage; null: the server''s default.';
comment on column public.backend_execution_sessions.compile_memory_limit_mb is 'Memory limit of the compile stage; null: the server''s default.';
comment on column public.backend_execution_sessions.mode is 'run (the program), validate (tests against code) or benchmark (validate, then time the tests).';
comment on column public.backend_execution_sessions.tests is 'The tests, for validate and benchmark.';
comment on column public.backend_execution_sessions.runs is 'Benchmark: timed runs; null: the server''s default.';
comment on column public.backend_execution_sessions.result is 'Validation and benchmark results: counts, per-test results, timing statistics.';

-- ---------------------------------------------------------------------------
-- execution_logs
-- ---------------------------------------------------------------------------
comment on table public.execution_logs is
  'A session''s output, a row per line, written by its worker in batches; also broadcast on session:<id> (Realtime).';
comment on column public.execution_logs.id is 'Row identity.';
comment on column public.execution_logs.session_id is 'The session that printed the line.';
comment on column public.execution_logs.user_id is 'The session''s owner, copied so that RLS is a column comparison.';
comment on column public.execution_logs.seq is 'The line''s number within its session: 1, 2, ... without gaps.';
comment on column public.execution_logs.stream is 'stdout, stderr, or system (execbox''s own notes).';
comment on column public.execution_logs.level is 'info (stdout), error (stderr); system rows: info, warn or error.';
comment on column public.execution_logs.message is 'The line, without its newline; invalid UTF-8 and NUL become U+FFFD.';
comment on column public.execution_logs.created_at is 'When the row was written (database clock).';
comment on column public.execution_logs.newline is 'The line ended with a newline (false for a last line without one and for pieces of a split long line).';
comment on column public.execution_logs.stage is 'compile or run: the stage that printed the line.';

-- ---------------------------------------------------------------------------
-- container_instances
-- ---------------------------------------------------------------------------
comment on table public.container_instances is
  'The containers that ran sessions (for the dashboard; ownership of real containers is carried by Docker labels).';
comment on column public.container_instances.id is 'Row identity.';
comment on column public.container_instances.session_id is 'The session the container ran.';
comment on column public.container_instances.attempt is 'The claim (attempt) it ran for.';
comment on column public.container_instances.worker_id is 'The worker that ran it.';
comment on column public.container_instances.container_id is 'Docker''s container id.';
comment on column public.container_instances.image is 'The runtime image.';
comment on column public.container_instances.status is 'creating, created, running, exited, removed or failed.';
comment on column public.container_instances.exit_code is 'The container''s exit code, once it ended.';
comment on column public.container_instances.oom_killed is 'The kernel''s OOM killer ended its program.';
comment on column public.container_instances.created_at is 'When the row was written.';
comment on column public.container_instances.started_at is 'When the container ran the session.';
comment on column public.container_instances.finished_at is 'When it ended.';
comment on column public.container_instances.removed_at is 'When it was removed.';

-- ---------------------------------------------------------------------------
-- session_input
-- ---------------------------------------------------------------------------
comment on table public.session_input is
  'Input to interactive sessions: stdin text, end of input, or a signal, in order; the owner inserts them.';
comment on column public.session_input.id is 'Order of the input.';
comment on column public.session_input.session_id is 'The interactive session.';
comment on column public.session_input.user_id is 'The owner (auth.uid()).';
comment on column public.session_input.kind is 'stdin, eof or signal.';
comment on column public.session_input.data is 'stdin: the text; signal: its name (SIGINT, SIGTERM, ...); eof: null.';
comment on column public.session_input.created_at is 'When it was inserted.';

-- ---------------------------------------------------------------------------
-- execbox_workers
-- ---------------------------------------------------------------------------
comment on table public.execbox_workers is
  'Workers'' presence, renewed with their heartbeat: who runs sessions, and whether their Docker engine answers.';
comment on column public.execbox_workers.id is 'The worker''s id (also in claimed_by).';
comment on column public.execbox_workers.hostname is 'The host it runs on.';
comment on column public.execbox_workers.version is 'execbox''s version.';
comment on column public.execbox_workers.started_at is 'When it started.';
comment on column public.execbox_workers.last_seen is 'Its last heartbeat.';
comment on column public.execbox_workers.docker_ok is 'Its Docker engine answered at the last heartbeat.';
comment on column public.execbox_workers.running is 'Sessions it runs now.';
comment on column public.execbox_workers.max_runs is 'Sessions it runs at most at once.';

-- ---------------------------------------------------------------------------
-- session_overview: one row per session for the table editor. A
-- security_invoker view: it shows each viewer what RLS lets them see.
-- ---------------------------------------------------------------------------
create view public.session_overview
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
  s.claimed_by as worker_id
from public.backend_execution_sessions s;

comment on view public.session_overview is
  'One row per session: status, end reason, duration, output rows, CPU time and peak memory of the run, owner. Shows what RLS lets the viewer see.';

grant select on public.session_overview to authenticated, service_role;
