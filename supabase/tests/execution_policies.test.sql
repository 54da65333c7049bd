-- pgTAP: row-level security of execbox's tables (run by `supabase test db`).
begin;
select plan(16);

select ok(relrowsecurity, relname || ' has row-level security enabled')
from pg_class
where oid in ('public.backend_execution_sessions'::regclass, 'public.execution_logs'::regclass, 'public.container_instances'::regclass)
order by relname;

select policies_are('public', 'backend_execution_sessions', array[
  'owners read their sessions',
  'users create pending sessions for themselves',
  'owners request a cancel of unfinished sessions',
  'execbox workers run every session',
  'execbox API nodes read every session'
]);
select policies_are('public', 'execution_logs', array[
  'owners read their logs', 'execbox workers write every session''s logs', 'execbox API nodes read every session''s logs'
]);
select policies_are('public', 'container_instances', array[
  'owners read their containers', 'execbox workers keep every container', 'execbox API nodes read every container'
]);

select table_privs_are('public', 'backend_execution_sessions', 'anon', array[]::text[], 'anon has no access to sessions');
select table_privs_are('public', 'execution_logs', 'anon', array[]::text[], 'anon has no access to logs');
select table_privs_are('public', 'execution_logs', 'authenticated', array['SELECT'], 'users only read logs');

-- Two users and a session of the first, made as the service would.
insert into auth.users (id) values
  ('00000000-0000-0000-0000-00000000000a'), ('00000000-0000-0000-0000-00000000000b');

-- As user A (what PostgREST does for A's request).
set local role authenticated;
select set_config('request.jwt.claims', '{"sub":"00000000-0000-0000-0000-00000000000a","role":"authenticated"}', true);

select lives_ok(
  $$insert into public.backend_execution_sessions (language, code) values ('python', 'print(1)')$$,
  'a user inserts a session for themself'
);
select is((select user_id from public.backend_execution_sessions), '00000000-0000-0000-0000-00000000000a'::uuid,
  'user_id defaults to auth.uid()');
select is((select status from public.backend_execution_sessions), 'pending', 'a new session is pending');
select throws_ok(
  $$insert into public.backend_execution_sessions (user_id, language, code)
    values ('00000000-0000-0000-0000-00000000000b', 'python', 'x')$$,
  '42501', null, 'not for another user'
);
select throws_ok(
  $$update public.backend_execution_sessions set status = 'completed'$$,
  '42501', null, 'status is the worker''s'
);

-- As user B.
select set_config('request.jwt.claims', '{"sub":"00000000-0000-0000-0000-00000000000b","role":"authenticated"}', true);
select is((select count(*) from public.backend_execution_sessions), 0::bigint, 'B does not see A''s session');
select is_empty(
  $$update public.backend_execution_sessions set cancel_requested_at = now() returning id$$,
  'B cannot cancel A''s session'
);

select * from finish();
rollback;
