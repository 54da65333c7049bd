-- A session has an end reason exactly when its status is terminal: no
-- writer (the worker's finish, the rescue of a lost worker's lease, the
-- cancel of a pending session) can end one without saying why, nor leave a
-- reason on a session that is still pending or running.

-- Rows no writer should have left: the closest reason their status allows.
update public.backend_execution_sessions
set end_reason = case status
  when 'completed' then 'exit'
  when 'failed' then 'exit'
  when 'timeout' then 'timeout'
  when 'cancelled' then 'cancelled'
  else 'infrastructure'
end
where status not in ('pending', 'running') and end_reason is null;

update public.backend_execution_sessions
set end_reason = null
where status in ('pending', 'running') and end_reason is not null;

alter table public.backend_execution_sessions
  add constraint backend_execution_sessions_end_reason_when_done check (
    (status in ('pending', 'running')) = (end_reason is null)
  );
