-- Compiled languages: the compile stage has its own limits, and log rows say
-- which stage printed them.

alter table public.backend_execution_sessions
  -- null = the server's default; above the server's maximum is refused.
  add column compile_timeout_ms integer,
  add column compile_memory_limit_mb integer,
  add constraint backend_execution_sessions_compile_timeout_positive check (compile_timeout_ms > 0),
  add constraint backend_execution_sessions_compile_memory_positive check (compile_memory_limit_mb > 0);

grant insert (compile_timeout_ms, compile_memory_limit_mb) on public.backend_execution_sessions to authenticated;

alter table public.execution_logs
  add column stage text not null default 'run',
  add constraint execution_logs_stage_check check (stage in ('compile', 'run'));
