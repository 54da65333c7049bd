-- CPU-time limits, separate from the wall clock: the program's (and the
-- compiler's) user + system time, with everything it starts, enforced by
-- the sandbox's launcher. A program over its CPU time ends `timeout` with
-- end_reason `cpu_time`; a sleeping program is not stopped by it.

alter table public.backend_execution_sessions
  -- null = the server's default (by default: none, only the wall clock).
  add column cpu_time_limit_ms integer,
  add column compile_cpu_time_limit_ms integer,
  add constraint backend_execution_sessions_cpu_time_positive check (cpu_time_limit_ms > 0),
  add constraint backend_execution_sessions_compile_cpu_time_positive check (compile_cpu_time_limit_ms > 0);

grant insert (cpu_time_limit_ms, compile_cpu_time_limit_ms) on public.backend_execution_sessions to authenticated;

comment on column public.backend_execution_sessions.cpu_time_limit_ms is
  'CPU time (user + system, the program and everything it starts) of the run stage; null: the server''s default.';
comment on column public.backend_execution_sessions.compile_cpu_time_limit_ms is
  'CPU time of the compile stage; null: the server''s default.';

alter table public.backend_execution_sessions
  drop constraint backend_execution_sessions_end_reason_check,
  add constraint backend_execution_sessions_end_reason_check check (
    end_reason in (
      'exit', 'signal', 'timeout', 'cpu_time', 'output_limit', 'memory_limit', 'compile_error', 'compile_timeout',
      'compile_memory_limit', 'cancelled', 'invalid_request', 'image_missing', 'infrastructure', 'worker_lost',
      'shutdown'
    )
  );

comment on column public.backend_execution_sessions.end_reason is
  'Why the session reached its terminal status: exit, signal, timeout, cpu_time, output_limit, memory_limit, '
  'compile_error, compile_timeout, compile_memory_limit, cancelled, invalid_request, image_missing, infrastructure, '
  'worker_lost, shutdown. Null until then.';
