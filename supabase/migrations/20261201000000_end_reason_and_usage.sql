-- Why a session ended, in a word a program can branch on, and what the
-- kernel measured of its stages.

alter table public.backend_execution_sessions
  -- Set with every terminal status (see the README's status table); `error`
  -- stays the human sentence. Null while pending or running.
  add column end_reason text,
  -- {"compile": {cpuMs, wallMs, memoryKb}, "run": {...}} for the stages that
  -- ran to their end.
  add column usage jsonb,
  add constraint backend_execution_sessions_end_reason_check check (
    end_reason in (
      'exit', 'signal', 'timeout', 'output_limit', 'memory_limit', 'compile_error', 'compile_timeout',
      'compile_memory_limit', 'cancelled', 'invalid_request', 'image_missing', 'infrastructure', 'worker_lost',
      'shutdown'
    )
  );

comment on column public.backend_execution_sessions.end_reason is
  'Why the session reached its terminal status: exit, signal, timeout, output_limit, memory_limit, compile_error, '
  'compile_timeout, compile_memory_limit, cancelled, invalid_request, image_missing, infrastructure, worker_lost, '
  'shutdown. Null until then.';
comment on column public.backend_execution_sessions.usage is
  'CPU time, wall time and peak memory per stage, as the kernel measured them: {compile?: {cpuMs, wallMs, memoryKb}, run?: {...}}.';

-- Sessions that ended before this migration: the closest reason their
-- status allows.
update public.backend_execution_sessions
set end_reason = case status
  when 'completed' then 'exit'
  when 'timeout' then 'timeout'
  when 'cancelled' then 'cancelled'
  when 'error' then 'infrastructure'
  else 'exit'
end
where status not in ('pending', 'running') and end_reason is null;

-- A cancel of a still-pending session ends it on the spot: with its reason.
create or replace function public.execbox_cancel_request() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if old.cancel_requested_at is not null then
    new.cancel_requested_at := old.cancel_requested_at;
  elsif new.cancel_requested_at is not null then
    new.cancel_requested_at := now();
    if old.status = 'pending' then
      new.status := 'cancelled';
      new.end_reason := 'cancelled';
      new.error := 'cancelled by the owner before it started';
      new.finished_at := now();
    end if;
  end if;
  return new;
end
$$;
