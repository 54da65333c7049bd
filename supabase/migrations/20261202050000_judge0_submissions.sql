-- The Judge0 CE-compatible API (`/judge0`): each Judge0 submission is a
-- token naming its run(s) in a `cases` session. A lone submission is a
-- session of its own (its token is the session's id); a batch's submissions
-- that share their source and language share one session (compiled once),
-- each still with its own token and cases.

create table public.judge0_submissions (
  token uuid primary key default gen_random_uuid(),
  session_id uuid not null references public.backend_execution_sessions (id) on delete cascade,
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- The submission's first case in the session's cases, and how many runs
  -- (Judge0's number_of_runs) follow from there.
  first_case integer not null,
  runs integer not null default 1,
  language_id integer not null,
  redirect_stderr_to_stdout boolean not null default false,
  created_at timestamptz not null default now(),
  constraint judge0_submissions_first_case check (first_case >= 0),
  constraint judge0_submissions_runs check (runs between 1 and 100)
);

comment on table public.judge0_submissions is
  'Judge0 API submissions: each token names its runs (cases) in a cases session; the session holds the code, input and results.';
comment on column public.judge0_submissions.token is 'The submission''s Judge0 token (a lone submission''s is its session''s id).';
comment on column public.judge0_submissions.session_id is 'The cases session that runs it.';
comment on column public.judge0_submissions.user_id is 'The owner (the session''s).';
comment on column public.judge0_submissions.first_case is 'Index of its first run in the session''s cases.';
comment on column public.judge0_submissions.runs is 'Judge0''s number_of_runs: its runs are this many consecutive cases.';
comment on column public.judge0_submissions.language_id is 'The Judge0 language id it was submitted with.';
comment on column public.judge0_submissions.redirect_stderr_to_stdout is 'Judge0''s redirect_stderr_to_stdout.';
comment on column public.judge0_submissions.created_at is 'When it was submitted.';

create index judge0_submissions_session_idx on public.judge0_submissions (session_id);

alter table public.judge0_submissions enable row level security;
revoke all on public.judge0_submissions from anon, authenticated;
grant select, insert on public.judge0_submissions to authenticated;
grant all on public.judge0_submissions to service_role;

create policy "owners see their submissions"
  on public.judge0_submissions for select to authenticated
  using (user_id = (select auth.uid()));

create policy "owners submit to their own sessions"
  on public.judge0_submissions for insert to authenticated
  with check (
    user_id = (select auth.uid())
    and exists (
      select 1 from public.backend_execution_sessions s
      where s.id = session_id and s.user_id = (select auth.uid())
    )
  );
