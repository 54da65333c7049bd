-- execbox_admit decides one caller's concurrent requests one after another:
-- it locks the caller's bucket row before it counts the caller's sessions,
-- and the API calls it in the transaction that inserts the session, so the
-- lock is held until that session is committed. The next request of the
-- same caller, on any node, waits for the lock and then counts a fresh
-- snapshot (READ COMMITTED: each statement sees what committed before it),
-- which includes the session just inserted. Before, two requests could
-- both count the same sessions and both be admitted past the limit.

create or replace function public.execbox_admit(
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
  v_now timestamptz;
  v_rate double precision := p_per_minute / 60;
  v_tokens double precision;
  v_at timestamptz;
begin
  insert into public.execbox_rate_buckets (key, tokens, updated_at)
  values (p_key, p_per_minute, clock_timestamp())
  on conflict (key) do nothing;
  select b.tokens, b.updated_at into v_tokens, v_at
    from public.execbox_rate_buckets b
   where b.key = p_key
     for update;
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
  -- After the wait for the lock: the refill counts up to now.
  v_now := clock_timestamp();
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
comment on function public.execbox_admit(text, double precision, uuid, text, bigint) is
  'execbox API limits: call it in the transaction that inserts the session; it locks the caller''s bucket until then.';
