-- Validation of a solution against a test suite, and repeat-run benchmarks
-- (seed 004).

alter table public.backend_execution_sessions
  -- run: the program. validate: the language's test framework runs `tests`
  -- against `code`. benchmark: validate, then (only if every test passed)
  -- time the test suite `runs` times in one process.
  add column mode text not null default 'run',
  add column tests text,
  add column runs integer,
  -- Written by the worker: counts, per-test results, timing statistics.
  add column result jsonb,
  add constraint backend_execution_sessions_mode_check check (mode in ('run', 'validate', 'benchmark')),
  add constraint backend_execution_sessions_tests_required check (mode = 'run' or tests is not null),
  add constraint backend_execution_sessions_tests_size check (octet_length(tests) <= 1048576),
  add constraint backend_execution_sessions_runs_positive check (runs > 0);

grant insert (mode, tests, runs) on public.backend_execution_sessions to authenticated;
