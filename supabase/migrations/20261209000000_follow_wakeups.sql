-- Followers of a session (a request waiting for its container, a socket
-- showing it start) are woken when a worker claims it and when the worker
-- records its container, on a channel of their own, as they already are by
-- its log rows (execbox_logs) and its end (execbox_done).

create trigger execbox_session_claimed
  after update of status on public.backend_execution_sessions
  for each row
  when (old.status = 'pending' and new.status = 'running')
  execute function public.execbox_notify_id('execbox_started');

create trigger execbox_container_recorded
  after insert on public.container_instances
  referencing new table as new_rows
  for each statement
  execute function public.execbox_notify_session_rows('execbox_started');
