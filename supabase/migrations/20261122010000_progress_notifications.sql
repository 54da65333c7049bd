-- Wake-ups for followers of a session (the CLI, the HTTP API's WebSockets):
-- a NOTIFY per batch of log rows and one when a session ends, so any process
-- connected to the database can stream a session run by any worker.
-- Payloads are only the session id: NOTIFY is a hint, the tables are the truth.

-- NOTIFY each distinct session_id of the statement's new rows on the channel
-- named by the trigger's argument: one NOTIFY per INSERT batch, not per row.
create function public.execbox_notify_session_rows() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  perform pg_notify(tg_argv[0], s.session_id::text)
  from (select distinct session_id from new_rows) s;
  return null;
end
$$;

create trigger execbox_logs_inserted
  after insert on public.execution_logs
  referencing new table as new_rows
  for each statement
  execute function public.execbox_notify_session_rows('execbox_logs');

create trigger execbox_session_ended
  after update of status on public.backend_execution_sessions
  for each row
  when (old.status in ('pending', 'running') and new.status not in ('pending', 'running'))
  execute function public.execbox_notify_id('execbox_done');
