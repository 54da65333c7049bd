-- The last function of execbox's that the Data API exposed to anon:
-- `public.execbox_topic_session(text)` (a topic's session id), reachable
-- as `/rest/v1/rpc/execbox_topic_session`. Harmless (it parses a string),
-- but only `execbox_private.may_receive` calls it, as its owner: it moves
-- to the schema the Data API does not expose, executable by nobody else.

create function execbox_private.topic_session(topic text) returns uuid
language sql immutable
set search_path = ''
as $$
  select case when topic ~ '^session:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
              then substring(topic from 9)::uuid end
$$;
comment on function execbox_private.topic_session(text) is
  'The session id a Realtime topic names (session:<uuid>), or null: never an error inside a policy.';

create or replace function execbox_private.may_receive(topic text) returns boolean
language sql stable
security definer
set search_path = ''
as $$
  select coalesce(
    (select s.user_id = auth.uid()
     from public.backend_execution_sessions s
     where s.id = execbox_private.topic_session(topic)),
    execbox_private.topic_session(topic) is not null and auth.uid() is not null
  )
$$;

drop function public.execbox_topic_session(text);

revoke all on function execbox_private.topic_session(text) from public, anon, authenticated, service_role;
