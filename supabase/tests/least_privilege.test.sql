-- pgTAP: what execbox's roles may do, and what Supabase's advisor checks of
-- its functions (run by `supabase test db`).
begin;
select plan(17);

-- Splinter's lints 0028 and 0029 (the dashboard's; the pinned CLI lacks
-- them): a SECURITY DEFINER function in a schema the Data API exposes is
-- reachable as /rest/v1/rpc/<name>. None may be executable by anon, nor by
-- authenticated (none is listed in the README as needing it).
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where p.prosecdef and n.nspname in ('public', 'graphql_public')
      and has_function_privilege('anon', p.oid, 'execute')$$,
  'no SECURITY DEFINER function the Data API exposes is executable by anon'
);
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where p.prosecdef and n.nspname in ('public', 'graphql_public')
      and has_function_privilege('authenticated', p.oid, 'execute')$$,
  'no SECURITY DEFINER function the Data API exposes is executable by authenticated'
);
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'execbox_private') and p.prorettype = 'trigger'::regtype
      and (has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute')
           or has_function_privilege('execbox_api', p.oid, 'execute'))$$,
  'trigger functions are executable by nobody'
);
select is_empty(
  $$select p.oid::regprocedure::text from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname in ('public', 'execbox_private') and p.prosecdef
      and not exists (select 1 from unnest(p.proconfig) c where c like 'search_path=%')$$,
  'every SECURITY DEFINER function pins its search_path'
);
select ok(not has_schema_privilege('anon', 'execbox_private', 'usage'), 'anon cannot reach execbox_private');

-- The roles: no login, no superuser, no bypass of RLS.
select is(
  (select count(*) from pg_roles where rolname in ('execbox_worker', 'execbox_api')
     and not rolcanlogin and not rolsuper and not rolbypassrls and not rolcreaterole and not rolcreatedb),
  2::bigint, 'execbox_worker and execbox_api are plain NOLOGIN roles'
);
select ok(pg_has_role('execbox_api', 'authenticated', 'member'), 'an API node may act as a user');
select ok(not pg_has_role('execbox_worker', 'authenticated', 'member'), 'a worker never acts as a user');
select ok(not has_table_privilege('execbox_worker', 'auth.users', 'select'), 'a worker cannot read auth.users');
select ok(not has_table_privilege('execbox_api', 'auth.users', 'insert'), 'an API node cannot write auth.users');
select ok(not has_table_privilege('execbox_worker', 'public.execbox_api_keys', 'select'), 'a worker cannot read keys');
select ok(
  not has_column_privilege('execbox_worker', 'public.backend_execution_sessions', 'code', 'update'),
  'a worker cannot change the code it runs'
);

-- As a worker: it claims and reads; it cannot delete, drop or read users.
-- (pgTAP's functions live in `extensions`: this transaction lets the
-- roles reach them, and is rolled back.)
grant usage on schema extensions to execbox_worker, execbox_api;
set local role execbox_worker;
select lives_ok($$select count(*) from public.backend_execution_sessions$$, 'a worker reads sessions');
select throws_ok($$delete from public.backend_execution_sessions$$, '42501', null, 'a worker deletes no session');
select throws_ok($$drop table public.execution_logs$$, '42501', null, 'a worker drops no table');
select throws_ok($$select * from auth.users$$, '42501', null, 'a worker reads no user');
reset role;

-- As an API node: keys' hashes, but never the sessions' rows to change.
set local role execbox_api;
select throws_ok(
  $$update public.backend_execution_sessions set status = 'completed'$$, '42501', null,
  'an API node changes no session outside a user''s transaction'
);
reset role;

select * from finish();
rollback;
