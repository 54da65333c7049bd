-- Test cases (`mode = 'cases'`): the code is compiled once, then run once
-- per case as a fresh process in the same sandbox (its /work restored to the
-- compiled state between cases), each case with its own stdin, arguments and
-- limits, its output judged by a checker. The per-case verdicts go to
-- `result`; log rows say which case printed them.

alter table public.backend_execution_sessions
  -- [{name?, stdin?, expected_output?, args?, timeout_ms?, cpu_time_limit_ms?, memory_limit_mb?}]
  add column cases jsonb,
  -- How a case's stdout is compared with its expected_output: exact, lines
  -- (the default), tokens, float, or program (checker_code in
  -- checker_language, run in a sandbox of its own).
  add column checker text,
  add column checker_code text,
  add column checker_language text,
  add column checker_abs_tolerance double precision,
  add column checker_rel_tolerance double precision,
  add column stop_on_failure boolean not null default false,
  drop constraint backend_execution_sessions_mode_check,
  add constraint backend_execution_sessions_mode_check check (mode in ('run', 'validate', 'benchmark', 'cases')),
  drop constraint backend_execution_sessions_tests_required,
  add constraint backend_execution_sessions_tests_required check (mode not in ('validate', 'benchmark') or tests is not null),
  add constraint backend_execution_sessions_cases_required check (mode <> 'cases' or cases is not null),
  add constraint backend_execution_sessions_cases_shape check (cases is null or jsonb_typeof(cases) = 'array'),
  add constraint backend_execution_sessions_cases_size check (octet_length(cases::text) <= 33554432),
  add constraint backend_execution_sessions_checker_check check (
    checker in ('exact', 'lines', 'tokens', 'float', 'program')
  ),
  add constraint backend_execution_sessions_checker_program check (
    checker is distinct from 'program' or (checker_code is not null and checker_language is not null)
  ),
  add constraint backend_execution_sessions_checker_code_size check (octet_length(checker_code) <= 1048576),
  add constraint backend_execution_sessions_checker_language_length check (char_length(checker_language) <= 64),
  add constraint backend_execution_sessions_tolerances check (
    checker_abs_tolerance >= 0 and checker_rel_tolerance >= 0
  );

grant insert (cases, checker, checker_code, checker_language, checker_abs_tolerance, checker_rel_tolerance,
              stop_on_failure)
  on public.backend_execution_sessions to authenticated;

comment on column public.backend_execution_sessions.mode is
  'run: the program; validate: its tests; benchmark: validate, then time the tests; cases: compile once, run each of cases and judge it.';
comment on column public.backend_execution_sessions.cases is
  'mode cases: [{name?, stdin?, expected_output?, args?, timeout_ms?, cpu_time_limit_ms?, memory_limit_mb?}]; a case''s limits default to the session''s.';
comment on column public.backend_execution_sessions.checker is
  'mode cases: exact, lines (default: trailing whitespace of lines and trailing blank lines ignored), tokens, float, or program.';
comment on column public.backend_execution_sessions.checker_code is
  'checker program: run after each case with the files input, output (the program''s stdout) and answer (expected_output) named as its arguments; exit 0 accepts, 1 or 2 rejects, its first stdout line is the case''s message.';
comment on column public.backend_execution_sessions.checker_language is
  'The checker program''s language (any supported one).';
comment on column public.backend_execution_sessions.checker_abs_tolerance is
  'checker float: numbers are equal within this absolute difference (default 1e-6)...';
comment on column public.backend_execution_sessions.checker_rel_tolerance is
  '...or within this fraction of the expected number (default 1e-6).';
comment on column public.backend_execution_sessions.stop_on_failure is
  'mode cases: skip the remaining cases after the first that is not accepted.';
comment on column public.backend_execution_sessions.result is
  'Written by the worker. validate/benchmark: counts, per-test results, timing statistics. cases: {verdict, passed, total, cases: [{name, status, exitCode, signal, timeMs, wallMs, memoryKb, stdout, stderr, message}]}.';

alter table public.backend_execution_sessions
  drop constraint backend_execution_sessions_end_reason_check,
  add constraint backend_execution_sessions_end_reason_check check (
    end_reason in (
      'exit', 'signal', 'timeout', 'cpu_time', 'output_limit', 'memory_limit', 'compile_error', 'compile_timeout',
      'compile_memory_limit', 'cancelled', 'invalid_request', 'image_missing', 'infrastructure', 'worker_lost',
      'shutdown', 'checker_failed'
    )
  );

comment on column public.backend_execution_sessions.end_reason is
  'Why the session reached its terminal status: exit, signal, timeout, cpu_time, output_limit, memory_limit, '
  'compile_error, compile_timeout, compile_memory_limit, cancelled, invalid_request, image_missing, infrastructure, '
  'worker_lost, shutdown, checker_failed. Null until then.';

alter table public.execution_logs
  add column case_index integer,
  add constraint execution_logs_case_index_check check (case_index >= 0);

comment on column public.execution_logs.case_index is
  'mode cases: which case (its index in cases, from 0) printed the line; null for the compile stage and other modes.';

-- Broadcasts carry the case too.
create or replace function public.execbox_broadcast_logs() returns trigger
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
