-- Broadcast from Database: a session's output and status changes are sent on
-- the private Realtime topic `session:<id>`, in batches, readable by the
-- session's owner only. Postgres Changes on the tables stay available for
-- small deployments (see the README for which to pick).
--
-- The functions run as their owner (`security definer`): Realtime's `send`
-- runs as its caller, and a caller that may not insert into
-- realtime.messages only gets a warning (nothing is sent). The worker's
-- writes would do, but the owner's make the path independent of who writes.
-- Without a `realtime` schema (plain PostgreSQL) nothing is broadcast and
-- nothing fails.

-- ---------------------------------------------------------------------------
-- Output: one message per chunk of a log batch
-- ---------------------------------------------------------------------------

-- The log writer inserts a batch in one statement: its rows are cut into
-- chunks of at most 1,000 lines and about 200 KB of text (below the 256 KB
-- broadcast payload limit of Supabase's Free plan), each sent as one `logs`
-- event `{"lines": [{seq, stream, stage, message, newline}, ...]}` in `seq`
-- order.
create function public.execbox_broadcast_logs() returns trigger
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
             order by seq
           ) as lines
    from (
      select r.session_id, r.seq, r.stream, r.stage, r.message, r.newline,
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

comment on function public.execbox_broadcast_logs() is
  'Broadcasts each batch of new execution_logs rows on the private topic session:<id>, in chunks below the payload limit.';

create trigger execbox_logs_broadcast
  after insert on public.execution_logs
  referencing new table as new_rows
  for each statement
  execute function public.execbox_broadcast_logs();

-- ---------------------------------------------------------------------------
-- Status: one message per status change
-- ---------------------------------------------------------------------------
create function public.execbox_broadcast_status() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  if to_regprocedure('realtime.send(jsonb, text, text, boolean)') is null then
    return null;
  end if;
  perform realtime.send(
    jsonb_build_object(
      'status', new.status,
      'exit_code', new.exit_code,
      'end_reason', new.end_reason,
      'error', new.error,
      'usage', new.usage
    ),
    'status',
    'session:' || new.id::text,
    true
  );
  return null;
end
$$;

comment on function public.execbox_broadcast_status() is
  'Broadcasts a session''s status changes (running, then its terminal status with exit code, end reason and error) on session:<id>.';

create trigger execbox_session_status_broadcast
  after update of status on public.backend_execution_sessions
  for each row
  when (old.status is distinct from new.status)
  execute function public.execbox_broadcast_status();

-- ---------------------------------------------------------------------------
-- Who may receive and send on session topics (Realtime checks these policies
-- when a client joins a private channel)
-- ---------------------------------------------------------------------------

-- The session id a topic names, or null (a topic of another shape, or not a
-- uuid): never an error inside a policy.
create function public.execbox_topic_session(topic text) returns uuid
language sql immutable
set search_path = ''
as $$
  select case when topic ~ '^session:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then substring(topic from 9)::uuid end
$$;

-- Whether the calling user may receive on `topic`: the user's own session,
-- or a session id nobody has used yet (so a client can join its channel
-- before it inserts the session, and miss nothing). A `security definer`
-- lookup: under the caller's RLS another user's session would look
-- unused. Session ids are random 128-bit uuids chosen by their owner's
-- client, so nobody joins another user's session unless they learn its id
-- before it exists.
create function public.execbox_may_receive(topic text) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select s.user_id = auth.uid()
     from public.backend_execution_sessions s
     where s.id = public.execbox_topic_session(topic)),
    public.execbox_topic_session(topic) is not null and auth.uid() is not null
  )
$$;

revoke all on function public.execbox_may_receive(text) from public;
grant execute on function public.execbox_topic_session(text) to anon, authenticated, service_role;
grant execute on function public.execbox_may_receive(text) to authenticated;

do $$
begin
  if to_regclass('realtime.messages') is null then
    raise notice 'no realtime schema: session broadcasts are off';
    return;
  end if;
  -- Owners receive their sessions' broadcasts; the check is one primary-key
  -- lookup, evaluated once per statement.
  execute $policy$
    create policy "execbox: owners receive their sessions' broadcasts"
      on realtime.messages for select to authenticated
      using (
        realtime.messages.extension = 'broadcast'
        and realtime.messages.topic = (select realtime.topic())
        and (select public.execbox_may_receive(realtime.topic()))
      )
  $policy$;
  -- Nobody but execbox (the service side, which bypasses RLS) sends on a
  -- session topic, whatever other policies a project adds.
  execute $policy$
    create policy "execbox: only the service sends on session topics"
      on realtime.messages as restrictive for insert to anon, authenticated
      with check (realtime.messages.topic not like 'session:%')
  $policy$;
end
$$;
