-- Request limits that hold across every API node: a token bucket per key (a
-- user, or a client address in open Piston mode) and the count of sessions
-- pending or running, decided in one statement, `execbox_admit`.

create table public.execbox_rate_buckets (
  key text primary key,
  tokens double precision not null,
  updated_at timestamptz not null
);
comment on table public.execbox_rate_buckets is
  'execbox API rate limits: one token bucket per user (user:<id>) or client address (ip:<addr>).';
alter table public.execbox_rate_buckets enable row level security;
revoke all on public.execbox_rate_buckets from anon, authenticated;

-- The client address that created each session of open Piston mode's
-- anonymous user, so that address's sessions at once can be counted.
create table public.execbox_session_clients (
  session_id uuid primary key references public.backend_execution_sessions (id) on delete cascade,
  client text not null
);
create index execbox_session_clients_client on public.execbox_session_clients (client);
comment on table public.execbox_session_clients is
  'The client address behind each session of open Piston mode (execbox''s anonymous user).';
alter table public.execbox_session_clients enable row level security;
revoke all on public.execbox_session_clients from anon, authenticated;

-- Counts the caller's sessions pending or running (the user's, or with
-- p_client the sessions that address created); under p_max_active, takes a
-- token from p_key's bucket (p_per_minute tokens, refilled continuously).
-- Returns the count and, when no token was left, the seconds until one is
-- (0 when one was taken, or when the count alone refuses the request).
create function public.execbox_admit(
  p_key text,
  p_per_minute double precision,
  p_user uuid,
  p_client text,
  p_max_active bigint,
  out active bigint,
  out retry_after double precision
)
language plpgsql
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_rate double precision := p_per_minute / 60;
  v_tokens double precision;
  v_at timestamptz;
begin
  if p_client is null then
    select count(*) into active
      from public.backend_execution_sessions s
     where s.user_id = p_user and s.status in ('pending', 'running');
  else
    select count(*) into active
      from public.execbox_session_clients c
      join public.backend_execution_sessions s on s.id = c.session_id
     where c.client = p_client and s.status in ('pending', 'running');
  end if;
  retry_after := 0;
  -- Turned away for its sessions at once: the request spends no token.
  if active >= p_max_active then
    return;
  end if;
  insert into public.execbox_rate_buckets (key, tokens, updated_at)
  values (p_key, p_per_minute, v_now)
  on conflict (key) do nothing;
  select b.tokens, b.updated_at into v_tokens, v_at
    from public.execbox_rate_buckets b
   where b.key = p_key
     for update;
  v_tokens := least(p_per_minute, v_tokens + greatest(0, extract(epoch from v_now - v_at)) * v_rate);
  if v_tokens >= 1 then
    v_tokens := v_tokens - 1;
  else
    retry_after := (1 - v_tokens) / v_rate;
  end if;
  update public.execbox_rate_buckets b set tokens = v_tokens, updated_at = v_now where b.key = p_key;
  -- A bucket untouched for an hour is full again, the same as no row.
  if random() < 0.001 then
    delete from public.execbox_rate_buckets b where b.updated_at < v_now - interval '1 hour';
  end if;
end
$$;
revoke execute on function public.execbox_admit(text, double precision, uuid, text, bigint) from public, anon, authenticated;
