-- Validation of a solution against a test suite (seed 004).

alter table public.backend_execution_sessions
  -- run: the program; validate: the language's test framework runs `tests`
  -- against `code`, and the worker records the per-test results in `result`.
  add column mode text not null default 'run',
  add column tests text,
  add column result jsonb,
  add constraint backend_execution_sessions_mode_check check (mode in ('run', 'validate')),
  add constraint backend_execution_sessions_tests_required check (mode = 'run' or tests is not null),
  add constraint backend_execution_sessions_tests_size check (octet_length(tests) <= 1048576);

grant insert (mode, tests) on public.backend_execution_sessions to authenticated;
